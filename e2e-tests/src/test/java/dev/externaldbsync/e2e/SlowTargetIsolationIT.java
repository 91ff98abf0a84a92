package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;

/**
 * Issue 16's scenario against the packaged services: one tenancy's targets hang every write (a BEFORE statement
 * trigger sleeping for an hour); ordinary tenancies sharing one target keep syncing at their usual pace, the hanging
 * targets are aborted and backed off, and no ordinary request is charged an attempt or parked.
 */
class SlowTargetIsolationIT {

    /** Short deadlines so a hang is cut within seconds instead of the production minute. */
    private static final Map<String, String> DEADLINES = Map.of("ENGINE_RUN_DEADLINE", "3s",
            "ENGINE_RUN_ABORT_GRACE", "1s", "ENGINE_ANSWER_BUDGET", "6s", "POLLER_BACKOFF_MAX", "5s");
    private static final Duration ARRIVES = Duration.ofSeconds(45);

    private Pipeline pipeline;

    @AfterEach
    void stop() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    @Test
    void ordinaryTenanciesKeepSyncingWhileAnotherTenancysTargetsHangEveryWrite() {
        pipeline = Pipeline.start(1, 1, 1, DEADLINES);
        TestDatabase internal = pipeline.internal;

        Tenancy hostile = pipeline.fixtures.createTenancy();
        Map<String, String> hanging = new LinkedHashMap<>();
        List<TestDatabase> hangingDbs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            TestDatabase db = pipeline.newExternal();
            hangingDbs.add(db);
            hanging.put("hang" + i, db.postgresUrl());
        }
        pipeline.fixtures.configureTargets(hostile, hanging);
        // The config change syncs the tenancy once (nothing to write): the engine creates its tables; then every
        // write to users hangs.
        for (TestDatabase db : hangingDbs) {
            Awaitility.await("tables bootstrapped").atMost(ARRIVES).ignoreExceptions()
                    .until(() -> db.queryLong("SELECT count(*) FROM users") == 0);
            db.execute("""
                    CREATE FUNCTION hang() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN PERFORM pg_sleep(3600); RETURN NULL; END $$""",
                    "CREATE TRIGGER hang BEFORE INSERT OR UPDATE OR DELETE ON users "
                            + "FOR EACH STATEMENT EXECUTE FUNCTION hang()");
        }

        TestDatabase shared = pipeline.newExternal();
        List<Tenancy> tenancies = new ArrayList<>();
        List<UUID> ordinary = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            Tenancy tenancy = pipeline.fixtures.createTenancy();
            pipeline.fixtures.configureTargets(tenancy, Map.of("main", shared.postgresUrl()));
            tenancies.add(tenancy);
            ordinary.add(tenancy.id());
        }
        pipeline.fixtures.createUser(hostile, "Hostile", "hostile@example.com");

        List<Long> lagMillis = new ArrayList<>();
        for (int round = 0; round < 3; round++) {
            List<UUID> users = new ArrayList<>();
            long created = System.nanoTime();
            for (Tenancy tenancy : tenancies) {
                users.add(pipeline.fixtures.createUser(tenancy, "Round " + round, null));
            }
            Awaitility.await("round " + round + " arrives").atMost(ARRIVES).ignoreExceptions()
                    .pollInterval(Duration.ofMillis(50)).until(() -> users.stream().allMatch(u -> shared.queryLong(
                            "SELECT count(*) FROM users WHERE id = ?", u) == 1));
            lagMillis.add(Duration.ofNanos(System.nanoTime() - created).toMillis());
        }
        System.out.println("BENCH ordinary lag with hanging targets (ms per round): " + lagMillis);

        Awaitility.await("the hanging targets are aborted and backed off").atMost(ARRIVES).until(() ->
                internal.queryLong("""
                        SELECT count(DISTINCT "targetId") FROM "SyncEngineProgress"
                        WHERE "tenancyId" = ? AND "retryAt" IS NOT NULL""", hostile.id()) == 3);
        assertThat(pipeline.engines.get(0).get("/api/v1/status").body()).contains("\"backedOffTargets\"");
        Oracle.awaitMirrors(internal, shared, ordinary, ARRIVES);
        assertThat(internal.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ANY (?::uuid[]) AND "parkedAt" IS NOT NULL""",
                ordinary.stream().map(UUID::toString).collect(java.util.stream.Collectors.joining(",", "{", "}"))))
                .as("no ordinary request parked").isZero();
        assertThat(hangingDbs.get(0).queryLong("SELECT count(*) FROM users")).as("nothing got past the trigger")
                .isZero();
    }
}
