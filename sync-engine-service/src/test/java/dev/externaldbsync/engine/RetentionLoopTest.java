package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.Map;

import jakarta.inject.Inject;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;

/**
 * The retention loop of a running engine: a tenancy a request asked to sync is reviewed in the next round, without
 * any sweep, and what it deleted is counted in the metrics.
 */
@QuarkusTest
@TestProfile(RetentionLoopTest.Profile.class)
@WithTestResource(InternalDatabaseResource.class)
class RetentionLoopTest {

    public static class Profile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("engine.retention.interval", "200ms", "engine.retention.sweep-tenancies", "0");
        }
    }

    @InjectTestDatabase
    TestDatabase internal;

    @Inject
    MeterRegistry registry;

    StackAuthFixtures fixtures;

    @BeforeEach
    void fixtures() {
        fixtures = new StackAuthFixtures(internal);
    }

    private long stamped(Tenancy t) {
        return internal.queryLong("""
                SELECT count(*) FROM "SyncChange" WHERE "tenancyId" = ? AND "sequenceId" IS NOT NULL""", t.id());
    }

    private double prunedSoFar() {
        return registry.get("sync_engine_retention_pruned_entries").counter().count();
    }

    @Test
    void aTenancyTheEngineWasAskedToSyncIsPrunedInTheNextRoundAndOnlyIt() {
        Tenancy asked = fixtures.createTenancy();
        Tenancy notAsked = fixtures.createTenancy();
        for (int i = 0; i < 5; i++) {
            fixtures.renameUser(asked, fixtures.createUser(asked, "asked " + i, null), "renamed " + i);
            fixtures.createUser(notAsked, "not asked " + i, null);
        }
        stamp(internal);
        assertThat(stamped(asked)).isEqualTo(10);
        double before = prunedSoFar();

        assertThat(sync(asked.id()).getString("results[0].outcome")).isEqualTo("NO_TARGETS");

        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50))
                .until(() -> stamped(asked) == 1);
        assertThat(prunedSoFar() - before).isEqualTo(9);
        assertThat(stamped(notAsked)).as("no request, no sweep: not visited").isEqualTo(5);
    }
}
