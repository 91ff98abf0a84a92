package dev.externaldbsync.service;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;

import jakarta.inject.Inject;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.TestDatabase;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;

/** The loops' cached read of the switches ({@code sync.fusebox-check-interval} is 2s in these tests). */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class FuseboxCacheTest {

    private static final String FUSEBOX = "/api/v1/admin/fusebox";

    @InjectTestDatabase
    TestDatabase internal;

    @Inject
    Fusebox fusebox;

    @Inject
    CommonConfig config;

    @Inject
    FuseboxChanges changes;

    @AfterEach
    void bothOn() {
        put("{\"sequencerEnabled\": true, \"pollerEnabled\": true}");
    }

    @Test
    void aChangeMadeDirectlyInTheDatabaseReachesTheCachedReadWithinTheCheckInterval() {
        put("{\"sequencerEnabled\": true, \"pollerEnabled\": true}");
        assertThat(fusebox.current().pollerEnabled()).isTrue();

        internal.update("UPDATE \"ExternalDbSyncMetadata\" SET \"pollerEnabled\" = false WHERE \"singleton\" = 'TRUE'");

        await().atMost(config.fuseboxCheckInterval().multipliedBy(5))
                .until(() -> !fusebox.current().pollerEnabled());
        assertThat(fusebox.current().sequencerEnabled()).isTrue();
    }

    @Test
    void aPutIsSeenByTheCachedReadAtOnceAndAnnouncedToTheProcess() {
        put("{\"sequencerEnabled\": true, \"pollerEnabled\": true}");
        assertThat(fusebox.current().sequencerEnabled()).isTrue();
        int heardBefore = changes.heard().size();

        put("{\"sequencerEnabled\": false}");

        // No waiting: the PUT itself refreshed the cache, whatever the interval.
        assertThat(fusebox.current()).isEqualTo(new Fusebox.State(false, true));
        assertThat(changes.heard()).hasSize(heardBefore + 1).last().isEqualTo(new Fusebox.State(false, true));
    }

    @Test
    void readsWithinTheCheckIntervalDoNotQueryTheDatabase() {
        fusebox.current();
        long started = System.nanoTime();
        long readsBefore = fusebox.reads();

        for (int i = 0; i < 1000; i++) {
            fusebox.current();
        }

        // One query per elapsed interval at most (the machine may stall), never one per call.
        long elapsedIntervals = (System.nanoTime() - started) / config.fuseboxCheckInterval().toNanos();
        assertThat(fusebox.reads() - readsBefore).isLessThanOrEqualTo(elapsedIntervals + 1);
    }

    private static void put(String body) {
        given().header("Authorization", "Bearer test-admin-token").contentType("application/json").body(body)
                .put(FUSEBOX).then().statusCode(200);
    }
}
