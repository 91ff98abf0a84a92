package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.assertMirrors;
import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

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

/** The engine's admin API: pause/resume, resync of one target, dead letters, and the bearer token on all of it. */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class AdminApiTest {

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

    private record Setup(Tenancy tenancy, TestDatabase target) {
    }

    private Setup tenancyWithTarget(String prefix) {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase(prefix);
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        return new Setup(tenancy, target);
    }

    private long pendingRequests(UUID tenancy) {
        return internal.queryLong("SELECT count(*) FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy);
    }

    @Test
    void everyAdminEndpointNeedsTheToken() {
        UUID id = UUID.randomUUID();
        given().put("/api/v1/admin/tenancies/" + id + "/pause").then().statusCode(401);
        given().delete("/api/v1/admin/tenancies/" + id + "/pause").then().statusCode(401);
        given().post("/api/v1/admin/tenancies/" + id + "/targets/main/resync").then().statusCode(401);
        given().get("/api/v1/admin/dead-letters").then().statusCode(401);
        given().header("Authorization", "Bearer wrong").get("/api/v1/admin/dead-letters").then().statusCode(401);
        // With the token, an unknown tenancy is a 404, not a silent success.
        admin().put("/api/v1/admin/tenancies/" + id + "/pause").then().statusCode(404);
        admin().delete("/api/v1/admin/tenancies/" + id + "/pause").then().statusCode(404);
        admin().post("/api/v1/admin/tenancies/" + id + "/targets/main/resync").then().statusCode(404);
        admin().put("/api/v1/admin/tenancies/not-a-uuid/pause").then().statusCode(400);
    }

    @Test
    void aPausedTenancyWaitsWhileOthersFlowAndCatchesUpOnResume() {
        Setup paused = tenancyWithTarget("paused");
        Setup other = tenancyWithTarget("flowing");
        fixtures.createUser(paused.tenancy, "Before", "before@example.com");
        fixtures.createUser(other.tenancy, "Before", "before@example.com");
        stamp(internal);
        sync(paused.tenancy.id(), other.tenancy.id());

        admin().contentType("application/json").body("{\"reason\": \"maintenance\"}")
                .put("/api/v1/admin/tenancies/" + paused.tenancy.id() + "/pause")
                .then().statusCode(200);
        assertThat(internal.queryValue("SELECT \"reason\" FROM \"ExternalDbSyncTenancyPause\" WHERE \"tenancyId\" = ?",
                paused.tenancy.id())).isEqualTo("maintenance");

        fixtures.createUser(paused.tenancy, "During", "during@example.com");
        fixtures.createUser(other.tenancy, "During", "during@example.com");
        stamp(internal);
        JsonPath result = sync(paused.tenancy.id(), other.tenancy.id());

        assertThat(result.getString("results[0].outcome")).isEqualTo("PAUSED");
        assertThat(result.getBoolean("results[0].retry")).isFalse();
        assertThat(result.getList("results[0].targets")).isEmpty();
        assertThat(result.getString("results[1].outcome")).isEqualTo("SYNCED");
        assertThat(paused.target.queryLong("SELECT count(*) FROM users WHERE display_name = 'During'")).isZero();
        assertThat(other.target.queryLong("SELECT count(*) FROM users WHERE display_name = 'During'")).isEqualTo(1);

        internal.update("DELETE FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", paused.tenancy.id());
        admin().delete("/api/v1/admin/tenancies/" + paused.tenancy.id() + "/pause").then().statusCode(200)
                .body("wasPaused", org.hamcrest.Matchers.is(true));
        assertThat(pendingRequests(paused.tenancy.id())).as("resume enqueues the tenancy").isEqualTo(1);
        assertThat(internal.queryLong("SELECT count(*) FROM \"ExternalDbSyncTenancyPause\" WHERE \"tenancyId\" = ?",
                paused.tenancy.id())).isZero();

        // What the poller does with that request: a run, now with no new change at all.
        JsonPath caughtUp = sync(paused.tenancy.id());
        assertThat(caughtUp.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(paused.target.queryLong("SELECT count(*) FROM users WHERE display_name = 'During'")).isEqualTo(1);
        assertMirrors(internal, paused.tenancy.id(), paused.target);
    }

    @Test
    void resyncRebuildsADriftedDedicatedTargetWhileWritesContinue() throws Exception {
        Setup s = tenancyWithTarget("resync");
        for (int i = 0; i < 30; i++) {
            fixtures.createUser(s.tenancy, "user " + i, "user" + i + "@example.com");
        }
        stamp(internal);
        sync(s.tenancy.id());
        assertMirrors(internal, s.tenancy.id(), s.target);

        // Drift: rows lost, a value changed, a row that never existed in the source.
        s.target.execute("DELETE FROM contact_channels WHERE value IN ('user1@example.com', 'user2@example.com')",
                "DELETE FROM users WHERE display_name IN ('user 3', 'user 4', 'user 5')",
                "UPDATE users SET display_name = 'tampered' WHERE display_name = 'user 6'",
                """
                INSERT INTO users SELECT (jsonb_populate_record(NULL::users,
                    to_jsonb(u) || jsonb_build_object('id', gen_random_uuid(), 'display_name', 'bogus'))).*
                FROM users u LIMIT 1""");
        assertThat(s.target.queryLong("SELECT count(*) FROM users WHERE display_name = 'bogus'")).isEqualTo(1);

        AtomicInteger written = new AtomicInteger();
        CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
            for (int i = 0; i < 12; i++) {
                fixtures.createUser(s.tenancy, "live " + i, "live" + i + "@example.com");
                stamp(internal);
                sync(s.tenancy.id());
                written.incrementAndGet();
            }
        });
        Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> written.get() >= 3 || writer.isDone());

        internal.update("DELETE FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", s.tenancy.id());
        admin().post("/api/v1/admin/tenancies/" + s.tenancy.id() + "/targets/main/resync").then().statusCode(202)
                .body("outcome", org.hamcrest.Matchers.is("RESET_DEDICATED"));
        assertThat(pendingRequests(s.tenancy.id())).as("resync enqueues the tenancy").isEqualTo(1);

        writer.get(120, TimeUnit.SECONDS);
        assertThat(written.get()).isEqualTo(12);

        JsonPath result = sync(s.tenancy.id());
        assertThat(result.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(s.target.queryLong("SELECT count(*) FROM users WHERE display_name IN ('bogus', 'tampered')"))
                .isZero();
        assertThat(s.target.queryLong("SELECT count(*) FROM users")).isEqualTo(42);
        assertMirrors(internal, s.tenancy.id(), s.target);
    }

    @Test
    void resyncOfASharedTargetOnlyResetsThatTenancysCursors() {
        Tenancy a = fixtures.createTenancy();
        Tenancy b = fixtures.createTenancy();
        TestDatabase shared = TestPostgres.createDatabase("sharedresync");
        fixtures.configureTargets(a, Map.of("main", shared.postgresUrl()));
        fixtures.configureTargets(b, Map.of("main", shared.postgresUrl()));
        UUID ofA = fixtures.createUser(a, "of A", "a@example.com");
        UUID ofB = fixtures.createUser(b, "of B", "b@example.com");
        stamp(internal);
        sync(a.id(), b.id());
        shared.execute("DELETE FROM contact_channels", "DELETE FROM users");

        admin().post("/api/v1/admin/tenancies/" + a.id() + "/targets/main/resync").then().statusCode(202)
                .body("outcome", org.hamcrest.Matchers.is("RESET_SHARED"));
        assertThat(shared.queryLong(
                "SELECT count(*) FROM _stack_sync_metadata WHERE tenancy_id = ? AND last_synced_sequence_id <> -1",
                a.id())).isZero();
        assertThat(shared.queryLong(
                "SELECT count(*) FROM _stack_sync_metadata WHERE tenancy_id = ? AND last_synced_sequence_id > -1",
                b.id())).as("the other tenancy's cursors are untouched").isPositive();

        sync(a.id(), b.id());
        assertThat(UserSyncTest.strings(shared, "SELECT id::text FROM users"))
                .as("A re-applied, B not (its cursor did not move)").containsExactly(ofA.toString());
        assertThat(ofB).isNotNull();
    }

    @Test
    void deadLettersArePagedByKeyAndFilteredByTenancy() {
        Setup s = tenancyWithTarget("deadletters");
        fixtures.createUser(s.tenancy, "First", null);
        stamp(internal);
        sync(s.tenancy.id());
        s.target.execute("ALTER TABLE users ADD CONSTRAINT no_evil CHECK (display_name NOT LIKE 'EVIL%')");
        UUID evil1 = fixtures.createUser(s.tenancy, "EVIL 1", null);
        UUID evil2 = fixtures.createUser(s.tenancy, "EVIL 2", null);
        fixtures.createUser(s.tenancy, "fine", null);
        stamp(internal);
        sync(s.tenancy.id());

        JsonPath first = admin().queryParam("tenancy", s.tenancy.id().toString()).queryParam("limit", 1)
                .get("/api/v1/admin/dead-letters").then().statusCode(200).extract().jsonPath();
        assertThat(first.getList("deadLetters")).hasSize(1);
        assertThat(first.getString("deadLetters[0].tenancyId")).isEqualTo(s.tenancy.id().toString());
        assertThat(first.getString("deadLetters[0].targetId")).isEqualTo("main");
        assertThat(first.getString("deadLetters[0].mapping")).isEqualTo("users");
        assertThat(first.getString("deadLetters[0].error")).contains("no_evil").doesNotContain(s.target.password());
        assertThat(first.getLong("deadLetters[0].sequenceId")).isPositive();
        assertThat(first.getString("deadLetters[0].firstSeenAt")).isNotNull();
        assertThat(first.getString("next")).isNotNull();

        JsonPath second = admin().queryParam("tenancy", s.tenancy.id().toString()).queryParam("limit", 1)
                .queryParam("after", first.getString("next")).get("/api/v1/admin/dead-letters")
                .then().statusCode(200).extract().jsonPath();
        assertThat(second.getList("deadLetters")).hasSize(1);
        assertThat(second.getString("next")).isNull();
        List<String> keys = List.of(first.getString("deadLetters[0].key"), second.getString("deadLetters[0].key"));
        assertThat(String.join(" ", keys)).contains(evil1.toString()).contains(evil2.toString());

        JsonPath all = admin().get("/api/v1/admin/dead-letters").then().statusCode(200).extract().jsonPath();
        assertThat(all.getList("deadLetters").size()).isGreaterThanOrEqualTo(2);
        admin().queryParam("tenancy", UUID.randomUUID().toString()).get("/api/v1/admin/dead-letters").then()
                .statusCode(200).body("deadLetters", org.hamcrest.Matchers.empty());
        admin().queryParam("limit", 0).get("/api/v1/admin/dead-letters").then().statusCode(400);
        admin().queryParam("limit", 5000).get("/api/v1/admin/dead-letters").then().statusCode(400);
        admin().queryParam("after", "garbage").get("/api/v1/admin/dead-letters").then().statusCode(400);
    }
}
