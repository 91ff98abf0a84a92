package dev.externaldbsync.sequencer;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Clock;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.agroal.api.AgroalDataSource;

/**
 * The core batch against a real, migrated database whose capture triggers write the change log (no loop: each test
 * drives {@link Sequencer#runOnce()}).
 */
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
    void newSequencerOnADrainedLog() throws Exception {
        sequencer = new Sequencer(pool, new Sequencer.Settings(1000, 1000), Clock.systemUTC());
        while (!sequencer.runOnce().nothingWaiting()) {
            // each test starts with nothing unstamped, whatever an earlier one left
        }
    }

    @Test
    void insertUpdateAndDeleteEntriesAreStampedCompactedToOnePerKeyAndOneRequestPendsPerTenancy() throws Exception {
        Tenancy a = fixtures.createTenancy();
        Tenancy b = fixtures.createTenancy();
        UUID ada = fixtures.createUser(a, "Ada", "ada@example.com");
        UUID bob = fixtures.createUser(a, "Bob", "bob@example.com");
        UUID cy = fixtures.createUser(b, "Cy", null);

        SequencingBatch inserted = sequencer.runOnce();

        // Ada's and Bob's primary email also wrote a ProjectUser entry each: two entries of one key, one stamp.
        assertThat(inserted.entriesPerTable()).containsEntry("ProjectUser", 3).containsEntry("ContactChannel", 2);
        assertThat(inserted.compacted()).isEqualTo(2);
        assertThat(inserted.tenancies()).isEqualTo(2);
        assertThat(unstamped(a) + unstamped(b)).isZero();
        assertThat(everyKeyHasExactlyOneStampedEntry(a)).isTrue();
        assertThat(pendingRequests(a)).isEqualTo(1);
        assertThat(pendingRequests(b)).isEqualTo(1);
        long adaFirst = userStamp(a, ada);

        fixtures.renameUser(a, ada, "Ada Lovelace");
        assertThat(unstamped(a)).as("the update wrote an entry").isEqualTo(1);
        SequencingBatch updated = sequencer.runOnce();

        assertThat(updated.entriesPerTable()).containsEntry("ProjectUser", 1).containsEntry("ContactChannel", 0);
        assertThat(updated.compacted()).as("Ada's older entry").isEqualTo(1);
        assertThat(userStamp(a, ada)).isGreaterThan(adaFirst).isGreaterThan(userStamp(a, bob));
        assertThat(pendingRequests(a)).as("deduplicated while pending").isEqualTo(1);

        long beforeDeletes = userStamp(a, ada);
        fixtures.deleteUser(a, bob);
        fixtures.deleteUser(b, cy);
        SequencingBatch deleted = sequencer.runOnce();

        // Bob's user and his cascaded email channel, and Cy's user: each key once, above everything before.
        assertThat(deleted.entriesPerTable()).containsEntry("ProjectUser", 2).containsEntry("ContactChannel", 1);
        assertThat(db.queryLong("""
                SELECT count(*) FROM "SyncChange" WHERE "tenancyId" IN (?, ?) AND "sequenceId" > ?""",
                a.id(), b.id(), beforeDeletes)).isEqualTo(3);
        assertThat(everyKeyHasExactlyOneStampedEntry(a)).isTrue();
        assertThat(everyKeyHasExactlyOneStampedEntry(b)).isTrue();
        assertThat(db.queryLong("SELECT count(*) FROM \"ProjectUser\" WHERE \"projectUserId\" IN (?, ?)", bob, cy))
                .as("the engine reads a stamped key without a live row as a delete").isZero();
        assertThat(pendingRequests(a)).isEqualTo(1);
        assertThat(pendingRequests(b)).isEqualTo(1);
        assertThat(sequencer.runOnce().nothingWaiting()).as("nothing left").isTrue();
    }

    @Test
    void aRolledBackWritersEntryNeverAppearsAndIsNeverStamped() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID stamped = fixtures.createUser(tenancy, "Stamped", null);
        sequencer.runOnce();
        long stamp = userStamp(tenancy, stamped);
        long stampsBefore = sequencer.stampsIssued();
        db.execute("DELETE FROM \"OutgoingRequest\" WHERE \"tenancyId\" = '" + tenancy.id() + "'");
        UUID neverCommitted = UUID.randomUUID();

        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            insertUser(c, tenancy, neverCommitted);
            update(c, "UPDATE \"ProjectUser\" SET \"displayName\" = 'Rolled back' WHERE \"projectUserId\" = ?",
                    stamped);
            update(c, "DELETE FROM \"ProjectUser\" WHERE \"projectUserId\" = ?", stamped);
            assertThat(count(c, "SELECT count(*) FROM \"SyncChange\" WHERE \"tenancyId\" = ? AND \"sequenceId\" IS NULL",
                    tenancy.id())).as("the writer's own transaction sees its entries").isPositive();
            c.rollback();
        }
        SequencingBatch batch = sequencer.runOnce();

        assertThat(batch.nothingWaiting()).isTrue();
        assertThat(sequencer.stampsIssued()).isEqualTo(stampsBefore);
        assertThat(db.queryRows("SELECT \"sequenceId\" FROM \"SyncChange\" WHERE \"tenancyId\" = ?", tenancy.id()))
                .as("only the committed user's one entry, with its old stamp").containsExactly(List.of(stamp));
        assertThat(db.queryLong("""
                SELECT count(*) FROM "SyncChange" WHERE "primaryKey" ->> 'projectUserId' = ?""",
                neverCommitted.toString())).isZero();
        assertThat(pendingRequests(tenancy)).isZero();
    }

    @Test
    void anOpenTransactionsEntryIsStampedOnlyAfterItCommitsAndAboveEverythingStampedMeanwhile() throws Exception {
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

            // The writer holds a row lock on its user, not on anything the sequencer touches.
            SequencingBatch duringTransaction = CompletableFuture.supplyAsync(this::runOnceUnchecked)
                    .get(20, TimeUnit.SECONDS);

            assertThat(duringTransaction.entriesPerTable()).containsEntry("ProjectUser", 1);
            assertThat(userStamp(other, meanwhile)).isGreaterThan(before);
            assertThat(keyEntries(tenancy, existing)).as("the invisible entry is neither stamped nor compacted away")
                    .containsExactly(before);
            assertThat(pendingRequests(tenancy)).isEqualTo(1);
            writer.commit();
            long stampedMeanwhile = userStamp(other, meanwhile);

            sequencer.runOnce();

            assertThat(keyEntries(tenancy, existing)).singleElement().satisfies(
                    s -> assertThat(s).isGreaterThan(stampedMeanwhile));
            assertThat(userStamp(tenancy, added)).isGreaterThan(stampedMeanwhile);
        }
    }

    @Test
    void compactionLeavesOneEntryPerKeyAndNeverDeletesAnEntryCommittedAfterTheBatchsSnapshot() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "v0", null);
        sequencer.runOnce();
        long first = userStamp(tenancy, user);
        for (int i = 1; i <= 3; i++) {
            fixtures.renameUser(tenancy, user, "v" + i);
        }
        // Two entries per batch: the key's third new entry is beyond this batch's quota.
        Sequencer twoAtATime = new Sequencer(pool, new Sequencer.Settings(2, 1000), Clock.systemUTC());

        try (Connection writer = db.connect()) {
            writer.setAutoCommit(false);
            update(writer, "UPDATE \"ProjectUser\" SET \"displayName\" = 'open' WHERE \"projectUserId\" = ?", user);

            SequencingBatch batch = twoAtATime.runOnce();

            assertThat(batch.entriesPerTable()).containsEntry("ProjectUser", 1);
            assertThat(batch.compacted()).as("the older stamped entry, the claimed sibling, the entry beyond the quota")
                    .isEqualTo(3);
            List<Long> afterFirst = keyEntries(tenancy, user);
            assertThat(afterFirst).as("one new stamp covers every change committed before it").singleElement()
                    .satisfies(s -> assertThat(s).isGreaterThan(first));
            assertThat(twoAtATime.runOnce().entriesPerTable()).as("the open transaction's entry is not visible yet")
                    .containsEntry("ProjectUser", 0);
            writer.commit();
        }
        long beforeOpenOne = keyEntries(tenancy, user).get(0);
        assertThat(keyEntries(tenancy, user)).as("the open transaction's entry, committed now, is still there")
                .containsExactly(beforeOpenOne, null);

        twoAtATime.runOnce();

        assertThat(keyEntries(tenancy, user)).singleElement().satisfies(s -> assertThat(s).isGreaterThan(beforeOpenOne));
        assertThat(everyKeyHasExactlyOneStampedEntry(tenancy)).isTrue();
    }

    @Test
    void oneBatchOfInterleavedEntriesOfManyKeysStampsTheNewestEntryOfEachKeyAndDeletesEveryOther() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        List<UUID> users = new java.util.ArrayList<>();
        for (int i = 0; i < 40; i++) {
            users.add(fixtures.createUser(tenancy, "u" + i, null));
        }
        // Rounds over every user, so that each key's entries are spread over the claimed set, not adjacent.
        for (int round = 1; round <= 3; round++) {
            for (UUID user : users) {
                fixtures.renameUser(tenancy, user, "round " + round);
            }
        }
        List<List<Object>> newest = db.queryRows("""
                SELECT "primaryKey"::text, max("id") FROM "SyncChange"
                WHERE "tenancyId" = ? AND "sequenceId" IS NULL GROUP BY "primaryKey\"""", tenancy.id());
        assertThat(newest).hasSize(users.size());

        SequencingBatch batch = sequencer.runOnce();

        assertThat(batch.entriesPerTable()).containsEntry("ProjectUser", users.size());
        assertThat(batch.compacted()).as("three older entries of each key").isEqualTo(3 * users.size());
        assertThat(db.queryRows("""
                SELECT "primaryKey"::text, "id" FROM "SyncChange" WHERE "tenancyId" = ? AND "sequenceId" IS NOT NULL""",
                tenancy.id())).as("the entry that survives is each key's newest").containsExactlyInAnyOrderElementsOf(newest);
        assertThat(everyKeyHasExactlyOneStampedEntry(tenancy)).isTrue();
    }

    /** Remove → re-add within one window: one stamped entry for the key, and the live row the engine will copy. */
    @Test
    void removeThenReAddWithinOneWindowLeavesOneNewerStampedEntryAndTheLiveRow() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "First life", null);
        sequencer.runOnce();
        long firstStamp = userStamp(tenancy, user);

        fixtures.deleteUser(tenancy, user);
        try (Connection c = db.connect()) {
            insertUser(c, tenancy, user);
        }
        sequencer.runOnce();

        assertThat(keyEntries(tenancy, user)).singleElement().satisfies(s -> assertThat(s).isGreaterThan(firstStamp));
        assertThat(db.queryLong("SELECT count(*) FROM \"ProjectUser\" WHERE \"projectUserId\" = ?", user)).isEqualTo(1);
    }

    /** Re-add → remove within one window: one stamped entry and no live row; the key ends absent. */
    @Test
    void addThenRemoveWithinOneWindowLeavesOneStampedEntryAndNoLiveRow() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Short life", null);
        fixtures.deleteUser(tenancy, user);

        sequencer.runOnce();

        assertThat(db.queryLong("SELECT count(*) FROM \"ProjectUser\" WHERE \"projectUserId\" = ?", user)).isZero();
        assertThat(keyEntries(tenancy, user)).singleElement().isNotNull();
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
                assertThat(result.tenancies()).isEqualTo(2);
                assertThat(result.mayHaveMore()).isTrue();
            }
            // Three batches of two tenancies (one entry each): all five served once, one of them twice (wrap-around).
            assertThat(own.queryRows("""
                    SELECT "tenancyId", count(*) FROM "SyncChange" WHERE "sequenceId" IS NOT NULL
                    GROUP BY "tenancyId\"""")).hasSize(5)
                    .allSatisfy(row -> assertThat(((Number) row.get(1)).longValue()).isBetween(1L, 2L));

            int guard = 0;
            while (!small.runOnce().nothingWaiting() && guard++ < 20) {
                // drains 15 entries, two per batch at most
            }
            assertThat(own.queryLong("SELECT count(*) FROM \"SyncChange\" WHERE \"sequenceId\" IS NULL")).isZero();
            assertThat(own.queryLong("SELECT count(*) FROM \"SyncChange\"")).isEqualTo(15);
            assertThat(own.queryLong("SELECT count(*) FROM \"OutgoingRequest\"")).isEqualTo(5);
        }
    }

    @Test
    void oneTenancyWith200000WaitingEntriesDoesNotHoldBackAnotherTenancysSingleEntry() throws Exception {
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
                    SELECT "sequenceId" IS NOT NULL FROM "SyncChange"
                    WHERE "tenancyId" = ? AND "primaryKey" ->> 'projectUserId' = ?""",
                    small.id(), smallUser.toString())).isEqualTo(true);
            assertThat(own.queryLong("""
                    SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ? AND "startedFulfillingAt" IS NULL""",
                    small.id())).isEqualTo(1);
            assertThat(first.entriesPerTable().get("ProjectUser")).isBetween(2, 1001);
            assertThat(first.mayHaveMore()).isTrue();
            assertThat(own.queryLong("SELECT count(*) FROM \"SyncChange\" WHERE \"sequenceId\" IS NULL"))
                    .isGreaterThanOrEqualTo(199_000);
        }
    }

    @Test
    void waitingEntriesAreCountedUpToTheCapAndThenReportedAsAtLeast() throws Exception {
        TestDatabase own = TestPools.migratedDatabase("waiting");
        try (AgroalDataSource ownPool = TestPools.pool(own, 2)) {
            StackAuthFixtures ownFixtures = new StackAuthFixtures(own);
            Tenancy tenancy = ownFixtures.createTenancy();
            for (int i = 0; i < 5; i++) {
                ownFixtures.createUser(tenancy, "u" + i, null);
            }
            Sequencer counting = new Sequencer(ownPool, new Sequencer.Settings(1000, 1000), Clock.systemUTC());

            Sequencer.Waiting capped = counting.waitingEntries(3);
            assertThat(capped.capped()).isTrue();
            assertThat(capped.perTable()).containsEntry("ProjectUser", 4L).containsEntry("ContactChannel", 0L)
                    .containsOnlyKeys(Sequencer.LOG_TABLES);
            Sequencer.Waiting exact = counting.waitingEntries(100);
            assertThat(exact.capped()).isFalse();
            assertThat(exact.perTable()).containsEntry("ProjectUser", 5L);
            counting.runOnce();
            assertThat(counting.waitingEntries(100).total()).isZero();
        }
    }

    @Test
    void theBatchReachesTheLogOnlyThroughItsIndexesWhateverTheStatisticsSayCustomOrGeneric() throws Exception {
        TestDatabase own = TestPools.migratedDatabase("plans");
        try (AgroalDataSource ownPool = TestPools.pool(own, 2)) {
            StackAuthFixtures ownFixtures = new StackAuthFixtures(own);
            Tenancy tenancy = ownFixtures.createTenancy();
            own.update("""
                    INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                               "updatedAt")
                    SELECT ?, gen_random_uuid(), ?, 'main', now() FROM generate_series(1, 20000)""",
                    tenancy.id(), tenancy.projectId());
            own.execute("ANALYZE \"SyncChange\"");
            // Statistics say: everything unstamped, nothing in the stamped index.
            assertIndexOnly(own, tenancy);

            Sequencer drain = new Sequencer(ownPool, new Sequencer.Settings(5000, 1000), Clock.systemUTC());
            while (!drain.runOnce().nothingWaiting()) {
                // stamp all
            }
            ownFixtures.createUser(tenancy, "new", null);
            own.execute("ANALYZE \"SyncChange\"");
            // Statistics say: everything stamped, the unstamped index nearly empty.
            assertIndexOnly(own, tenancy);
        }
    }

    private static void assertIndexOnly(TestDatabase own, Tenancy tenancy) throws Exception {
        StringBuilder plan = new StringBuilder();
        StringBuilder generic = new StringBuilder();
        try (Connection c = own.connect()) {
            c.setAutoCommit(false);
            try (PreparedStatement begin = c.prepareStatement(Sequencer.BEGIN_BATCH)) {
                begin.setLong(1, Sequencer.STAMP_LOCK_KEY);
                begin.executeQuery().close();
            }
            try (PreparedStatement explain = c.prepareStatement("EXPLAIN " + Sequencer.STAMP)) {
                explain.setObject(1, tenancy.id());
                explain.setObject(2, tenancy.id());
                explain.setObject(3, tenancy.id());
                explain.setInt(4, 250);
                explain.setInt(5, 250);
                explain.setInt(6, 1000);
                try (var rs = explain.executeQuery()) {
                    while (rs.next()) {
                        plan.append(rs.getString(1)).append('\n');
                    }
                }
            }
            // The plan a batch runs once pgjdbc has prepared it on the connection: the generic one (BEGIN_BATCH's
            // plan_cache_mode), the same whatever the values.
            try (Statement explain = c.createStatement()) {
                explain.execute("PREPARE stamp_batch(uuid, uuid, uuid, int, int, int) AS " + numbered(Sequencer.STAMP));
                try (var rs = explain.executeQuery("EXPLAIN EXECUTE stamp_batch('" + tenancy.id() + "', '"
                        + tenancy.id() + "', '" + tenancy.id() + "', 250, 250, 1000)")) {
                    while (rs.next()) {
                        generic.append(rs.getString(1)).append('\n');
                    }
                }
            }
            c.rollback();
        }
        assertThat(generic.toString()).as("a generic plan compares with the parameters, not their values")
                .contains("> $1");
        for (String p : List.of(plan.toString(), generic.toString())) {
            assertThat(p).contains("SyncChange_unstamped_idx", "SyncChange_key_idx", "SyncChange_pkey")
                    .doesNotContain("Seq Scan", "Hash Join", "Merge Join", "SyncChange_stamped_idx");
        }
    }

    /** {@code sql} with its {@code ?} parameters numbered {@code $1, $2, …}, as the server sees them. */
    private static String numbered(String sql) {
        StringBuilder out = new StringBuilder();
        int n = 0;
        for (char ch : sql.toCharArray()) {
            if (ch == '?') {
                out.append('$').append(++n);
            } else {
                out.append(ch);
            }
        }
        return out.toString();
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

    private static long count(Connection c, String sql, Object param) throws Exception {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setObject(1, param);
            try (var rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** The stamps of one user's "ProjectUser" entries, in entry order (null = unstamped). */
    private static List<Long> keyEntries(Tenancy tenancy, UUID user) {
        return db.queryRows("""
                SELECT "sequenceId" FROM "SyncChange"
                WHERE "tenancyId" = ? AND "tableName" = 'ProjectUser' AND "primaryKey" ->> 'projectUserId' = ?
                ORDER BY "id\"""", tenancy.id(), user.toString()).stream()
                .map(row -> row.get(0) == null ? null : ((Number) row.get(0)).longValue()).toList();
    }

    private static boolean everyKeyHasExactlyOneStampedEntry(Tenancy tenancy) {
        return db.queryLong("""
                SELECT count(*) FROM (
                    SELECT 1 FROM "SyncChange" WHERE "tenancyId" = ?
                    GROUP BY "tableName", "primaryKey"
                    HAVING count(*) <> 1 OR bool_or("sequenceId" IS NULL)) AS bad""", tenancy.id()) == 0;
    }

    private static long unstamped(Tenancy tenancy) {
        return db.queryLong("SELECT count(*) FROM \"SyncChange\" WHERE \"tenancyId\" = ? AND \"sequenceId\" IS NULL",
                tenancy.id());
    }

    private static long pendingRequests(Tenancy tenancy) {
        return db.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ? AND "startedFulfillingAt" IS NULL""",
                tenancy.id());
    }

    /** The stamp of a user's one "ProjectUser" entry. */
    private static long userStamp(Tenancy tenancy, UUID user) {
        List<Long> entries = keyEntries(tenancy, user);
        assertThat(entries).as("entries of user " + user).hasSize(1).doesNotContainNull();
        return entries.get(0);
    }
}
