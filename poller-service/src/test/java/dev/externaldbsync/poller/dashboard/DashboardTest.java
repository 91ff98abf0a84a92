package dev.externaldbsync.poller.dashboard;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;

/**
 * The dashboard's backend on the packaged poller: the page behind the token (Basic for browsers), the snapshot's
 * figures after real rows in a real internal database, the tenancy search, and the actions forwarded to a stand-in
 * engine over real HTTP.
 */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
@WithTestResource(EngineStandInResource.class)
class DashboardTest {

    private static final String BEARER = "Bearer test-admin-token";
    private static final String BASIC = "Basic "
            + Base64.getEncoder().encodeToString("operator:test-admin-token".getBytes(StandardCharsets.UTF_8));
    private static final String CSRF = "X-Requested-By";
    private static final String SNAPSHOT = "/api/v1/admin/dashboard/snapshot";
    private static final Duration DEADLINE = Duration.ofSeconds(15);

    @InjectTestDatabase
    TestDatabase internal;

    @AfterEach
    void switchesBackOn() {
        given().header("Authorization", BEARER).contentType("application/json")
                .body("{\"sequencerEnabled\": true, \"pollerEnabled\": true}").put("/api/v1/admin/fusebox")
                .then().statusCode(200);
        EngineStandInResource.engine.statusAvailable = true;
    }

    private JsonPath snapshot() {
        return given().header("Authorization", BEARER).get(SNAPSHOT + "?fresh=true").then().statusCode(200)
                .extract().jsonPath();
    }

    @Test
    void thePageAndItsAssetsNeedTheTokenAndABrowserIsAskedForBasicCredentials() {
        given().redirects().follow(false).get("/dashboard").then().statusCode(401)
                .header("WWW-Authenticate", startsWith("Basic realm=\"external-db-sync\""));
        given().get("/dashboard/app.js").then().statusCode(401);
        given().get(SNAPSHOT).then().statusCode(401)
                .header("WWW-Authenticate", startsWith("Basic realm=\"external-db-sync\""));

        given().header("Authorization", BASIC).get("/dashboard").then().statusCode(200)
                .contentType(containsString("text/html"))
                .header("Content-Security-Policy", containsString("frame-ancestors 'none'"))
                .header("X-Frame-Options", "DENY")
                .body(containsString("<script type=\"module\" src=\"dashboard/app.js\"></script>"));
        given().header("Authorization", BASIC).get("/dashboard/app.js").then().statusCode(200)
                .contentType(containsString("text/javascript")).body(containsString("X-Requested-By"));
        given().header("Authorization", BASIC).get("/dashboard/app.css").then().statusCode(200)
                .contentType(containsString("text/css"));
        given().header("Authorization", BASIC).get("/dashboard/application.properties").then().statusCode(404);
        given().header("Authorization", BASIC).redirects().follow(false).get("/dashboard/").then().statusCode(303)
                .header("Location", "../dashboard");
    }

    @Test
    void basicMutationsNeedTheDashboardHeaderBearerOnesDoNot() {
        Tenancy tenancy = new StackAuthFixtures(internal).createTenancy();
        String pause = "/api/v1/admin/dashboard/tenancies/" + tenancy.id() + "/pause";
        given().header("Authorization", BASIC).put(pause).then().statusCode(403);
        given().header("Authorization", BASIC).header(CSRF, "external-db-sync-dashboard").put(pause)
                .then().statusCode(200).body("paused", equalTo(true));
        given().header("Authorization", BEARER).delete(pause).then().statusCode(200).body("paused", equalTo(false));
        assertThat(EngineStandInResource.engine.adminCalls).filteredOn(c -> c.path().endsWith(tenancy.id() + "/pause"))
                .extracting(EngineStandIn.AdminCall::method, EngineStandIn.AdminCall::authorization)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("PUT", BEARER),
                        org.assertj.core.groups.Tuple.tuple("DELETE", BEARER));
    }

    @Test
    void theSnapshotShowsTheSequencerPollerAndEngineFiguresFromRealRows() {
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        Tenancy waitingTenancy = fixtures.createTenancy();
        for (int i = 0; i < 3; i++) {
            fixtures.createUser(waitingTenancy, "Waiting " + i, "waiting" + i + "@example.com");
        }
        JsonPath before = snapshot();
        long stampsBefore = before.getLong("sequencer.stampsIssued");
        assertThat(before.getList("sequencer.waitingRows", Map.class))
                .filteredOn(t -> t.get("table").equals("ProjectUser"))
                .singleElement().satisfies(t -> assertThat(((Number) t.get("rows")).longValue()).isGreaterThanOrEqualTo(3));
        assertThat(before.getBoolean("sequencer.paused")).isFalse();

        // Stamps (as the sequencer would: nextval per row) move the counter and the rate.
        internal.execute("SELECT nextval('global_seq_id') FROM generate_series(1, 50)");
        JsonPath stamped = snapshot();
        assertThat(stamped.getLong("sequencer.stampsIssued")).isEqualTo(stampsBefore + 50);
        assertThat(stamped.getDouble("sequencer.stampsPerSecond")).isPositive();

        // A delivered tenancy moves the delivery counter and yields an end-to-end lag sample.
        long deliveredBefore = stamped.getLong("poller.status.deliveredSinceStart");
        internal.queryLong("SELECT sync_enqueue_tenancies(?::uuid[])", "{" + UUID.randomUUID() + "}");
        await().atMost(DEADLINE).untilAsserted(() -> {
            JsonPath s = snapshot();
            assertThat(s.getLong("poller.status.deliveredSinceStart")).isGreaterThan(deliveredBefore);
            assertThat(s.getLong("endToEndLag.samples")).isPositive();
            assertThat(s.getDouble("endToEndLag.p99Seconds")).isGreaterThanOrEqualTo(0);
        });
        given().get("/api/v1/status").then().statusCode(200).body("endToEndLag.windowSeconds", equalTo(60));

        // The engine's rows-applied counter becomes a rate; failing targets and poison rows come from the mirror.
        Tenancy failing = fixtures.createTenancy();
        internal.update("""
                INSERT INTO "SyncEngineProgress" ("tenancyId", "targetId", "mappingName", "cursor", "lastErrorAt",
                                                  "lastError", "failingSince")
                VALUES (?, 'down', 'users', 5, now(), 'connection refused', now()),
                       (?, 'down', 'teams', 5, now(), 'connection refused', now())""", failing.id(), failing.id());
        internal.update("""
                INSERT INTO "SyncEnginePoisonRow" ("tenancyId", "targetId", "mappingName", "rowKey", "sequenceId", "error")
                VALUES (?, 'down', 'users', '{"id": 1}', 7, 'value too long')""", failing.id());
        snapshot();
        EngineStandInResource.engine.rowsApplied.addAndGet(1000);
        JsonPath engine = snapshot();
        assertThat(engine.getBoolean("engine.reachable")).isTrue();
        assertThat(engine.getLong("engine.rowsAppliedSinceStart")).isGreaterThanOrEqualTo(1000);
        assertThat(engine.getDouble("engine.rowsAppliedPerSecond")).isPositive();
        assertThat(engine.getLong("engine.failingTargets.value")).isEqualTo(1);
        assertThat(engine.getLong("engine.poisonRows.value")).isEqualTo(1);
        assertThat(engine.getList("history")).isNotEmpty();

        // An engine that cannot answer is shown as such; the rest of the snapshot still comes.
        EngineStandInResource.engine.statusAvailable = false;
        JsonPath down = snapshot();
        assertThat(down.getBoolean("engine.reachable")).isFalse();
        assertThat(down.getString("engine.error")).contains("503");
        assertThat(down.getLong("engine.failingTargets.value")).isEqualTo(1);
        assertThat(down.getLong("sequencer.stampsIssued")).isEqualTo(stampsBefore + 50);
    }

    @Test
    void pausedSwitchesParkedRequestsAndRowsBehindAreShown() {
        given().header("Authorization", BEARER).contentType("application/json")
                .body("{\"sequencerEnabled\": false, \"pollerEnabled\": false}").put("/api/v1/admin/fusebox")
                .then().statusCode(200);
        await().atMost(DEADLINE).until(() -> given().get("/api/v1/status").jsonPath().getBoolean("paused"));
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        Tenancy behind = fixtures.createTenancy();
        fixtures.configureTargets(behind, Map.of("main", "postgresql://sync:s3cret@db.example:5432/mirror"));
        for (int i = 0; i < 4; i++) {
            fixtures.createUser(behind, "Behind " + i, "behind" + i + "@example.com");
        }
        // Stamp them as the sequencer would, and queue the tenancy (the poller is paused, so it stays pending).
        internal.update("""
                UPDATE "ProjectUser" SET "sequenceId" = nextval('global_seq_id'), "shouldUpdateSequenceId" = FALSE
                WHERE "tenancyId" = ?""", behind.id());
        internal.queryLong("SELECT sync_enqueue_tenancies(?::uuid[])", "{" + behind.id() + "}");
        UUID parkedTenancy = UUID.randomUUID();
        internal.update("""
                INSERT INTO "OutgoingRequest" ("id", "createdAt", "deduplicationKey", "qstashOptions", "tenancyId",
                    "startedFulfillingAt", "leaseExpiresAt", "parkedAt", "attemptCount", "lastError")
                VALUES (gen_random_uuid(), now(), 'parked-' || ?, '{}', ?::uuid, now(), now(), now(), 25,
                        'HTTP 500 from postgresql://u:hunter2@h/db')""", parkedTenancy.toString(), parkedTenancy);

        JsonPath s = snapshot();
        assertThat(s.getBoolean("sequencer.paused")).isTrue();
        assertThat(s.getBoolean("fusebox.pollerEnabled")).isFalse();
        assertThat(s.getList("parked.tenancyId", String.class)).contains(parkedTenancy.toString());
        assertThat(s.getString("parked.find { it.tenancyId == '" + parkedTenancy + "' }.lastError"))
                .contains("u:***@h").doesNotContain("hunter2");
        assertThat(s.getInt("rowsBehind.tenanciesSampled")).isGreaterThanOrEqualTo(1);
        assertThat(s.getLong("rowsBehind.perMapping.find { it.mapping == 'users' }.rows")).isGreaterThanOrEqualTo(4);
        assertThat(s.getString("rowsBehind.definition")).contains("lowest cursor");

        // After the engine records a cursor past those rows, they are no longer behind.
        long top = internal.queryLong("SELECT max(\"sequenceId\") FROM \"ProjectUser\" WHERE \"tenancyId\" = ?",
                behind.id());
        internal.update("""
                INSERT INTO "SyncEngineProgress" ("tenancyId", "targetId", "mappingName", "cursor", "lastSuccessAt")
                VALUES (?, 'main', 'users', ?, now())""", behind.id(), top);
        await().atMost(DEADLINE).untilAsserted(() -> assertThat(
                snapshot().getLong("rowsBehind.perMapping.find { it.mapping == 'users' }.rows")).isZero());
        internal.update("DELETE FROM \"OutgoingRequest\" WHERE \"tenancyId\" IN (?, ?)", behind.id(), parkedTenancy);
    }

    @Test
    void tenancySearchShowsTargetsRedactedWithCursorsAndForwardsResync() {
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        Tenancy tenancy = fixtures.createTenancy();
        fixtures.configureTargets(tenancy, Map.of(
                "main", "postgresql://sync:s3cret-pw@db.example:5432/mirror",
                "broken", "mysql://nope"));
        internal.update("""
                INSERT INTO "SyncEngineProgress" ("tenancyId", "targetId", "mappingName", "cursor", "rowsApplied",
                                                  "lastSuccessAt", "lastErrorAt", "lastError")
                VALUES (?, 'main', 'users', 4242, 10, now(), now() - interval '1 minute',
                        'could not connect to postgresql://sync:s3cret-pw@db.example:5432/mirror'),
                       (?, 'main', 'contact_channels', 4243, 3, now(), NULL, NULL),
                       (?, 'removed', 'users', 17, 1, now(), NULL, NULL)""", tenancy.id(), tenancy.id(), tenancy.id());

        for (String q : List.of(tenancy.id().toString(), tenancy.projectId())) {
            JsonPath found = given().header("Authorization", BASIC).queryParam("q", q)
                    .get("/api/v1/admin/dashboard/tenancies").then().statusCode(200).extract().jsonPath();
            assertThat(found.getList("tenancies.tenancyId", String.class)).containsExactly(tenancy.id().toString());
            String main = "tenancies[0].targets.find { it.targetId == 'main' }";
            assertThat(found.getString(main + ".url")).isEqualTo("postgresql://sync:***@db.example:5432/mirror");
            assertThat(found.getLong(main + ".mappings.find { it.mapping == 'users' }.cursor")).isEqualTo(4242);
            assertThat(found.getString(main + ".lastSuccessAt")).isNotNull();
            assertThat(found.getString(main + ".lastError")).contains("sync:***@").doesNotContain("s3cret");
            assertThat(found.getString("tenancies[0].targets.find { it.targetId == 'broken' }.configError"))
                    .startsWith("malformed connectionString");
            assertThat(found.getBoolean("tenancies[0].targets.find { it.targetId == 'removed' }.inConfig")).isFalse();
            assertThat(found.getBoolean("tenancies[0].paused")).isFalse();
            assertThat(found.prettify()).doesNotContain("s3cret");
        }
        given().header("Authorization", BEARER).queryParam("q", UUID.randomUUID().toString())
                .get("/api/v1/admin/dashboard/tenancies").then().statusCode(200).body("tenancies.size()", equalTo(0));

        given().header("Authorization", BASIC).header(CSRF, "external-db-sync-dashboard")
                .post("/api/v1/admin/dashboard/tenancies/" + tenancy.id() + "/targets/main db/resync")
                .then().statusCode(202).body("outcome", equalTo("RESET_SHARED"));
        assertThat(EngineStandInResource.engine.adminCalls).extracting(EngineStandIn.AdminCall::path)
                .contains("/api/v1/admin/tenancies/" + tenancy.id() + "/targets/main%20db/resync");
        given().header("Authorization", BEARER).post("/api/v1/admin/dashboard/tenancies/not-a-uuid/targets/x/resync")
                .then().statusCode(400);
    }
}
