package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;
import io.restassured.specification.RequestSpecification;

/**
 * The admin endpoints the dashboard reads instead of the engine's tables: rows behind per mapping for given
 * tenancies, and the tenancy search with config, pause, progress and dead-letter counts.
 */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class DashboardAdminApiTest {

    private static final String TOKEN = "Bearer test-admin-token";

    @InjectTestDatabase
    TestDatabase internal;

    StackAuthFixtures fixtures;

    @BeforeEach
    void fixtures() {
        fixtures = new StackAuthFixtures(internal);
    }

    private static RequestSpecification admin() {
        return given().header("Authorization", TOKEN);
    }

    private static String rowsBehindBody(List<UUID> tenancies, int cap) {
        return "{\"tenancyIds\": [" + String.join(", ", tenancies.stream().map(t -> "\"" + t + "\"").toList())
                + "], \"capPerTenancyAndMapping\": " + cap + "}";
    }

    private static JsonPath rowsBehind(List<UUID> tenancies, int cap) {
        return admin().contentType("application/json").body(rowsBehindBody(tenancies, cap))
                .post("/api/v1/admin/rows-behind").then().statusCode(200).extract().jsonPath();
    }

    private static long behind(JsonPath body, String mapping) {
        return body.getLong("perMapping.find { it.mapping == '" + mapping + "' }.rows");
    }

    @Test
    void bothEndpointsNeedTheAdminToken() {
        given().contentType("application/json").body(rowsBehindBody(List.of(), 10))
                .post("/api/v1/admin/rows-behind").then().statusCode(401);
        given().get("/api/v1/admin/tenancies?query=x").then().statusCode(401);
        given().header("Authorization", "Bearer wrong").get("/api/v1/admin/tenancies?query=x").then().statusCode(401);
    }

    @Test
    void rowsBehindCountsStampedRowsAboveTheLowestCursorOfTheGivenTenanciesOnly() {
        Tenancy behindTenancy = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("rows_behind");
        fixtures.configureTargets(behindTenancy, Map.of("main", target.postgresUrl()));
        Tenancy noTargets = fixtures.createTenancy();
        Tenancy notAsked = fixtures.createTenancy();
        fixtures.configureTargets(notAsked, Map.of("main", target.postgresUrl()));
        for (Tenancy t : List.of(behindTenancy, noTargets, notAsked)) {
            for (int i = 0; i < 3; i++) {
                fixtures.createUser(t, "user " + i, "u" + i + "-" + t.id() + "@example.com");
            }
        }
        stamp(internal);

        JsonPath before = rowsBehind(List.of(behindTenancy.id(), noTargets.id()), 100);
        assertThat(before.getInt("tenanciesSampled")).as("a tenancy without targets is not sampled").isEqualTo(1);
        assertThat(before.getInt("capPerTenancyAndMapping")).isEqualTo(100);
        assertThat(behind(before, "users")).isEqualTo(3);
        assertThat(behind(before, "contact_channels")).isEqualTo(3);
        assertThat(behind(before, "teams")).isZero();
        assertThat(before.getString("definition")).contains("1 given tenancies").contains("at most 100");
        assertThat(before.getList("perMapping")).hasSize(11);

        JsonPath capped = rowsBehind(List.of(behindTenancy.id()), 2);
        assertThat(behind(capped, "users")).isEqualTo(2);
        assertThat(capped.getBoolean("perMapping.find { it.mapping == 'users' }.capped")).isTrue();
        assertThat(capped.getBoolean("perMapping.find { it.mapping == 'teams' }.capped")).isFalse();

        sync(behindTenancy.id());
        JsonPath after = rowsBehind(List.of(behindTenancy.id()), 100);
        assertThat(behind(after, "users")).as("caught up").isZero();
        fixtures.createUser(behindTenancy, "late", "late@example.com");
        stamp(internal);
        assertThat(behind(rowsBehind(List.of(behindTenancy.id()), 100), "users")).isEqualTo(1);

        admin().contentType("application/json").put("/api/v1/admin/tenancies/" + behindTenancy.id() + "/pause")
                .then().statusCode(200);
        assertThat(rowsBehind(List.of(behindTenancy.id()), 100).getInt("tenanciesSampled"))
                .as("a paused tenancy is not sampled").isZero();
    }

    @Test
    void rowsBehindRefusesUnboundedRequests() {
        List<UUID> many = new ArrayList<>();
        for (int i = 0; i < 101; i++) {
            many.add(UUID.randomUUID());
        }
        admin().contentType("application/json").body(rowsBehindBody(many, 10)).post("/api/v1/admin/rows-behind")
                .then().statusCode(400).body("error", org.hamcrest.Matchers.containsString("at most 100"));
        admin().contentType("application/json").body(rowsBehindBody(List.of(UUID.randomUUID()), 10_001))
                .post("/api/v1/admin/rows-behind").then().statusCode(400)
                .body("error", org.hamcrest.Matchers.containsString("capPerTenancyAndMapping"));
        admin().contentType("application/json").body(rowsBehindBody(List.of(UUID.randomUUID()), 0))
                .post("/api/v1/admin/rows-behind").then().statusCode(400);
        assertThat(rowsBehind(List.of(UUID.randomUUID()), 10).getInt("tenanciesSampled"))
                .as("an unknown tenancy is skipped").isZero();
    }

    @Test
    void tenancySearchFindsByTenancyOrProjectWithRedactedTargetsProgressPauseAndDeadLetters() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("search");
        String url = target.postgresUrl();
        fixtures.setConfig(tenancy, """
                {"dbSync": {"externalDatabases": {
                    "main": {"type": "postgres", "connectionString": "%s"},
                    "broken": {"type": "postgres", "connectionString": "not a url"}}}}""".formatted(url));
        fixtures.createUser(tenancy, "Someone", "someone@example.com");
        stamp(internal);
        sync(tenancy.id());
        internal.update("""
                INSERT INTO "SyncEngineProgress" ("tenancyId", "targetId", "mappingName", "cursor", "rowsApplied",
                                                  "lastErrorAt", "lastError", "failingSince", "updatedAt")
                VALUES (?, 'gone', 'users', 5, 1, now(), 'postgresql://x:secret@h/db refused', now(), now())""",
                tenancy.id());
        internal.update("""
                INSERT INTO "SyncEnginePoisonRow" ("tenancyId", "targetId", "mappingName", "rowKey", "sequenceId",
                                                   "error")
                VALUES (?, 'main', 'users', '{"id": "a"}', 7, 'bad'), (?, 'main', 'teams', '{"id": "b"}', 8, 'bad')""",
                tenancy.id(), tenancy.id());
        admin().contentType("application/json").body("{\"reason\": \"look\"}")
                .put("/api/v1/admin/tenancies/" + tenancy.id() + "/pause").then().statusCode(200);

        JsonPath byId = admin().get("/api/v1/admin/tenancies?query=" + tenancy.id()).then().statusCode(200)
                .extract().jsonPath();
        assertThat(byId.getList("")).hasSize(1);
        assertThat(byId.getString("[0].tenancyId")).isEqualTo(tenancy.id().toString());
        assertThat(byId.getString("[0].projectId")).isEqualTo(tenancy.projectId());
        assertThat(byId.getBoolean("[0].paused")).isTrue();
        assertThat(byId.getString("[0].pauseReason")).isEqualTo("look");
        assertThat(byId.getList("[0].targets.targetId")).containsExactly("main", "broken", "gone");
        assertThat(byId.getBoolean("[0].targets[0].inConfig")).isTrue();
        assertThat(byId.getString("[0].targets[0].url")).isEqualTo(PostgresUrl.parse(url).redacted()).contains("***");
        assertThat(byId.getLong("[0].targets[0].poisonRows.value")).isEqualTo(2);
        assertThat(byId.getBoolean("[0].targets[0].poisonRows.capped")).isFalse();
        assertThat(byId.getList("[0].targets[0].mappings.mapping")).as("only the mappings with data have progress")
                .containsExactlyInAnyOrder("contact_channels", "users");
        assertThat(byId.getString("[0].targets[0].lastSuccessAt")).isNotNull();
        assertThat(byId.getString("[0].targets[1].configError")).isNotBlank();
        assertThat(byId.getBoolean("[0].targets[2].inConfig")).isFalse();
        assertThat(byId.getString("[0].targets[2].failingSince")).isNotNull();
        assertThat(byId.getString("[0].targets[2].lastError")).contains("refused").doesNotContain("secret");

        JsonPath byProject = admin().get("/api/v1/admin/tenancies?query=" + tenancy.projectId()).then()
                .statusCode(200).extract().jsonPath();
        assertThat(byProject.getList("tenancyId")).containsExactly(tenancy.id().toString());
        assertThat(admin().get("/api/v1/admin/tenancies?query=" + UUID.randomUUID()).then().statusCode(200)
                .extract().jsonPath().getList("")).isEmpty();
        assertThat(admin().get("/api/v1/admin/tenancies?query=").then().statusCode(200).extract().jsonPath()
                .getList("")).isEmpty();
    }
}
