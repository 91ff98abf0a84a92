package dev.externaldbsync.sequencer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.jboss.logging.Logger;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.agroal.api.AgroalDataSource;

/**
 * Two sequencer loops (separate pools, like two replicas during a rollout) and 8 writer threads for ~10 s, writing
 * through the real capture triggers into the change log.
 * <p>
 * The checker stands in for the sync engine: it repeatedly reads, in one snapshot, every stamped id of the log, and
 * fails if an id it has never seen is at or below the largest id it saw in an earlier read (a sync that has applied up
 * to N must never later find an unseen committed id &le; N). Compaction deletes entries meanwhile, which may hide a
 * seen id but must never reveal an unseen one.
 * <p>
 * Exactly-once: test-only triggers on the log record every entry written (in the writer's transaction, so a
 * rolled-back writer's entries vanish with it), every stamp and every deletion, each with its transaction id. Every
 * entry must be stamped exactly once or deleted unstamped by a transaction that stamped a newer entry of its key; every
 * stamped entry that is deleted must be deleted by a transaction that stamped its key again, higher; and at the end
 * each key has exactly one entry, carrying the key's highest stamp.
 */
class ConcurrentSequencingTest {

    private static final Logger LOG = Logger.getLogger(ConcurrentSequencingTest.class);

    private static final int WRITERS = 8;
    private static final Duration WRITE_PHASE = Duration.ofSeconds(10);

    private final AtomicLong userInserts = new AtomicLong();
    private final AtomicLong userUpdates = new AtomicLong();
    private final AtomicLong userDeletes = new AtomicLong();
    private final AtomicLong rollbacks = new AtomicLong();
    private final AtomicBoolean writing = new AtomicBoolean(true);

    @Test
    void twoSequencersAndEightWritersKeepCommitOrderAndStampOrCompactEveryEntryExactlyOnce() throws Exception {
        TestDatabase db = TestPools.migratedDatabase("concurrent");
        db.execute("""
                CREATE TABLE entry_log (entry_id bigint PRIMARY KEY, tenancy uuid NOT NULL, table_name text NOT NULL,
                                        entry_key jsonb NOT NULL)""",
                "CREATE TABLE stamp_log (entry_id bigint NOT NULL, sequence_id bigint NOT NULL, tx bigint NOT NULL)",
                "CREATE TABLE drop_log (entry_id bigint NOT NULL, sequence_id bigint, tx bigint NOT NULL)",
                "CREATE INDEX ON stamp_log (entry_id)", "CREATE INDEX ON stamp_log (tx)",
                "CREATE INDEX ON drop_log (entry_id)",
                """
                CREATE FUNCTION log_entry() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'INSERT' THEN
                        INSERT INTO entry_log VALUES (NEW."id", NEW."tenancyId", NEW."tableName", NEW."primaryKey");
                    ELSIF TG_OP = 'UPDATE' THEN
                        INSERT INTO stamp_log VALUES (NEW."id", NEW."sequenceId", txid_current());
                    ELSE
                        INSERT INTO drop_log VALUES (OLD."id", OLD."sequenceId", txid_current());
                    END IF;
                    RETURN NULL;
                END $$""",
                "CREATE TRIGGER log_insert AFTER INSERT ON \"SyncChange\" FOR EACH ROW EXECUTE FUNCTION log_entry()",
                """
                CREATE TRIGGER log_stamp AFTER UPDATE ON "SyncChange" FOR EACH ROW
                WHEN (OLD."sequenceId" IS DISTINCT FROM NEW."sequenceId") EXECUTE FUNCTION log_entry()""",
                "CREATE TRIGGER log_drop AFTER DELETE ON \"SyncChange\" FOR EACH ROW EXECUTE FUNCTION log_entry()");
        StackAuthFixtures fixtures = new StackAuthFixtures(db);
        List<Tenancy> tenancies = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            tenancies.add(fixtures.createTenancy());
        }

        try (AgroalDataSource poolA = TestPools.pool(db, 3); AgroalDataSource poolB = TestPools.pool(db, 3);
                AgroalDataSource writerPool = TestPools.pool(db, WRITERS + 1)) {
            // Small batches: many stamping transactions, so the two instances interleave constantly.
            SequencerLoop a = loop(poolA, 50);
            SequencerLoop b = loop(poolB, 50);
            Thread ta = new Thread(a, "sequencer-a");
            Thread tb = new Thread(b, "sequencer-b");
            ta.start();
            tb.start();

            ExecutorService executor = Executors.newFixedThreadPool(WRITERS + 1);
            List<Future<?>> writers = new ArrayList<>();
            for (int w = 0; w < WRITERS; w++) {
                long deadline = System.nanoTime() + WRITE_PHASE.toNanos();
                writers.add(executor.submit(() -> write(writerPool, tenancies, deadline)));
            }
            Future<CheckerResult> checker = executor.submit(() -> check(db));
            for (Future<?> writer : writers) {
                writer.get(60, TimeUnit.SECONDS);
            }
            writing.set(false);
            long writersDone = System.nanoTime();
            await().atMost(Duration.ofSeconds(60)).until(() -> db.queryLong(
                    "SELECT count(*) FROM \"SyncChange\" WHERE \"sequenceId\" IS NULL") == 0);
            long drained = System.nanoTime();
            CheckerResult result = checker.get(60, TimeUnit.SECONDS);
            LOG.infof("%d user inserts, %d updates, %d deletes, %d rollbacks; drained %d ms after the writers; "
                    + "checker %d rounds (done %d ms after drain); A stamped %d entries in %d batches, B %d in %d",
                    userInserts.get(), userUpdates.get(), userDeletes.get(), rollbacks.get(),
                    (drained - writersDone) / 1_000_000, result.rounds(), (System.nanoTime() - drained) / 1_000_000,
                    a.stats().entriesStamped(), a.stats().batches(), b.stats().entriesStamped(), b.stats().batches());
            a.stop();
            b.stop();
            ta.join(10_000);
            tb.join(10_000);
            executor.shutdown();

            assertThat(result.violations()).as("unseen ids at or below an already seen max").isEmpty();
            assertThat(result.rounds()).as("checker rounds").isGreaterThan(20);
            assertThat(userInserts.get()).as("enough concurrent work to mean something").isGreaterThan(500);
            assertThat(userUpdates.get()).isPositive();
            assertThat(userDeletes.get()).isPositive();
            assertThat(rollbacks.get()).isPositive();

            // Every committed change has its entry, and nothing of a rolled-back writer does.
            assertThat(db.queryLong("SELECT count(*) FROM entry_log WHERE table_name = 'ProjectUser'"))
                    .as("one user entry per insert, update and delete")
                    .isEqualTo(userInserts.get() + userUpdates.get() + userDeletes.get());
            assertThat(db.queryLong("SELECT count(*) FROM entry_log WHERE table_name = 'ContactChannel'"))
                    .as("one channel entry per insert and per cascaded delete")
                    .isEqualTo(userInserts.get() + userDeletes.get());

            assertThat(db.queryLong("SELECT count(*) - count(DISTINCT entry_id) FROM stamp_log"))
                    .as("no entry stamped twice").isZero();
            assertThat(db.queryLong("""
                    SELECT count(*) FROM entry_log e
                    WHERE (SELECT count(*) FROM stamp_log s WHERE s.entry_id = e.entry_id)
                        + (SELECT count(*) FROM drop_log d WHERE d.entry_id = e.entry_id AND d.sequence_id IS NULL)
                          <> 1""")).as("every entry stamped once or dropped unstamped, never both, never neither")
                    .isZero();
            assertThat(db.queryLong("""
                    SELECT count(*) FROM drop_log d JOIN entry_log e ON e.entry_id = d.entry_id
                    WHERE NOT EXISTS (
                        SELECT 1 FROM stamp_log s JOIN entry_log n ON n.entry_id = s.entry_id
                        WHERE s.tx = d.tx AND n.tenancy = e.tenancy AND n.table_name = e.table_name
                          AND n.entry_key = e.entry_key
                          AND CASE WHEN d.sequence_id IS NULL THEN n.entry_id <> e.entry_id
                                   ELSE s.sequence_id > d.sequence_id END)"""))
                    .as("an entry is deleted only with another, newer stamp of its key in the same transaction")
                    .isZero();
            assertThat(db.queryLong("""
                    SELECT count(*) FROM (
                        SELECT e.tenancy, e.table_name, e.entry_key, max(s.sequence_id) AS last
                        FROM entry_log e JOIN stamp_log s ON s.entry_id = e.entry_id
                        GROUP BY 1, 2, 3) AS k
                    WHERE (SELECT array_agg(c."sequenceId") FROM "SyncChange" c
                           WHERE c."tenancyId" = k.tenancy AND c."tableName" = k.table_name
                             AND c."primaryKey" = k.entry_key) IS DISTINCT FROM ARRAY[k.last]"""))
                    .as("each key ends with exactly one entry, carrying its highest stamp").isZero();
            assertThat(a.stats().entriesStamped() + b.stats().entriesStamped())
                    .isEqualTo(db.queryLong("SELECT count(*) FROM stamp_log"));
            assertThat(a.stats().entriesCompacted() + b.stats().entriesCompacted())
                    .isEqualTo(db.queryLong("SELECT count(*) FROM drop_log"));
            assertThat(a.stats().entriesStamped()).as("instance A took part").isPositive();
            assertThat(b.stats().entriesStamped()).as("instance B took part").isPositive();
            assertThat(a.stats().lastError()).isNull();
            assertThat(b.stats().lastError()).isNull();
            assertThat(db.queryLong("""
                    SELECT count(DISTINCT "tenancyId") FROM "OutgoingRequest" WHERE "startedFulfillingAt" IS NULL"""))
                    .as("every tenancy written to has its one pending request").isEqualTo(tenancies.size());
        }
    }

    private static SequencerLoop loop(AgroalDataSource pool, int batchSize) {
        Sequencer sequencer = new Sequencer(pool, new Sequencer.Settings(batchSize, 1000), Clock.systemUTC());
        return new SequencerLoop(sequencer, () -> true, Duration.ofMillis(20), Duration.ofSeconds(1),
                Clock.systemUTC(), batch -> {
                });
    }

    private record UserRow(Tenancy tenancy, UUID id) {
    }

    private Void write(AgroalDataSource pool, List<Tenancy> tenancies, long deadline) throws SQLException {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        List<UserRow> mine = new ArrayList<>();
        try (Connection c = pool.getConnection()) {
            c.setAutoCommit(false);
            while (System.nanoTime() < deadline) {
                int dice = random.nextInt(10);
                if (dice < 5 || mine.isEmpty()) {
                    Tenancy tenancy = tenancies.get(random.nextInt(tenancies.size()));
                    UUID user = UUID.randomUUID();
                    insertUser(c, tenancy, user);
                    if (dice == 0) {
                        c.rollback();
                        rollbacks.incrementAndGet();
                    } else {
                        c.commit();
                        mine.add(new UserRow(tenancy, user));
                        userInserts.incrementAndGet();
                    }
                } else if (dice < 8) {
                    UserRow row = mine.get(random.nextInt(mine.size()));
                    int updated = execute(c, """
                            UPDATE "ProjectUser" SET "displayName" = md5(random()::text), "updatedAt" = now()
                            WHERE "tenancyId" = ? AND "projectUserId" = ?""", row);
                    c.commit();
                    userUpdates.addAndGet(updated);
                } else {
                    UserRow row = mine.remove(random.nextInt(mine.size()));
                    int deleted = execute(c, """
                            DELETE FROM "ProjectUser" WHERE "tenancyId" = ? AND "projectUserId" = ?""", row);
                    c.commit();
                    userDeletes.addAndGet(deleted);
                }
            }
        }
        return null;
    }

    /** A user and one non-primary channel (so the channel writes no derived user entry). */
    private static void insertUser(Connection c, Tenancy tenancy, UUID user) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt") VALUES (?, ?, ?, 'main', now())""")) {
            ps.setObject(1, tenancy.id());
            ps.setObject(2, user);
            ps.setString(3, tenancy.projectId());
            ps.executeUpdate();
        }
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isVerified",
                                              "value") VALUES (?, ?, gen_random_uuid(), now(), 'EMAIL', false, ?)""")) {
            ps.setObject(1, tenancy.id());
            ps.setObject(2, user);
            ps.setString(3, user + "@example.com");
            ps.executeUpdate();
        }
    }

    private static int execute(Connection c, String sql, UserRow row) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setObject(1, row.tenancy().id());
            ps.setObject(2, row.id());
            return ps.executeUpdate();
        }
    }

    private record CheckerResult(long rounds, List<String> violations) {
    }

    /** Runs until the writers stop and every entry is stamped, then one more round. */
    private CheckerResult check(TestDatabase db) throws SQLException {
        Set<Long> seen = new HashSet<>();
        long maxSeen = Long.MIN_VALUE;
        long rounds = 0;
        List<String> violations = new ArrayList<>();
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            boolean last = false;
            while (!last) {
                last = !writing.get() && !anyUnstamped(s);
                long roundMax = maxSeen;
                // One statement = one snapshot.
                try (ResultSet rs = s.executeQuery(
                        "SELECT \"sequenceId\" FROM \"SyncChange\" WHERE \"sequenceId\" IS NOT NULL")) {
                    while (rs.next()) {
                        long id = rs.getLong(1);
                        if (seen.add(id)) {
                            if (id <= maxSeen && violations.size() < 20) {
                                violations.add("round " + rounds + ": new id " + id + " <= earlier max " + maxSeen);
                            }
                            roundMax = Math.max(roundMax, id);
                        }
                    }
                }
                maxSeen = roundMax;
                rounds++;
            }
        }
        return new CheckerResult(rounds, violations);
    }

    private static boolean anyUnstamped(Statement s) throws SQLException {
        try (ResultSet rs = s.executeQuery(Sequencer.ANY_UNSTAMPED)) {
            rs.next();
            return rs.getBoolean(1);
        }
    }
}
