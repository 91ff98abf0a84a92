package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static dev.externaldbsync.engine.UserSyncTest.strings;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

import jakarta.inject.Inject;

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
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.path.json.JsonPath;

/**
 * A slow target costs only itself (issue 16): targets that hang every write (a BEFORE statement trigger sleeping for
 * an hour) are aborted by the run watchdog and backed off, never stop an ordinary tenancy of the same or a later
 * request, and hold no more than their tenancy's share of the workers.
 */
@QuarkusTest
@TestProfile(SlowTargetIsolationTest.Profile.class)
@WithTestResource(InternalDatabaseResource.class)
class SlowTargetIsolationTest {

    /** Short deadlines so a hang is cut within seconds; a backoff long enough to be seen in status. */
    public static class Profile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("engine.parallelism", "4",
                    "engine.run-deadline", "2s",
                    "engine.run-abort-grace", "1s",
                    "engine.answer-budget", "8s",
                    "engine.fairness.tenancy-share", "0.5",
                    "engine.target-backoff.base", "60s",
                    "engine.target-backoff.max", "120s");
        }
    }

    private static final String ADMIN = "Bearer test-admin-token";

    @InjectTestDatabase
    TestDatabase internal;

    @Inject
    SyncEngine engine;

    StackAuthFixtures fixtures;

    @BeforeEach
    void fixtures() {
        fixtures = new StackAuthFixtures(internal);
    }

    /** A tenancy whose {@code count} targets each hang every write to {@code users}, with one user to write. */
    private Tenancy hostile(String name, int count) {
        Tenancy tenancy = fixtures.createTenancy();
        List<TestDatabase> targets = new ArrayList<>();
        Map<String, String> urls = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
            TestDatabase db = TestPostgres.createDatabase(name + i);
            targets.add(db);
            urls.put("hang" + i, db.postgresUrl());
        }
        fixtures.setConfig(tenancy, config(urls));
        // First sync with nothing to write: the engine creates its tables, then every write to users hangs.
        assertThat(sync(tenancy.id()).getString("results[0].outcome")).isEqualTo("SYNCED");
        for (TestDatabase db : targets) {
            db.execute("""
                    CREATE FUNCTION hang() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN PERFORM pg_sleep(3600); RETURN NULL; END $$""",
                    "CREATE TRIGGER hang BEFORE INSERT OR UPDATE OR DELETE ON users "
                            + "FOR EACH STATEMENT EXECUTE FUNCTION hang()");
        }
        fixtures.createUser(tenancy, "Hostile", name + "@example.com");
        return tenancy;
    }

    private static String config(Map<String, String> urls) {
        StringBuilder s = new StringBuilder("{\"dbSync\": {\"externalDatabases\": {");
        urls.forEach((id, url) -> s.append(s.charAt(s.length() - 1) == '{' ? "" : ", ").append('"').append(id)
                .append("\": {\"type\": \"postgres\", \"connectionString\": \"").append(url).append("\"}"));
        return s.append("}}}").toString();
    }

    private static Map<String, String> outcomes(JsonPath result, int index) {
        Map<String, String> outcomes = new LinkedHashMap<>();
        List<Map<String, Object>> targets = result.getList("results[" + index + "].targets");
        targets.forEach(t -> outcomes.put((String) t.get("targetId"), t.get("outcome") + "/" + t.get("retry")));
        return outcomes;
    }

    @Test
    void hangingTargetsAreAbortedAndBackedOffWhileAnOrdinaryTenancyOfTheSameAndLaterRequestsSyncs() {
        Tenancy hostile = hostile("hang_a", 3);
        Tenancy ordinary = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("ordinary_a");
        fixtures.setConfig(ordinary, config(Map.of("main", target.postgresUrl())));
        UUID first = fixtures.createUser(ordinary, "First", "first@example.com");
        stamp(internal);

        CompletableFuture<JsonPath> request = CompletableFuture.supplyAsync(() -> sync(hostile.id(), ordinary.id()));

        // The ordinary tenancy's row arrives while its request still waits on the hanging targets.
        // (Until the engine created its tables there, the query fails: ignored.)
        Awaitility.await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(
                () -> strings(target, "SELECT id::text FROM users").contains(first.toString()));
        assertThat(request).as("the request still waits for the hanging targets").isNotDone();
        JsonPath result = request.join();
        assertThat(result.getString("results[1].outcome")).isEqualTo("SYNCED");
        assertThat(result.getBoolean("results[1].retry")).isFalse();
        assertThat(result.getBoolean("results[0].retry")).isTrue();
        assertThat(outcomes(result, 0).values()).hasSize(3)
                .allSatisfy(o -> assertThat(o).isIn("FAILED/true", "UNFINISHED/true"));

        // The watchdog aborts each hung connection (deadline plus grace) and the target backs off as a target.
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> internal.queryLong("""
                SELECT count(DISTINCT "targetId") FROM "SyncEngineProgress"
                WHERE "tenancyId" = ? AND "retryAt" > now()""", hostile.id()) == 3);
        assertThat(engine.abortedRuns()).isGreaterThanOrEqualTo(3);
        assertThat(strings(internal, """
                SELECT DISTINCT "lastError" FROM "SyncEngineProgress" WHERE "tenancyId" = ? AND "lastError" IS NOT NULL""",
                hostile.id())).isNotEmpty().allSatisfy(e -> assertThat(e).contains("watchdog aborted"));
        assertThat(given().get("/api/v1/status").then().statusCode(200).extract().jsonPath()
                .getLong("backedOffTargets")).isGreaterThanOrEqualTo(3);
        List<String> retryAt = given().header("Authorization", ADMIN)
                .get("/api/v1/status/tenancies/" + hostile.id()).then().statusCode(200).extract().jsonPath()
                .getList("targets.mappings.flatten().retryAt");
        assertThat(retryAt).isNotEmpty().doesNotContainNull();

        // A later request: the backed-off targets are skipped without a worker, the ordinary tenancy syncs.
        UUID second = fixtures.createUser(ordinary, "Second", "second@example.com");
        stamp(internal);
        JsonPath later = sync(hostile.id(), ordinary.id());
        assertThat(later.getString("results[1].outcome")).isEqualTo("SYNCED");
        assertThat(strings(target, "SELECT id::text FROM users")).contains(second.toString());
        assertThat(outcomes(later, 0)).containsOnly(Map.entry("hang0", "BACKED_OFF/true"),
                Map.entry("hang1", "BACKED_OFF/true"), Map.entry("hang2", "BACKED_OFF/true"));
        assertThat(later.getString("results[0].targets[0].error")).contains("next try at");
        assertThat(later.getLong("results[0].targets[0].retryAfterMillis")).isPositive();
    }

    @Test
    void aTenancyWithManyHangingTargetsNeverHoldsMoreThanItsShareOfTheWorkers() {
        Tenancy hostile = hostile("hang_b", 4);
        Tenancy ordinary = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("ordinary_b");
        fixtures.setConfig(ordinary, config(Map.of("main", target.postgresUrl())));
        UUID user = fixtures.createUser(ordinary, "Fair", "fair@example.com");
        stamp(internal);
        int share = engine.scheduler().tenancyCap();
        assertThat(share).isEqualTo(2);

        CompletableFuture<JsonPath> hostileRequest = CompletableFuture.supplyAsync(() -> sync(hostile.id()));
        AtomicInteger most = new AtomicInteger();
        Awaitility.await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20)).until(() -> {
            most.accumulateAndGet(engine.scheduler().runningFor(hostile.id()), Math::max);
            return most.get() == share && engine.scheduler().waiting() > 0;
        });

        // Its other targets wait for its own share; an ordinary tenancy gets a free worker at once.
        JsonPath ordinaryResult = sync(ordinary.id());
        assertThat(ordinaryResult.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(strings(target, "SELECT id::text FROM users")).containsExactly(user.toString());
        assertThat(hostileRequest).isNotDone();

        Awaitility.await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20)).until(() -> {
            most.accumulateAndGet(engine.scheduler().runningFor(hostile.id()), Math::max);
            return hostileRequest.isDone();
        });
        assertThat(most.get()).isEqualTo(share);
        assertThat(outcomes(hostileRequest.join(), 0).values()).hasSize(4)
                .allSatisfy(o -> assertThat(o).isIn("FAILED/true", "UNFINISHED/true"));
    }

    @Test
    void anUnreachableTargetIsBackedOffAfterTwoFailuresInARowAndTheTenancysOtherTargetKeepsSyncing() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase good = TestPostgres.createDatabase("beside_down");
        Map<String, String> urls = new LinkedHashMap<>();
        urls.put("down", "postgresql://someone:pw@127.0.0.1:1/nowhere");
        urls.put("good", good.postgresUrl());
        fixtures.setConfig(tenancy, config(urls));
        UUID user = fixtures.createUser(tenancy, "Beside", "beside@example.com");
        stamp(internal);
        String backedOff = """
                SELECT count(*) FROM "SyncEngineProgress"
                WHERE "tenancyId" = ? AND "targetId" = 'down' AND "retryAt" > now()""";

        assertThat(outcomes(sync(tenancy.id()), 0)).containsEntry("down", "FAILED/true")
                .containsEntry("good", "SYNCED/false");
        assertThat(internal.queryLong(backedOff, tenancy.id())).as("one failure is not yet a backoff").isZero();
        assertThat(outcomes(sync(tenancy.id()), 0)).containsEntry("down", "FAILED/true");
        assertThat(internal.queryLong(backedOff, tenancy.id())).isPositive();

        UUID later = fixtures.createUser(tenancy, "Later", "later@example.com");
        stamp(internal);
        JsonPath third = sync(tenancy.id());
        assertThat(outcomes(third, 0)).containsEntry("down", "BACKED_OFF/true").containsEntry("good", "SYNCED/false");
        assertThat(strings(good, "SELECT id::text FROM users")).containsExactlyInAnyOrder(user.toString(),
                later.toString());
    }
}
