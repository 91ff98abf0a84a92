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
import org.postgresql.PGConnection;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.agroal.api.AgroalDataSource;

/** The loop: it polls the change log (writers send no notification), pauses on the fusebox and stops cleanly. */
class SequencerLoopTest {

    private static final Duration POLL = Duration.ofMillis(20);

    private TestDatabase db;
    private AgroalDataSource pool;
    private StackAuthFixtures fixtures;
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

    private void start(int batchSize, Duration pollInterval) {
        Sequencer sequencer = new Sequencer(pool, new Sequencer.Settings(batchSize, 1000), Clock.systemUTC());
        loop = new SequencerLoop(sequencer, enabled::get, pollInterval, Duration.ofSeconds(1), Clock.systemUTC(),
                batch -> {
                });
        thread = new Thread(loop, "test-sequencer-loop");
        thread.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> loop.stats().iterations() > 0);
    }

    @Test
    void aCommittedChangeIsStampedByThePollWithinADeadlineAndNoNotificationIsSentOrAwaited() throws Exception {
        start(1000, POLL);
        Tenancy tenancy = fixtures.createTenancy();
        try (Connection listener = db.connect(); Statement s = listener.createStatement()) {
            s.execute("LISTEN external_db_sync_changes");

            UUID user = fixtures.createUser(tenancy, "Ada", null);

            await().atMost(Duration.ofSeconds(2)).until(() -> stamped(user));
            s.execute("SELECT 1");
            assertThat(listener.unwrap(PGConnection.class).getNotifications()).as("writers do not NOTIFY").isNullOrEmpty();
        }
        assertThat(db.queryLong("SELECT count(*) FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy.id()))
                .isEqualTo(1);
        assertThat(loop.stats().entriesStamped()).isEqualTo(1);
        assertThat(db.queryLong("""
                SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'
                  AND pid <> pg_backend_pid()""")).as("the loop listens to nothing").isZero();
    }

    @Test
    void anIdleLoopLooksAgainOnlyAfterItsPollInterval() throws Exception {
        start(1000, Duration.ofSeconds(60));
        await().atMost(Duration.ofSeconds(10)).until(() -> thread.getState() == Thread.State.TIMED_WAITING);
        long iterations = loop.stats().iterations();
        Tenancy tenancy = fixtures.createTenancy();

        UUID user = fixtures.createUser(tenancy, "Waits for the poll", null);

        await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3)).until(() -> !stamped(user));
        assertThat(loop.stats().iterations()).as("asleep, not spinning").isEqualTo(iterations);
    }

    @Test
    void switchedOffItStampsNothingAndTurnedBackOnItStampsEverything() {
        enabled.set(false);
        start(1000, POLL);
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Paused", null);
        UUID second = fixtures.createUser(tenancy, "Paused too", null);

        await().atMost(Duration.ofSeconds(5)).until(() -> loop.stats().paused());
        long iterations = loop.stats().iterations();
        // Many polls see the waiting entries and the switch, and stamp nothing.
        await().atMost(Duration.ofSeconds(5)).until(() -> loop.stats().iterations() > iterations + 5);
        assertThat(stamped(user)).isFalse();
        assertThat(stamped(second)).isFalse();
        assertThat(db.queryLong("SELECT count(*) FROM \"OutgoingRequest\"")).isZero();

        enabled.set(true);

        await().atMost(Duration.ofSeconds(5)).until(() -> stamped(user) && stamped(second));
        assertThat(loop.stats().paused()).isFalse();
        assertThat(loop.stats().entriesStamped()).isEqualTo(2);
    }

    @Test
    void connectionsKilledUnderTheLoopAreReplacedAndTheNextChangeIsStamped() {
        start(1000, POLL);
        Tenancy tenancy = fixtures.createTenancy();

        assertThat(db.queryLong("""
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"""))
                .isPositive();
        UUID user = fixtures.createUser(tenancy, "After the kill", null);

        await().atMost(Duration.ofSeconds(10)).until(() -> stamped(user));
        assertThat(loop.stats().running()).isTrue();
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
            start(100, POLL);
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
        assertThat(db.queryLong("SELECT count(*) FROM \"SyncChange\" WHERE \"sequenceId\" IS NOT NULL"))
                .as("committed whole").isEqualTo(100);
        assertThat(db.queryLong("SELECT count(*) FROM \"OutgoingRequest\"")).isEqualTo(1);
        assertThat(loop.waiting().perTable()).as("gauge counted after the first batch")
                .containsEntry("ProjectUser", 900L).containsEntry("ContactChannel", 0L);
        loop = null;
    }

    private boolean stamped(UUID user) {
        return Boolean.TRUE.equals(db.queryValue("""
                SELECT bool_and("sequenceId" IS NOT NULL) FROM "SyncChange"
                WHERE "tableName" = 'ProjectUser' AND "primaryKey" ->> 'projectUserId' = ?""", user.toString()));
    }
}
