package dev.externaldbsync.sequencer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;

import org.jboss.logging.Logger;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.agroal.api.AgroalDataSource;

/**
 * Measurements for the report, not tests: they print figures and assert only that the work was done. Excluded from
 * the normal build; run with
 * {@code ./mvnw -o verify -pl sequencer-service -Dtest=SequencerBenchmark}
 * (optional {@code -Dbench.rows=1000000}, {@code -Dbench.poll-ms=20}).
 */
@Tag("benchmark")
class SequencerBenchmark {

    private static final Logger LOG = Logger.getLogger(SequencerBenchmark.class);
    private static final int ROWS = Integer.getInteger("bench.rows", 1_000_000);
    private static final Duration POLL = Duration.ofMillis(Long.getLong("bench.poll-ms", 20));

    @Test
    void throughputOneTenancy() throws Exception {
        throughput(ROWS, 1, 1000, 250);
    }

    @Test
    void throughputHundredThousandTenancies() throws Exception {
        throughput(ROWS, 100_000, 1000, 250);
    }

    @Test
    void batchSize1000Versus5000() throws Exception {
        int rows = Math.min(ROWS, 200_000);
        throughput(rows, 1, 1000, 1000);
        throughput(rows, 1, 5000, 5000);
        throughput(rows, 1000, 1000, 1000);
        throughput(rows, 1000, 5000, 5000);
    }

    @Test
    void tenanciesPerBatch() throws Exception {
        int rows = Math.min(ROWS, 200_000);
        throughput(rows, 1000, 1000, 250);
        throughput(rows, 1000, 1000, 1000);
    }

    private void throughput(int rows, int tenancies, int batchSize, int maxTenancies) throws Exception {
        TestDatabase db = TestPools.migratedDatabase("bench");
        long insertStarted = System.nanoTime();
        db.update("""
                WITH t AS (SELECT n - 1 AS n, gen_random_uuid() AS id FROM generate_series(1, ?) AS n)
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt")
                SELECT t.id, gen_random_uuid(), 'bench', 'main', now()
                FROM generate_series(0, ? - 1) AS g JOIN t ON t.n = g % ?""", tenancies, rows, tenancies);
        db.execute("VACUUM ANALYZE \"ProjectUser\"", "VACUUM ANALYZE \"SyncChange\"");
        long insertMillis = (System.nanoTime() - insertStarted) / 1_000_000;
        try (AgroalDataSource pool = TestPools.pool(db, 2)) {
            Sequencer sequencer = new Sequencer(pool, new Sequencer.Settings(batchSize, maxTenancies), Clock.systemUTC());
            long started = System.nanoTime();
            long stamped = 0;
            int batches = 0;
            long maxBatchNanos = 0;
            while (true) {
                SequencingBatch batch = sequencer.runOnce();
                if (batch.nothingWaiting()) {
                    break;
                }
                stamped += batch.entries();
                batches++;
                maxBatchNanos = Math.max(maxBatchNanos, batch.duration().toNanos());
            }
            double seconds = (System.nanoTime() - started) / 1e9;
            assertThat(stamped).isEqualTo(rows);
            LOG.infof("BENCH throughput: %,d entries in %,d tenancies, batch size %d, max tenancies %d: %.1f s, "
                    + "%,.0f entries stamped/s, %d batches (avg %.1f ms, max %.1f ms); bulk insert took %,d ms",
                    rows, tenancies, batchSize, maxTenancies, seconds, stamped / seconds, batches, seconds * 1000 / batches,
                    maxBatchNanos / 1e6, insertMillis);
        }
    }

    @Test
    void pollLatencyAndIdleCost() throws Exception {
        TestDatabase db = TestPools.migratedDatabase("latency");
        db.execute("CREATE TABLE stamp_time (user_id uuid PRIMARY KEY, stamped_at timestamptz NOT NULL)",
                """
                CREATE FUNCTION log_stamp_time() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO stamp_time VALUES ((NEW."primaryKey" ->> 'projectUserId')::uuid, clock_timestamp())
                    ON CONFLICT DO NOTHING;
                    RETURN NULL;
                END $$""",
                """
                CREATE TRIGGER log_stamp_time AFTER UPDATE ON "SyncChange" FOR EACH ROW
                WHEN (NEW."sequenceId" IS NOT NULL AND OLD."sequenceId" IS NULL) EXECUTE FUNCTION log_stamp_time()""");
        StackAuthFixtures fixtures = new StackAuthFixtures(db);
        Tenancy tenancy = fixtures.createTenancy();
        try (AgroalDataSource pool = TestPools.pool(db, 3)) {
            Sequencer sequencer = new Sequencer(pool, new Sequencer.Settings(1000, 1000), Clock.systemUTC());
            SequencerLoop loop = new SequencerLoop(sequencer, () -> fuseboxOn(pool), POLL, Duration.ofSeconds(5),
                    Clock.systemUTC(), batch -> {
                    });
            Thread thread = new Thread(loop, "bench-sequencer-loop");
            thread.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> loop.stats().iterations() > 0);

            List<Double> latencies = new ArrayList<>();
            try (Connection writer = db.connect(); Connection reader = db.connect()) {
                for (int i = 0; i < 200; i++) {
                    UUID user = UUID.randomUUID();
                    try (PreparedStatement ps = writer.prepareStatement("""
                            INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId",
                                                       "mirroredBranchId", "updatedAt") VALUES (?, ?, 'p', 'main', now())""")) {
                        ps.setObject(1, tenancy.id());
                        ps.setObject(2, user);
                        ps.executeUpdate();
                    }
                    Instant committed = Instant.now();
                    await().pollInterval(Duration.ofMillis(2)).atMost(Duration.ofSeconds(5))
                            .until(() -> stampedAt(reader, user) != null);
                    Instant stampedAt = stampedAt(reader, user);
                    latencies.add(Duration.between(committed, stampedAt).toNanos() / 1e6);
                }
            }
            Collections.sort(latencies);
            LOG.infof("BENCH poll latency (interval %d ms) commit -> stamp over %d single-row commits: p50 %.2f ms, "
                    + "p99 %.2f ms, max %.2f ms", POLL.toMillis(), latencies.size(), percentile(latencies, 50),
                    percentile(latencies, 99), latencies.get(latencies.size() - 1));

            // Let every session of the latency phase flush its statistics before the baseline: an idle backend
            // flushes pending counters only after 10 s (PGSTAT_IDLE_INTERVAL).
            await().during(Duration.ofSeconds(12)).atMost(Duration.ofSeconds(14))
                    .until(() -> loop.stats().lastError() == null);
            db.execute("SELECT pg_stat_force_next_flush()");
            ThreadMXBean threads = ManagementFactory.getThreadMXBean();
            long cpuBefore = threads.getThreadCpuTime(thread.getId());
            long xactBefore = db.queryLong("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()");
            long iterationsBefore = loop.stats().iterations();
            long started = System.nanoTime();
            // The 10 s of idling is the measurement; asserting across it that the loop stays healthy.
            await().during(Duration.ofSeconds(10)).atMost(Duration.ofSeconds(12))
                    .until(() -> loop.stats().lastError() == null && loop.stats().running());
            double seconds = (System.nanoTime() - started) / 1e9;
            long cpu = threads.getThreadCpuTime(thread.getId()) - cpuBefore;
            // pg_stat counters are flushed lazily (at most once a second per session): give the loop's sessions a
            // moment, then read; the figure includes the two statements of this measurement.
            await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(3)).until(() -> true);
            long xacts = db.queryLong("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
                    - xactBefore;
            LOG.infof("BENCH idle over %.1f s: loop thread CPU %.1f ms (%.3f%% of one core), %d loop iterations, "
                    + "%d database transactions (all sessions, including this measurement's own)", seconds,
                    cpu / 1e6, cpu / 1e7 / seconds, loop.stats().iterations() - iterationsBefore, xacts);
            loop.stop();
            thread.join(5000);
        }
    }

    /** The same single-row read as service-common's {@code Fusebox}, so the idle figure includes it. */
    private static boolean fuseboxOn(AgroalDataSource pool) {
        try (Connection c = pool.getConnection(); PreparedStatement ps = c.prepareStatement(
                "SELECT \"sequencerEnabled\" FROM \"ExternalDbSyncMetadata\" WHERE \"singleton\" = 'TRUE'");
                ResultSet rs = ps.executeQuery()) {
            return !rs.next() || rs.getBoolean(1);
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Instant stampedAt(Connection reader, UUID user) throws Exception {
        try (PreparedStatement ps = reader.prepareStatement("SELECT stamped_at FROM stamp_time WHERE user_id = ?")) {
            ps.setObject(1, user);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getTimestamp(1).toInstant() : null;
            }
        }
    }

    private static double percentile(List<Double> sorted, int p) {
        int index = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, index));
    }
}
