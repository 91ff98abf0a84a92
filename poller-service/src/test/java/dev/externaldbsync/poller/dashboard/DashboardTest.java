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

import dev.externaldbsync.contract.status.CappedCount;
import dev.externaldbsync.contract.status.MappingProgress;
import dev.externaldbsync.contract.status.TargetView;
import dev.externaldbsync.contract.status.TenancyView;
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
 * figures from the poller's own queue in a real internal database and from stand-ins of the sequencer and the engine
 * over real HTTP (the dashboard reads no other service's tables), the tenancy search and the actions forwarded to the
 * engine.
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
        EngineStandInResource.sequencer.available = true;
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
    void theSnapshotShowsTheSequencerPollerAndEngineFiguresFromTheirStatusAndTheQueue() {
        SequencerStandIn sequencer = EngineStandInResource.sequencer;
        EngineStandIn engine = EngineStandInResource.engine;
        sequencer.waiting.put("ProjectUser", new CappedCount(3, false));
        sequencer.waiting.put("ContactChannel", new CappedCount(100_000, true));
        JsonPath before = snapshot();
        long stampsBefore = before.getLong("sequencer.stampsIssued");
        assertThat(before.getBoolean("sequencer.reachable")).isTrue();
        assertThat(before.getList("sequencer.waitingRows", Map.class))
                .filteredOn(t -> t.get("table").equals("ProjectUser"))
                .singleElement().satisfies(t -> assertThat(((Number) t.get("rows")).longValue()).isEqualTo(3));
        assertThat(before.getLong("sequencer.waitingTotal.value")).isEqualTo(100_003);
        assertThat(before.getBoolean("sequencer.waitingTotal.capped")).isTrue();
        assertThat(before.getBoolean("sequencer.paused")).isFalse();

        // The sequencer's stamp counter moves the figure and the rate.
        sequencer.stampsIssued.addAndGet(50);
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

        // The engine's rows-applied counter becomes a rate; failing targets and poison rows come from its status.
        engine.failingTargets.set(1);
        engine.poisonRows.set(1);
        snapshot();
        engine.rowsApplied.addAndGet(1000);
        JsonPath up = snapshot();
        assertThat(up.getBoolean("engine.reachable")).isTrue();
        assertThat(up.getLong("engine.rowsAppliedSinceStart")).isGreaterThanOrEqualTo(1000);
        assertThat(up.getDouble("engine.rowsAppliedPerSecond")).isPositive();
        assertThat(up.getLong("engine.failingTargets.value")).isEqualTo(1);
        assertThat(up.getString("engine.oldestFailingSince")).startsWith("2026-01-01");
        assertThat(up.getLong("engine.poisonRows.value")).isEqualTo(1);
        assertThat(up.getList("history")).isNotEmpty();

        // A service that cannot answer is shown as such; the rest of the snapshot still comes.
        engine.statusAvailable = false;
        JsonPath engineDown = snapshot();
        assertThat(engineDown.getBoolean("engine.reachable")).isFalse();
        assertThat(engineDown.getString("engine.error")).contains("503");
        assertThat(engineDown.getLong("sequencer.stampsIssued")).isEqualTo(stampsBefore + 50);
        engine.statusAvailable = true;
        sequencer.available = false;
        JsonPath sequencerDown = snapshot();
        assertThat(sequencerDown.getBoolean("sequencer.reachable")).isFalse();
        assertThat(sequencerDown.getString("sequencer.error")).contains("503");
        assertThat(sequencerDown.getBoolean("engine.reachable")).isTrue();
        assertThat(sequencerDown.getLong("poller.status.deliveredSinceStart")).isGreaterThan(deliveredBefore);
    }

    @Test
    void pausedSwitchesParkedRequestsAndRowsBehindAreShown() {
        given().header("Authorization", BEARER).contentType("application/json")
                .body("{\"sequencerEnabled\": false, \"pollerEnabled\": false}").put("/api/v1/admin/fusebox")
                .then().statusCode(200);
        await().atMost(DEADLINE).until(() -> given().get("/api/v1/status").jsonPath().getBoolean("paused"));
        UUID behind = UUID.randomUUID();
        // The poller is paused, so the request stays pending and is the longest-waiting one.
        internal.queryLong("SELECT sync_enqueue_tenancies(?::uuid[])", "{" + behind + "}");
        EngineStandInResource.engine.behind.put(behind, Map.of("users", 4L, "teams", 0L));
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
        // The poller names the waiting tenancies from its own queue (parked ones are not waiting); the engine counts.
        List<UUID> asked = EngineStandInResource.engine.rowsBehindAsked
                .get(EngineStandInResource.engine.rowsBehindAsked.size() - 1);
        assertThat(asked).contains(behind).doesNotContain(parkedTenancy).hasSizeLessThanOrEqualTo(20);

        // Once the engine has applied them, they are no longer behind.
        EngineStandInResource.engine.behind.put(behind, Map.of("users", 0L, "teams", 0L));
        await().atMost(DEADLINE).untilAsserted(() -> assertThat(
                snapshot().getLong("rowsBehind.perMapping.find { it.mapping == 'users' }.rows")).isZero());
        internal.update("DELETE FROM \"OutgoingRequest\" WHERE \"tenancyId\" IN (?, ?)", behind, parkedTenancy);
    }

    @Test
    void tenancySearchIsTheEnginesAnswerAskedWithTheAdminTokenAndResyncIsForwarded() {
        UUID tenancy = UUID.randomUUID();
        TenancyView view = new TenancyView(tenancy.toString(), "project-search", "main", false, null, null, List.of(
                new TargetView("main", true, "postgresql://sync:***@db.example:5432/mirror", null,
                        "2026-01-01 00:00:00+00", null, null, null, new CappedCount(0, false),
                        List.of(new MappingProgress("users", 4242, 10, "2026-01-01 00:00:00+00", null, null,
                                null))),
                new TargetView("broken", true, null, "malformed connectionString", null, null, null, null,
                        new CappedCount(0, false), List.of())));
        EngineStandInResource.engine.tenancies.put(tenancy.toString(), List.of(view));
        EngineStandInResource.engine.tenancies.put("project-search", List.of(view));

        for (String q : List.of(tenancy.toString(), "project-search")) {
            JsonPath found = given().header("Authorization", BASIC).queryParam("q", q)
                    .get("/api/v1/admin/dashboard/tenancies").then().statusCode(200).extract().jsonPath();
            assertThat(found.getString("query")).isEqualTo(q);
            assertThat(found.getList("tenancies.tenancyId", String.class)).containsExactly(tenancy.toString());
            String main = "tenancies[0].targets.find { it.targetId == 'main' }";
            assertThat(found.getString(main + ".url")).isEqualTo("postgresql://sync:***@db.example:5432/mirror");
            assertThat(found.getLong(main + ".mappings.find { it.mapping == 'users' }.cursor")).isEqualTo(4242);
            assertThat(found.getString("tenancies[0].targets.find { it.targetId == 'broken' }.configError"))
                    .startsWith("malformed connectionString");
            assertThat(found.getBoolean("tenancies[0].paused")).isFalse();
        }
        assertThat(EngineStandInResource.engine.adminCalls)
                .filteredOn(c -> c.path().equals("/api/v1/admin/tenancies"))
                .extracting(EngineStandIn.AdminCall::authorization).isNotEmpty().containsOnly(BEARER);
        given().header("Authorization", BEARER).queryParam("q", UUID.randomUUID().toString())
                .get("/api/v1/admin/dashboard/tenancies").then().statusCode(200).body("tenancies.size()", equalTo(0));

        given().header("Authorization", BASIC).header(CSRF, "external-db-sync-dashboard")
                .post("/api/v1/admin/dashboard/tenancies/" + tenancy + "/targets/main db/resync")
                .then().statusCode(202).body("outcome", equalTo("RESET_SHARED"));
        assertThat(EngineStandInResource.engine.adminCalls).extracting(EngineStandIn.AdminCall::path)
                .contains("/api/v1/admin/tenancies/" + tenancy + "/targets/main%20db/resync");
        given().header("Authorization", BEARER).post("/api/v1/admin/dashboard/tenancies/not-a-uuid/targets/x/resync")
                .then().statusCode(400);
    }
}
