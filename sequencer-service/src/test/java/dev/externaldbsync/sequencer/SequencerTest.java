package dev.externaldbsync.sequencer;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Clock;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.schema.SourceTable;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.agroal.api.AgroalDataSource;

/** The core batch against a real, migrated database (no loop: each test drives {@link Sequencer#runOnce()}). */
class SequencerTest {

    private static TestDatabase db;
    private static AgroalDataSource pool;
    private static StackAuthFixtures fixtures;
    private Sequencer sequencer;

    @BeforeAll
    static void migrate() {
        db = TestPools.migratedDatabase("sequencer");
        pool = TestPools.pool(db, 4);
        fixtures = new StackAuthFixtures(db);
    }

    @AfterAll
    static void closePool() {
        pool.close();
    }

    @BeforeEach
    void newSequencerOnADrainedDatabase() throws Exception {
        sequencer = new Sequencer(pool, new Sequencer.Settings(1000, 1000), Clock.systemUTC());
        while (!sequencer.runOnce().nothingMarked()) {
            // each test starts with nothing marked, whatever an earlier one left
        }
    }

    @Test
    void insertUpdateAndDeleteAreStampedMarksClearedAndOneRequestPendsPerTenancy() throws Exception {
        Tenancy a = fixtures.createTenancy();
        Tenancy b = fixtures.createTenancy();
        UUID ada = fixtures.createUser(a, "Ada", "ada@example.com");
        UUID bob = fixtures.createUser(a, "Bob", "bob@example.com");
        UUID cy = fixtures.createUser(b, "Cy", null);

        SequencingBatch inserted = sequencer.runOnce();

        assertThat(inserted.rowsPerTable()).containsEntry(SourceTable.PROJECT_USER, 3)
                .containsEntry(SourceTable.CONTACT_CHANNEL, 2);
        assertThat(inserted.tenancies()).isEqualTo(2);
        assertThat(markedRows(a)).isZero();
        assertThat(markedRows(b)).isZero();
        assertThat(pendingRequests(a)).isEqualTo(1);
        assertThat(pendingRequests(b)).isEqualTo(1);
        long adaFirst = userStamp(a, ada);

        fixtures.renameUser(a, ada, "Ada Lovelace");
        assertThat(userMarked(a, ada)).as("marked by the update").isTrue();
        SequencingBatch updated = sequencer.runOnce();

        assertThat(updated.rowsPerTable()).containsEntry(SourceTable.PROJECT_USER, 1);
        assertThat(userMarked(a, ada)).isFalse();
        assertThat(userStamp(a, ada)).isGreaterThan(adaFirst).isGreaterThan(userStamp(a, bob));
        assertThat(pendingRequests(a)).as("deduplicated while pending").isEqualTo(1);

        fixtures.deleteUser(a, bob);
        fixtures.deleteUser(b, cy);
        SequencingBatch deleted = sequencer.runOnce();

        // Bob's user row and his cascaded email channel, and Cy's user row.
        assertThat(deleted.rowsPerTable()).containsEntry(SourceTable.DELETED_ROW, 3);
        assertThat(db.queryLong("""
                SELECT count(*) FROM "DeletedRow" WHERE "tenancyId" IN (?, ?)
                  AND "sequenceId" > ? AND NOT "shouldUpdateSequenceId\"""", a.id(), b.id(), userStamp(a, ada)))
                .isEqualTo(3);
        assertThat(pendingRequests(a)).isEqualTo(1);
        assertThat(pendingRequests(b)).isEqualTo(1);
        assertThat(sequencer.runOnce().nothingMarked()).as("nothing left").isTrue();
    }

    @Test
    void rolledBackChangeIsNeverStamped() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID stamped = fixtures.createUser(tenancy, "Stamped", null);
        sequencer.runOnce();
        long stamp = userStamp(tenancy, stamped);
        db.execute("DELETE FROM \"OutgoingRequest\" WHERE \"tenancyId\" = '" + tenancy.id() + "'");

        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            insertUser(c, tenancy, UUID.randomUUID());
            update(c, "UPDATE \"ProjectUser\" SET \"displayName\" = 'Rolled back' WHERE \"projectUserId\" = ?",
                    stamped);
            update(c, "DELETE FROM \"ProjectUser\" WHERE \"projectUserId\" = ?", stamped);
            c.rollback();
        }
        sequencer.runOnce();

        assertThat(db.queryLong("SELECT count(*) FROM \"ProjectUser\" WHERE \"tenancyId\" = ?", tenancy.id()))
                .isEqualTo(1);
        assertThat(userStamp(tenancy, stamped)).isEqualTo(stamp);
        assertThat(userMarked(tenancy, stamped)).isFalse();
        assertThat(db.queryLong("SELECT count(*) FROM \"DeletedRow\" WHERE \"tenancyId\" = ?", tenancy.id()))
                .isZero();
        assertThat(pendingRequests(tenancy)).isZero();
    }

    @Test
    void openTransactionsChangeIsStampedOnlyAfterItCommitsAndAboveEverythingStampedMeanwhile() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID existing = fixtures.createUser(tenancy, "Existing", null);
        sequencer.runOnce();
        long before = userStamp(tenancy, existing);
        UUID added = UUID.randomUUID();

        try (Connection writer = db.connect()) {
            writer.setAutoCommit(false);
            update(writer, "UPDATE \"ProjectUser\" SET \"displayName\" = 'Changed' WHERE \"projectUserId\" = ?",
                    existing);
            insertUser(writer, tenancy, added);
            Tenancy other = fixtures.createTenancy();
            UUID meanwhile = fixtures.createUser(other, "Meanwhile", null);

            // Must not wait for the writer's row lock: SKIP LOCKED.
            SequencingBatch duringTransaction = CompletableFuture.supplyAsync(this::runOnceUnchecked)
                    .get(20, TimeUnit.SECONDS);

            assertThat(duringTransaction.rowsPerTable()).containsEntry(SourceTable.PROJECT_USER, 1);
            assertThat(userStamp(other, meanwhile)).isGreaterThan(before);
            assertThat(userStamp(tenancy, existing)).as("locked row skipped").isEqualTo(before);
            assertThat(pendingRequests(tenancy)).isEqualTo(1);
            writer.commit();
            long stampedMeanwhile = userStamp(other, meanwhile);

            sequencer.runOnce();

            assertThat(userMarked(tenancy, existing)).isFalse();
            assertThat(userStamp(tenancy, existing)).isGreaterThan(stampedMeanwhile);
            assertThat(userStamp(tenancy, added)).isGreaterThan(stampedMeanwhile);
        }
    }

    /**
     * Remove → re-add within one window: both the tombstone and the live row are stamped and the live row exists,
     * so the engine (which deletes only keys without a live row at its read snapshot) ends with the row present.
     */
    @Test
    void removeThenReAddWithinOneWindowLeavesTheLiveRowStampedBesideTheTombstone() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "First life", null);
        sequencer.runOnce();
        long firstStamp = userStamp(tenancy, user);

        fixtures.deleteUser(tenancy, user);
        try (Connection c = db.connect()) {
            insertUser(c, tenancy, user);
        }
        sequencer.runOnce();

        assertThat(userMarked(tenancy, user)).isFalse();
        long liveStamp = userStamp(tenancy, user);
        List<List<Object>> tombstones = tombstones(tenancy, user);
        assertThat(tombstones).hasSize(1);
        long tombstoneStamp = ((Number) tombstones.get(0).get(0)).longValue();
        assertThat(liveStamp).isGreaterThan(firstStamp);
        assertThat(tombstoneStamp).isGreaterThan(firstStamp).isNotEqualTo(liveStamp);
        assertThat(tombstones.get(0).get(1)).as("tombstone stamped").isEqualTo(false);
    }

    /** Re-add → remove within one window: only a stamped tombstone remains, no live row; the key ends absent. */
    @Test
    void reAddThenRemoveWithinOneWindowLeavesOnlyAStampedTombstone() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Short life", null);
        fixtures.deleteUser(tenancy, user);

        sequencer.runOnce();

        assertThat(db.queryLong("SELECT count(*) FROM \"ProjectUser\" WHERE \"projectUserId\" = ?", user)).isZero();
        List<List<Object>> tombstones = tombstones(tenancy, user);
        assertThat(tombstones).hasSize(1);
        assertThat(tombstones.get(0).get(0)).as("stamped").isNotNull();
        assertThat(tombstones.get(0).get(1)).isEqualTo(false);
        assertThat(pendingRequests(tenancy)).isEqualTo(1);
    }

    @Test
    void roundRobinServesEveryWaitingTenancyBeforeAnyTwiceAndWrapsAround() throws Exception {
        TestDatabase own = TestPools.migratedDatabase("roundrobin");
        try (AgroalDataSource ownPool = TestPools.pool(own, 2)) {
            StackAuthFixtures ownFixtures = new StackAuthFixtures(own);
            List<Tenancy> tenancies = List.of(ownFixtures.createTenancy(), ownFixtures.createTenancy(),
                    ownFixtures.createTenancy(), ownFixtures.createTenancy(), ownFixtures.createTenancy());
            for (Tenancy t : tenancies) {
                for (int i = 0; i < 3; i++) {
                    ownFixtures.createUser(t, "u" + i, null);
                }
            }
            Sequencer small = new Sequencer(ownPool, new Sequencer.Settings(2, 2), Clock.systemUTC());

            for (int batch = 0; batch < 3; batch++) {
                SequencingBatch result = small.runOnce();
                assertThat(result.tenancies()).isLessThanOrEqualTo(2);
                assertThat(result.mayHaveMore()).isTrue();
            }
            // Three batches of two tenancies (one row each): all five served once, one of them twice (wrap-around).
            assertThat(own.queryRows("""
                    SELECT "tenancyId", count(*) FROM "ProjectUser" WHERE "sequenceId" IS NOT NULL
                    GROUP BY "tenancyId\"""")).hasSize(5)
                    .allSatisfy(row -> assertThat(((Number) row.get(1)).longValue()).isBetween(1L, 2L));

            int guard = 0;
            while (!small.runOnce().nothingMarked() && guard++ < 20) {
                // drains 15 rows, two per batch at most
            }
            assertThat(own.queryLong("SELECT count(*) FROM \"ProjectUser\" WHERE \"shouldUpdateSequenceId\""))
                    .isZero();
            assertThat(own.queryLong("SELECT count(*) FROM \"OutgoingRequest\"")).isEqualTo(5);
        }
    }

    @Test
    void fairnessOneTenancyWith200000MarkedRowsDoesNotHoldBackAnotherTenancysSingleRow() throws Exception {
        TestDatabase own = TestPools.migratedDatabase("fairness");
        try (AgroalDataSource ownPool = TestPools.pool(own, 2)) {
            StackAuthFixtures ownFixtures = new StackAuthFixtures(own);
            Tenancy big = ownFixtures.createTenancy();
            Tenancy small = ownFixtures.createTenancy();
            own.update("""
                    INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                               "updatedAt")
                    SELECT ?, gen_random_uuid(), ?, 'main', now() FROM generate_series(1, 200000)""",
                    big.id(), big.projectId());
            UUID smallUser = ownFixtures.createUser(small, "Small", null);
            Sequencer fair = new Sequencer(ownPool, new Sequencer.Settings(1000, 1000), Clock.systemUTC());

            SequencingBatch first = fair.runOnce();

            assertThat(own.queryValue("""
                    SELECT "shouldUpdateSequenceId" FROM "ProjectUser" WHERE "tenancyId" = ? AND "projectUserId" = ?""",
                    small.id(), smallUser)).isEqualTo(false);
            assertThat(own.queryLong("""
                    SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ? AND "startedFulfillingAt" IS NULL""",
                    small.id())).isEqualTo(1);
            assertThat(first.rowsPerTable().get(SourceTable.PROJECT_USER)).isBetween(2, 1001);
            assertThat(first.mayHaveMore()).isTrue();
            assertThat(own.queryLong("SELECT count(*) FROM \"ProjectUser\" WHERE \"shouldUpdateSequenceId\""))
                    .isGreaterThanOrEqualTo(199_000);
        }
    }

    @Test
    void waitingRowsAreCountedUpToTheCap() throws Exception {
        TestDatabase own = TestPools.migratedDatabase("waiting");
        try (AgroalDataSource ownPool = TestPools.pool(own, 2)) {
            StackAuthFixtures ownFixtures = new StackAuthFixtures(own);
            Tenancy tenancy = ownFixtures.createTenancy();
            for (int i = 0; i < 5; i++) {
                ownFixtures.createUser(tenancy, "u" + i, null);
            }
            Sequencer counting = new Sequencer(ownPool, new Sequencer.Settings(1000, 1000), Clock.systemUTC());

            assertThat(counting.waitingRows(3)).containsEntry(SourceTable.PROJECT_USER, 4L)
                    .containsEntry(SourceTable.CONTACT_CHANNEL, 0L);
            assertThat(counting.waitingRows(100)).containsEntry(SourceTable.PROJECT_USER, 5L);
            counting.runOnce();
            assertThat(counting.waitingRows(100)).containsEntry(SourceTable.PROJECT_USER, 0L);
        }
    }

    private SequencingBatch runOnceUnchecked() {
        try {
            return sequencer.runOnce();
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void insertUser(Connection c, Tenancy tenancy, UUID user) throws Exception {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt") VALUES (?, ?, ?, 'main', now())""")) {
            ps.setObject(1, tenancy.id());
            ps.setObject(2, user);
            ps.setString(3, tenancy.projectId());
            ps.executeUpdate();
        }
    }

    private static void update(Connection c, String sql, Object param) throws Exception {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setObject(1, param);
            ps.executeUpdate();
        }
    }

    private static List<List<Object>> tombstones(Tenancy tenancy, UUID user) {
        return db.queryRows("""
                SELECT "sequenceId", "shouldUpdateSequenceId" FROM "DeletedRow"
                WHERE "tenancyId" = ? AND "tableName" = 'ProjectUser' AND "primaryKey" ->> 'projectUserId' = ?""",
                tenancy.id(), user.toString());
    }

    private static long markedRows(Tenancy tenancy) {
        return db.queryLong("""
                SELECT (SELECT count(*) FROM "ProjectUser" WHERE "tenancyId" = ?1 AND ("shouldUpdateSequenceId"
                                                                                   OR "sequenceId" IS NULL))
                     + (SELECT count(*) FROM "ContactChannel" WHERE "tenancyId" = ?1 AND ("shouldUpdateSequenceId"
                                                                                      OR "sequenceId" IS NULL))"""
                .replace("?1", "'" + tenancy.id() + "'"));
    }

    private static long pendingRequests(Tenancy tenancy) {
        return db.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ? AND "startedFulfillingAt" IS NULL""",
                tenancy.id());
    }

    private static long userStamp(Tenancy tenancy, UUID user) {
        return db.queryLong("""
                SELECT "sequenceId" FROM "ProjectUser" WHERE "tenancyId" = ? AND "projectUserId" = ?""",
                tenancy.id(), user);
    }

    private static boolean userMarked(Tenancy tenancy, UUID user) {
        return (Boolean) db.queryValue("""
                SELECT "shouldUpdateSequenceId" FROM "ProjectUser" WHERE "tenancyId" = ? AND "projectUserId" = ?""",
                tenancy.id(), user);
    }
}
