package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;

/** Crashes and outages: nothing is lost, the target catches up by itself. */
class FaultToleranceIT {

    private static final Duration CONVERGED = Duration.ofMinutes(3);
    /** A short lease so that a killed poller's claim is taken over in seconds, not the default minute. */
    private static final Map<String, String> FAST_RECOVERY = Map.of("POLLER_LEASE", "10s", "POLLER_BACKOFF_MAX", "5s");
    private Pipeline pipeline;

    @AfterEach
    void stop() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    @Test
    void servicesKilledDuringABackfillResumeToTheExactState() {
        pipeline = Pipeline.start(1, 1, 1, FAST_RECOVERY);
        TestDatabase internal = pipeline.internal;
        Tenancy tenancy = pipeline.fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        insertUsers(internal, tenancy, 100_000);
        pipeline.fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        long unstampedAtStart = unstampedUsers(internal);

        for (ServiceProcess victim : List.of(pipeline.engines.get(0), pipeline.pollers.get(0), pipeline.sequencers.get(0))) {
            long before = usersIn(target);
            Awaitility.await(victim.name + " makes progress before it is killed").atMost(CONVERGED)
                    .until(() -> usersIn(target) > before || unstampedUsers(internal) < unstampedAtStart);
            victim.kill();
            internal.update("UPDATE \"ProjectUser\" SET \"displayName\" = 'changed while " + victim.name
                    + " was down' WHERE \"projectUserId\" IN (SELECT \"projectUserId\" FROM \"ProjectUser\" WHERE \"tenancyId\" = ? LIMIT 100)",
                    tenancy.id());
            victim.restart();
            victim.awaitReady(Duration.ofSeconds(90));
        }

        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), CONVERGED);
        assertThat(usersIn(target)).isEqualTo(100_000);
        Awaitility.await("every change of the tenancy is stamped").atMost(CONVERGED).until(() -> internal.queryLong(
                "SELECT count(*) FROM \"SyncChange\" WHERE \"tenancyId\" = ? AND \"sequenceId\" IS NULL", tenancy.id()) == 0);
        // The mirror matches as soon as the backfill has copied the live rows; entries stamped after the backfill's
        // high mark are still being re-applied then, so the cursors reach the log's highest stamp a little later.
        for (String[] mapping : new String[][] {{"users", "ProjectUser"}, {"contact_channels", "ContactChannel"}}) {
            long highestStamp = internal.queryLong("""
                    SELECT max("sequenceId") FROM "SyncChange" WHERE "tenancyId" = ? AND "tableName" = ?""",
                    tenancy.id(), mapping[1]);
            Awaitility.await(mapping[0] + " cursor reaches the log's highest stamp " + highestStamp).atMost(CONVERGED)
                    .untilAsserted(() -> assertThat(Oracle.cursor(target, tenancy.id(), mapping[0])).isEqualTo(highestStamp));
        }
    }

    @Test
    void aTargetThatRefusesConnectionsCatchesUpWithoutAnyNewChange() {
        pipeline = Pipeline.start(1, 1, 1, FAST_RECOVERY);
        TestDatabase internal = pipeline.internal;
        Tenancy tenancy = pipeline.fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        pipeline.fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        pipeline.fixtures.createUser(tenancy, "Before the outage", "before@example.com");
        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), CONVERGED);

        refuseConnections(target, true);
        try {
            pipeline.fixtures.createUser(tenancy, "During the outage", "during@example.com");
            Awaitility.await("the change is stamped and handed to the engine while the target is down")
                    .atMost(Duration.ofSeconds(30)).until(() -> unstampedUsers(internal) == 0);
        } finally {
            refuseConnections(target, false);
        }

        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), CONVERGED);
        assertThat(usersIn(target)).isEqualTo(2);
    }

    @Test
    void aPollerKilledBetweenClaimAndDeliveryLosesNothing() {
        pipeline = Pipeline.start(1, 1, 1, FAST_RECOVERY);
        TestDatabase internal = pipeline.internal;
        ServiceProcess engine = pipeline.engines.get(0);
        ServiceProcess poller = pipeline.pollers.get(0);
        Tenancy tenancy = pipeline.fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        pipeline.fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));

        assertThat(engine.terminate(Duration.ofSeconds(40))).as("clean exit on SIGTERM").isIn(0, 143);
        pipeline.fixtures.createUser(tenancy, "Claimed, never delivered", "claimed@example.com");
        Awaitility.await("the poller claims the request").atMost(Duration.ofSeconds(30)).until(() -> internal.queryLong(
                "SELECT count(*) FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ? AND \"startedFulfillingAt\" IS NOT NULL",
                tenancy.id()) > 0);
        poller.kill();

        engine.restart();
        engine.awaitReady(Duration.ofSeconds(90));
        poller.restart();
        poller.awaitReady(Duration.ofSeconds(90));

        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), CONVERGED);
        Awaitility.await("the request is deleted once delivered").atMost(CONVERGED).until(() -> internal.queryLong(
                "SELECT count(*) FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy.id()) == 0);
    }

    static void insertUsers(TestDatabase internal, Tenancy tenancy, int count) {
        internal.update("""
                WITH u AS (INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                               "updatedAt", "displayName")
                           SELECT ?, gen_random_uuid(), ?, 'main', now(), 'backfill ' || n FROM generate_series(1, ?) n
                           RETURNING "tenancyId", "projectUserId")
                INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                    "isVerified", "value", "usedForAuth")
                SELECT "tenancyId", "projectUserId", gen_random_uuid(), now(), 'EMAIL', 'TRUE', true,
                       "projectUserId"::text || '@backfill.example', 'TRUE' FROM u""",
                tenancy.id(), tenancy.projectId(), count);
    }

    private static long usersIn(TestDatabase target) {
        return Oracle.tableExists(target, "users") ? target.queryLong("SELECT count(*) FROM users") : 0;
    }

    private static void refuseConnections(TestDatabase target, boolean refuse) {
        TestDatabase admin = new TestDatabase("postgres", target.host(), target.port(), target.user(), target.password());
        admin.execute("ALTER DATABASE \"" + target.name() + "\" ALLOW_CONNECTIONS " + !refuse);
        if (refuse) {
            admin.queryRows("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ?", target.name());
        }
    }

    /** Change-log entries of users still waiting for their stamp. */
    private static long unstampedUsers(TestDatabase internal) {
        return internal.queryLong("""
                SELECT count(*) FROM "SyncChange" WHERE "sequenceId" IS NULL AND "tableName" = 'ProjectUser'""");
    }
}
