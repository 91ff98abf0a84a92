package dev.externaldbsync.sequencer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.sql.Connection;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.schema.SourceTable;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.agroal.api.AgroalDataSource;
import dev.externaldbsync.service.NotificationListener;

/**
 * The loop with its LISTEN wake-up. The fallback interval is set far beyond every deadline here (60 s), so a change
 * stamped within seconds proves the notification woke the loop.
 */
class SequencerLoopTest {

    private static final Duration NO_FALLBACK = Duration.ofSeconds(60);

    private TestDatabase db;
    private AgroalDataSource pool;
    private StackAuthFixtures fixtures;
    private NotificationListener listener;
    private SequencerLoop loop;
    private Thread thread;
    private final AtomicBoolean enabled = new AtomicBoolean(true);

    @BeforeEach
    void setUp() {
        db = TestPools.migratedDatabase("loop");
        pool = TestPools.pool(db, 4);
        fixtures = new StackAuthFixtures(db);
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        if (loop != null) {
            loop.stop();
            thread.join(10_000);
        }
        pool.close();
    }

    private void start(int batchSize) {
        Sequencer sequencer = new Sequencer(pool, new Sequencer.Settings(batchSize, 1000), Clock.systemUTC());
        listener = new NotificationListener(pool, Sequencer.CHANGES_CHANNEL, Clock.systemUTC());
        loop = new SequencerLoop(sequencer, listener, enabled::get, NO_FALLBACK, Duration.ofSeconds(1),
                Clock.systemUTC(), batch -> {
                });
        thread = new Thread(loop, "test-sequencer-loop");
        thread.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> loop.stats().listening() && loop.stats().iterations() > 0);
    }

    @Test
    void aCommittedChangeWakesTheLoopWithoutWaitingForTheFallback() {
        start(1000);
        Tenancy tenancy = fixtures.createTenancy();

        UUID user = fixtures.createUser(tenancy, "Ada", null);

        await().atMost(Duration.ofSeconds(5)).until(() -> stamped(user));
        assertThat(db.queryLong("SELECT count(*) FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy.id()))
                .isEqualTo(1);
        assertThat(loop.stats().rowsStamped()).isEqualTo(1);
    }

    @Test
    void aBrokenListenConnectionIsReestablishedAndWakesTheLoopAgain() {
        start(1000);
        Tenancy tenancy = fixtures.createTenancy();

        assertThat(db.queryLong("""
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND query LIKE 'LISTEN %'""")).isEqualTo(1);

        await().atMost(Duration.ofSeconds(10)).until(() -> listener.reconnects() == 1 && listener.listening());
        UUID user = fixtures.createUser(tenancy, "After reconnect", null);
        await().atMost(Duration.ofSeconds(5)).until(() -> stamped(user));
    }

    @Test
    void switchedOffItStampsNothingAndTurnedBackOnItStampsEverything() {
        enabled.set(false);
        start(1000);
        Tenancy tenancy = fixtures.createTenancy();
        long iterations = loop.stats().iterations();
        UUID user = fixtures.createUser(tenancy, "Paused", null);

        // Each insert's notification wakes the loop, which reads the switch and goes back to waiting; the second
        // wake-up proves the first one's iteration ran to its end.
        await().atMost(Duration.ofSeconds(5)).until(() -> loop.stats().iterations() > iterations);
        UUID second = fixtures.createUser(tenancy, "Paused too", null);
        await().atMost(Duration.ofSeconds(5)).until(() -> loop.stats().iterations() > iterations + 1);
        assertThat(loop.stats().paused()).isTrue();
        assertThat(stamped(user)).isFalse();
        assertThat(stamped(second)).isFalse();
        assertThat(db.queryLong("SELECT count(*) FROM \"OutgoingRequest\"")).isZero();

        enabled.set(true);
        fixtures.createUser(tenancy, "Wakes it", null);

        await().atMost(Duration.ofSeconds(5)).until(() -> stamped(user) && stamped(second));
        assertThat(loop.stats().paused()).isFalse();
        assertThat(loop.stats().rowsStamped()).isEqualTo(3);
    }

    @Test
    void stopFinishesTheBatchInProgressAndExits() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        db.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt")
                SELECT ?, gen_random_uuid(), ?, 'main', now() FROM generate_series(1, 1000)""",
                tenancy.id(), tenancy.projectId());
        try (Connection blocker = db.connect(); Statement s = blocker.createStatement()) {
            // Holding the stamping lock parks the loop's first batch inside its transaction.
            s.execute("SELECT pg_advisory_lock(" + Sequencer.STAMP_LOCK_KEY + ")");
            start(100);
            await().atMost(Duration.ofSeconds(10)).until(() -> db.queryLong("""
                    SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'""")
                    == 1);

            loop.stop();
            s.execute("SELECT pg_advisory_unlock(" + Sequencer.STAMP_LOCK_KEY + ")");
            thread.join(10_000);
        }

        assertThat(thread.isAlive()).isFalse();
        assertThat(loop.stats().running()).isFalse();
        assertThat(loop.stats().lastError()).isNull();
        assertThat(loop.stats().batches()).as("the batch in progress, and no other").isEqualTo(1);
        assertThat(db.queryLong("SELECT count(*) FROM \"ProjectUser\" WHERE NOT \"shouldUpdateSequenceId\""))
                .as("committed whole").isEqualTo(100);
        assertThat(db.queryLong("SELECT count(*) FROM \"OutgoingRequest\"")).isEqualTo(1);
        assertThat(loop.waitingRows()).as("gauge counted after the first batch")
                .containsEntry(SourceTable.PROJECT_USER, 900L).containsEntry(SourceTable.DELETED_ROW, 0L);
        loop = null;
    }

    private boolean stamped(UUID user) {
        return Boolean.FALSE.equals(db.queryValue(
                "SELECT \"shouldUpdateSequenceId\" FROM \"ProjectUser\" WHERE \"projectUserId\" = ?", user));
    }
}
