package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;

/**
 * The poller never sends one tenancy twice at once, so these tests play a racing client themselves: signed requests
 * for the same tenancy, at the same time, to two sync engines.
 */
class RacingSyncsIT {

    private static Pipeline pipeline;

    @BeforeAll
    static void start() {
        pipeline = Pipeline.start(1, 1, 2);
    }

    @AfterAll
    static void stop() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    @Test
    void twoSyncsRacingForOneTenancyLeaveExactlyTheFinalState() throws Exception {
        Tenancy tenancy = pipeline.fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        FaultToleranceIT.insertUsers(pipeline.internal, tenancy, 5_000);
        pipeline.fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));

        List<CompletableFuture<Integer>> racers = new ArrayList<>();
        for (int round = 0; round < 5; round++) {
            pipeline.internal.update("""
                    UPDATE "ProjectUser" SET "displayName" = 'round ' || ? WHERE "projectUserId" IN (
                        SELECT "projectUserId" FROM "ProjectUser" WHERE "tenancyId" = ? ORDER BY random() LIMIT 500)""",
                    round, tenancy.id());
            for (ServiceProcess engine : pipeline.engines) {
                racers.add(CompletableFuture.supplyAsync(
                        () -> pipeline.postSync(engine, List.of(tenancy.id())).statusCode()));
            }
        }

        assertThat(racers).allSatisfy(racer -> assertThat(racer.get()).isEqualTo(200));
        Oracle.awaitMirrors(pipeline.internal, target, List.of(tenancy.id()), Duration.ofMinutes(2));
    }

    @Test
    void aSecondPendingRequestForATenancyIsRefusedWhileAClaimedOneMayCoexist() {
        String key = "sentinel-sync-key-e2e-" + System.nanoTime();
        String insert = """
                INSERT INTO "OutgoingRequest" ("id", "deduplicationKey", "qstashOptions", "startedFulfillingAt")
                VALUES (gen_random_uuid(), ?, '{}', ?)""";
        pipeline.internal.update(insert, key, java.sql.Timestamp.from(java.time.Instant.now()));
        pipeline.internal.update(insert, key, null);

        assertThatThrownBy(() -> pipeline.internal.update(insert, key, null))
                .hasMessageContaining("OutgoingRequest_deduplicationKey_pending_key");
        assertThat(pipeline.internal.queryLong("SELECT count(*) FROM \"OutgoingRequest\" WHERE \"deduplicationKey\" = ?",
                key)).isEqualTo(2);
        pipeline.internal.update("DELETE FROM \"OutgoingRequest\" WHERE \"deduplicationKey\" = ?", key);
    }
}
