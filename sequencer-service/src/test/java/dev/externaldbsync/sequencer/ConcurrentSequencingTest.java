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

import dev.externaldbsync.schema.SourceTable;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.agroal.api.AgroalDataSource;
import dev.externaldbsync.service.NotificationListener;

/**
 * Two sequencer instances (separate pools, like two replicas during a rollout) and 8 writer threads for ~10 s.
 * <p>
 * The checker stands in for the sync engine: it repeatedly reads, in one snapshot, every stamped id, and fails if an
 * id it has never seen is at or below the largest id it saw in an earlier read (a sync that has applied up to N must
 * never later find an unseen committed id &le; N).
 * <p>
 * Exactly-once: writers only make changes that must each produce exactly one stamp, and count them: inserts (a user
 * and one non-primary channel), updates of a row that is not marked ({@code WHERE NOT "shouldUpdateSequenceId"}, so the
 * change cannot coalesce with an unstamped one), deletes of a user whose rows are all stamped (one tombstone for the
 * user and one for the cascaded channel), and rolled-back transactions (no stamp). A test-only trigger logs every
 * stamp; the log must match the counts exactly.
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
    void twoSequencersAndEightWritersKeepCommitOrderAndStampEveryChangeExactlyOnce() throws Exception {
        TestDatabase db = TestPools.migratedDatabase("concurrent");
        db.execute("""
                CREATE TABLE stamp_log (table_name text NOT NULL, row_key text NOT NULL, sequence_id bigint NOT NULL)""",
                """
                CREATE FUNCTION log_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO stamp_log VALUES (TG_TABLE_NAME, to_jsonb(NEW) ->> TG_ARGV[0], NEW."sequenceId");
                    RETURN NULL;
                END $$""");
        for (SourceTable table : SourceTable.values()) {
            db.execute("CREATE TRIGGER log_stamp AFTER UPDATE ON " + table.quotedName() + " FOR EACH ROW "
                    + "WHEN (OLD.\"sequenceId\" IS DISTINCT FROM NEW.\"sequenceId\") EXECUTE FUNCTION log_stamp('"
                    + (table == SourceTable.PROJECT_USER ? "projectUserId" : "id") + "')");
        }
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
            await().atMost(Duration.ofSeconds(60)).until(() -> db.queryLong("""
                    SELECT (SELECT count(*) FROM "ProjectUser" WHERE "shouldUpdateSequenceId")
                         + (SELECT count(*) FROM "ContactChannel" WHERE "shouldUpdateSequenceId")
                         + (SELECT count(*) FROM "DeletedRow" WHERE "shouldUpdateSequenceId")""") == 0);
            long drained = System.nanoTime();
            CheckerResult result = checker.get(60, TimeUnit.SECONDS);
            LOG.infof("%d user inserts, %d updates, %d deletes, %d rollbacks; drained %d ms after the writers; "
                    + "checker %d rounds (done %d ms after drain); A stamped %d rows in %d batches, B %d in %d",
                    userInserts.get(), userUpdates.get(), userDeletes.get(), rollbacks.get(),
                    (drained - writersDone) / 1_000_000, result.rounds(), (System.nanoTime() - drained) / 1_000_000,
                    a.stats().rowsStamped(), a.stats().batches(), b.stats().rowsStamped(), b.stats().batches());
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

            long stampsUser = db.queryLong("SELECT count(*) FROM stamp_log WHERE table_name = 'ProjectUser'");
            long stampsChannel = db.queryLong("SELECT count(*) FROM stamp_log WHERE table_name = 'ContactChannel'");
            long stampsTombstone = db.queryLong("SELECT count(*) FROM stamp_log WHERE table_name = 'DeletedRow'");
            assertThat(stampsUser).as("one stamp per user insert and per update")
                    .isEqualTo(userInserts.get() + userUpdates.get());
            assertThat(stampsChannel).as("one stamp per channel insert").isEqualTo(userInserts.get());
            assertThat(stampsTombstone).as("user + channel tombstone per delete").isEqualTo(2 * userDeletes.get());
            assertThat(db.queryLong("SELECT count(*) FROM \"DeletedRow\"")).isEqualTo(2 * userDeletes.get());
            assertThat(db.queryLong("""
                    SELECT count(*) FROM "ProjectUser" u
                    LEFT JOIN (SELECT row_key, max(sequence_id) AS last FROM stamp_log
                               WHERE table_name = 'ProjectUser' GROUP BY row_key) l
                           ON l.row_key = u."projectUserId"::text
                    WHERE u."sequenceId" IS DISTINCT FROM l.last"""))
                    .as("each row carries its last stamp").isZero();
            assertThat(a.stats().rowsStamped() + b.stats().rowsStamped())
                    .isEqualTo(stampsUser + stampsChannel + stampsTombstone);
            assertThat(a.stats().rowsStamped()).as("instance A took part").isPositive();
            assertThat(b.stats().rowsStamped()).as("instance B took part").isPositive();
            assertThat(a.stats().lastError()).isNull();
            assertThat(b.stats().lastError()).isNull();
            assertThat(db.queryLong("""
                    SELECT count(DISTINCT "tenancyId") FROM "OutgoingRequest" WHERE "startedFulfillingAt" IS NULL"""))
                    .as("every tenancy written to has its one pending request").isEqualTo(tenancies.size());
        }
    }

    private static SequencerLoop loop(AgroalDataSource pool, int batchSize) {
        Sequencer sequencer = new Sequencer(pool, new Sequencer.Settings(batchSize, 1000), Clock.systemUTC());
        return new SequencerLoop(sequencer, new NotificationListener(pool, Sequencer.CHANGES_CHANNEL, Clock.systemUTC()), () -> true,
                Duration.ofSeconds(1), Duration.ofSeconds(1), Clock.systemUTC(), batch -> {
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
                            WHERE "tenancyId" = ? AND "projectUserId" = ? AND NOT "shouldUpdateSequenceId\"""", row);
                    c.commit();
                    userUpdates.addAndGet(updated);
                } else {
                    UserRow row = mine.get(random.nextInt(mine.size()));
                    // Only a user whose rows are all stamped: a marked row deleted before its stamp would be a
                    // change that (correctly) never gets one, which this count cannot tell apart from a lost stamp.
                    int deleted = execute(c, """
                            DELETE FROM "ProjectUser" AS u
                            WHERE "tenancyId" = ? AND "projectUserId" = ? AND NOT "shouldUpdateSequenceId"
                              AND NOT EXISTS (SELECT 1 FROM "ContactChannel" AS cc
                                              WHERE cc."tenancyId" = u."tenancyId"
                                                AND cc."projectUserId" = u."projectUserId"
                                                AND cc."shouldUpdateSequenceId")""", row);
                    c.commit();
                    if (deleted == 1) {
                        mine.remove(row);
                        userDeletes.incrementAndGet();
                    }
                }
            }
        }
        return null;
    }

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

    /** Runs until the writers stop and every mark is stamped, then one more round. */
    private CheckerResult check(TestDatabase db) throws SQLException {
        Set<Long> seen = new HashSet<>();
        long maxSeen = Long.MIN_VALUE;
        long rounds = 0;
        List<String> violations = new ArrayList<>();
        try (Connection c = db.connect(); Statement s = c.createStatement()) {
            boolean last = false;
            while (!last) {
                last = !writing.get() && !anyMarked(s);
                long roundMax = maxSeen;
                // One statement = one snapshot.
                try (ResultSet rs = s.executeQuery("""
                        SELECT "sequenceId" FROM "ProjectUser" WHERE "sequenceId" IS NOT NULL
                        UNION ALL SELECT "sequenceId" FROM "ContactChannel" WHERE "sequenceId" IS NOT NULL
                        UNION ALL SELECT "sequenceId" FROM "DeletedRow" WHERE "sequenceId" IS NOT NULL""")) {
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

    private static boolean anyMarked(Statement s) throws SQLException {
        try (ResultSet rs = s.executeQuery("""
                SELECT EXISTS (SELECT 1 FROM "ProjectUser" WHERE "shouldUpdateSequenceId")
                    OR EXISTS (SELECT 1 FROM "ContactChannel" WHERE "shouldUpdateSequenceId")
                    OR EXISTS (SELECT 1 FROM "DeletedRow" WHERE "shouldUpdateSequenceId")""")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }
}
