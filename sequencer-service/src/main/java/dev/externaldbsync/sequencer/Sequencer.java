package dev.externaldbsync.sequencer;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import javax.sql.DataSource;

/**
 * Stamps entries of the change log ({@code "SyncChange"}, which the capture triggers append to with {@code
 * "sequenceId"} NULL) with the next ids of {@code global_seq_id}, deletes the entries the new stamps make redundant
 * and enqueues one sync request per affected tenancy: one batch per {@link #runOnce()} call. It never writes a
 * source row. Loops, polling and the fusebox are the caller's business ({@link SequencerLoop}).
 *
 * <h2>One batch = one transaction, two statements, one round trip</h2>
 * Sent together in autocommit, so that the server runs both in one implicit transaction that the protocol's Sync
 * commits (or rolls back, when either fails): no separate {@code BEGIN} or {@code COMMIT} exchange.
 * <ol>
 * <li>{@code pg_advisory_xact_lock(}{@link #STAMP_LOCK_KEY}{@code )} (with the batch's planner settings and
 * {@code synchronous_commit = on}), before any {@code nextval};</li>
 * <li>one data-modifying statement ({@link #STAMP}): find up to {@code maxTenanciesPerBatch} tenancies with unstamped
 * entries after this instance's round-robin cursor (a loose index scan of the partial index {@code
 * "SyncChange_unstamped_idx"}), claim up to {@code max(1, batchSize / tenanciesFound)} unstamped entries of each with
 * {@code FOR UPDATE SKIP LOCKED}, set {@code "sequenceId" = nextval('global_seq_id')} on the newest claimed entry of
 * each key, delete every other entry of those keys that the statement sees (compaction, through {@code
 * "SyncChange_key_idx"}, a hash index on {@code "primaryKey"}: one hash per lookup instead of a jsonb comparison per
 * step of a btree descent), and {@code sync_enqueue_tenancies(<every tenancy stamped>)}.</li>
 * </ol>
 * The stamp transaction always waits for its WAL flush, whatever the role's or database's {@code synchronous_commit}
 * says: a commit lost in a crash after the engine read its stamps would let the next batch reissue ids below a
 * target's cursor, and those changes would never be synced.
 *
 * <h2>Sequence order is commit order, with any number of sequencers</h2>
 * Claim: a reader whose snapshot contains a stamp with id N also contains every stamp with an id below N that will
 * ever be committed. Proof:
 * <ul>
 * <li>Only the sequencer calls {@code nextval('global_seq_id')}, and only inside a stamping transaction after it
 * holds the transaction-scoped advisory lock {@link #STAMP_LOCK_KEY}. The lock is released only at the end of the
 * transaction, and PostgreSQL releases a committing transaction's locks after it has marked the transaction committed
 * in the proc array ({@code ProcArrayEndTransaction} precedes {@code LockReleaseAll} in {@code CommitTransaction}).
 * So stamping transactions are totally ordered: T2 obtains the lock only after T1's commit is visible to every new
 * snapshot (or after T1 rolled back, in which case its ids are simply never used). That holds for the implicit
 * transaction a Sync commits as for an explicit one: it ends through the same {@code CommitTransaction}.</li>
 * <li>Sequences are monotonic, so every id T2 draws exceeds every id T1 drew.</li>
 * <li>A reader's snapshot that sees T2 committed was taken after T2 committed, which is after T1's commit became
 * visible: it sees T1 too. Hence every snapshot sees a prefix of the stamping order, and an id below the largest
 * visible id is either visible or belongs to a transaction that rolled back and will never appear. Gaps (rolled-back
 * batches, the increment of 11) are not unseen entries.</li>
 * <li>Writers never stamp: they only INSERT entries, which stay invisible to the sequencer until their transaction
 * commits and are then claimed by a later stamping transaction, which gives them a later, larger id. A rolled-back
 * writer's entry never becomes visible at all. Nothing a writer does takes a row lock the sequencer meets: unlike
 * the former stamping of source rows, no writer's update is ever skipped as locked, and no writer ever waits for a
 * stamping transaction.</li>
 * <li>Compaction only deletes, in the same transaction that stamps another entry of the same key, and only entries
 * that transaction's snapshot sees (committed before the new stamp was drawn), so it can make a seen id disappear but
 * never make an unseen one appear, and never removes a change the new stamp does not cover.</li>
 * </ul>
 * With two replicas only one stamps at a time; the second waits on the lock for at most one batch, then claims
 * whatever is still unstamped (its stamping statement is a separate statement sent after the lock, so its snapshot is
 * taken after the lock is granted, and {@code FOR UPDATE} re-checks {@code "sequenceId" IS NULL} on the newest entry
 * version anyway). {@code SKIP LOCKED} is for an instance that holds row locks without the advisory lock (none of this
 * version does, but an operator's script or a future variant might): it is skipped rather than waited for.
 *
 * <h2>Compaction</h2>
 * The engine reads a key's entries only to find keys changed above its cursor and then joins the live row, so of all
 * entries of one {@code ("tenancyId", "tableName", "primaryKey")} only the one with the highest stamp matters to any
 * cursor. When a batch stamps a key it therefore deletes, in the same transaction, every other entry of the key that
 * its snapshot sees: older stamped ones, and unstamped ones whether this batch claimed them or not. An unstamped entry
 * the snapshot sees was committed before the new stamp was drawn, so the new stamp covers it: any reader that sees the
 * new stamp reads the live row after that commit. Deleting it now, instead of stamping it in a later batch, saves a
 * stamp per derived entry of a bulk load (a user's own entry and the one its primary channel derives are far apart
 * in the log, so they rarely share a batch). An entry committed after the statement's snapshot is never deleted: it is
 * stamped later, with a larger id. A cursor between an older stamp and the new one sees the new one; a cursor below
 * both sees the new one instead of two.
 *
 * <h2>Enqueueing inside the stamping transaction</h2>
 * The requirement is "a sync can never run before the stamps it was queued for are visible". {@code
 * sync_enqueue_tenancies} either inserts a new pending request, invisible until this transaction commits, or
 * row-locks the tenancy's existing pending request until this transaction commits; the poller claims with {@code
 * FOR UPDATE SKIP LOCKED} and so cannot take that request before the stamps are committed. The guarantee is the same
 * as enqueueing after commit, and there is no window in which stamps are committed but a crash loses their request
 * (which two transactions would have).
 *
 * <h2>Delete and re-create of one key</h2>
 * Delete and insert of a key are both entries of that one key, so the newest one is stamped and the engine joins the
 * live row at its read snapshot: remove → re-add leaves a live row (present), re-add → remove leaves none (absent),
 * whatever the order within a batch. Live rows are the truth.
 *
 * <h2>Fairness</h2>
 * Entries are never claimed as "first N by tenancy": that would hand a whole batch to one tenancy with a million
 * waiting entries. The instance keeps a round-robin cursor (the last tenancy served); a batch serves up to
 * {@code maxTenanciesPerBatch} tenancies after it (wrapping around) with an equal quota each, so a small tenancy's
 * change is stamped in the first batch that runs after it committed whenever fewer than {@code maxTenanciesPerBatch}
 * tenancies are waiting, and within {@code ceil(waiting tenancies / maxTenanciesPerBatch)} batches otherwise.
 *
 * <p>
 * Thread-safety: one instance must be driven by one thread at a time (the cursor is per instance). Any number of
 * instances, in one or many processes, may run against one database.
 */
public final class Sequencer {

    /** Key of the transaction-scoped advisory lock that serialises stamping: "edb-seq" in ASCII. */
    public static final long STAMP_LOCK_KEY = 0x6564622d736571L;

    /** Waiting entries are counted up to this many, then reported as "at least". */
    public static final int WAITING_CAP = 100_000;

    /**
     * Every {@code "tableName"} the capture triggers write, in the order the figures list them (every table appears
     * in status and metrics, zero included).
     */
    public static final List<String> LOG_TABLES = List.of("ProjectUser", "ContactChannel", "Team", "TeamMember",
            "TeamMemberDirectPermission", "VerificationCode_TEAM_INVITATION", "EmailOutbox",
            "ProjectUserDirectPermission", "UserNotificationPreference", "ProjectUserRefreshToken",
            "ProjectUserOAuthAccount");

    private static final UUID MIN_UUID = new UUID(0, 0);

    /**
     * The idle probe: the first key of the partial index, which holds only unstamped entries. Ordered by the index's
     * key, not {@code EXISTS} (which drops an {@code ORDER BY}): autovacuum analyzes the log rarely, and statistics
     * taken while a bulk load was still unstamped make the planner expect a match on the first heap page, so an
     * {@code EXISTS} scanned the whole log sequentially on every idle poll once the load was stamped. With the
     * order, the index is the only cheap plan whatever the statistics.
     */
    static final String ANY_UNSTAMPED = """
            SELECT (SELECT "tenancyId" FROM "SyncChange" WHERE "sequenceId" IS NULL ORDER BY "tenancyId" LIMIT 1)
                   IS NOT NULL""";

    /**
     * The first statement of a batch. {@code plan_cache_mode}: once pgjdbc has prepared the batch on a connection,
     * {@link #STAMP} is planned once and its plan reused; planning it took longer than running a small batch. The
     * generic plan is the custom one: every access of the log in {@link #STAMP} is a correlated probe of one index or
     * an {@code "id" = ANY} of the pkey, so no guessed parameter can turn it into a scan of the whole log (SequencerTest
     * checks both plans under both kinds of statistics). The setting reaches the statements of {@code
     * sync_enqueue_tenancies}, which are as simple. {@code enable_seqscan}: every access of {@link #STAMP} must go
     * through an index, and right after a bulk write the log's statistics say "everything unstamped", which makes a
     * sequential scan look cheapest for a claim whose heap is, a few hundred batches later, mostly dead versions of
     * stamped entries. {@code synchronous_commit}: forced on for this transaction (see the class comment), so that no
     * role or database default can make a stamp commit asynchronous.
     */
    static final String BEGIN_BATCH = """
            SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
                   set_config('enable_seqscan', 'off', true),
                   set_config('synchronous_commit', 'on', true),
                   pg_advisory_xact_lock(?)""";

    /**
     * The batch. Parameters: the cursor three times, the tenancy limit twice, the batch size.
     * <ul>
     * <li>{@code after_cursor}, {@code wrapped}: loose index scans ("skip scans") of the partial unstamped index, one
     * descent per distinct tenancy, strictly after the cursor and then from the start up to and including it, each
     * stopped by the outer LIMIT (a recursive CTE is evaluated lazily); the wrap-around pass runs only for what the
     * first left of the limit.</li>
     * <li>{@code claimed}: per tenancy a LIMIT on its own index range, locked with {@code SKIP LOCKED} (LockRows sits
     * below the LIMIT, so a skipped entry does not use up the quota).</li>
     * <li>{@code ranked}: the window's sort compares the key's {@code jsonb_hash} before the key itself, so that two
     * different keys are told apart by an integer comparison instead of a jsonb comparison (which detoasts and walks
     * both values); the partitions are the same, because equal keys have equal hashes and the key itself still
     * follows.</li>
     * <li>{@code stamped} and {@code compacted} name their rows by {@code "id" = ANY(ARRAY(…))}, never by a join: the
     * planner cannot estimate a CTE's size and would hash-join the whole log. The key lookup is fenced ({@code
     * OFFSET 0}) so that its {@code "sequenceId"} filter cannot steer it onto the stamped index, whose statistics
     * may say "empty" while it holds millions of entries.</li>
     * <li>Sibling data-modifying CTEs share one snapshot and must not touch the same row: {@code stamped} updates only
     * the newest claimed entry of a key, {@code compacted} deletes only others (its key lookup finds the claimed
     * siblings too: they are in the same snapshot).</li>
     * </ul>
     */
    static final String STAMP = """
            WITH RECURSIVE
            after_cursor(id) AS (
                (SELECT "tenancyId" FROM "SyncChange"
                 WHERE "sequenceId" IS NULL AND "tenancyId" > ?::uuid ORDER BY "tenancyId" LIMIT 1)
                UNION ALL
                SELECT (SELECT "tenancyId" FROM "SyncChange"
                        WHERE "sequenceId" IS NULL AND "tenancyId" > a.id ORDER BY "tenancyId" LIMIT 1)
                FROM after_cursor AS a WHERE a.id IS NOT NULL),
            wrapped(id) AS (
                (SELECT "tenancyId" FROM "SyncChange"
                 WHERE "sequenceId" IS NULL AND "tenancyId" <= ?::uuid ORDER BY "tenancyId" LIMIT 1)
                UNION ALL
                SELECT (SELECT "tenancyId" FROM "SyncChange"
                        WHERE "sequenceId" IS NULL AND "tenancyId" > w.id AND "tenancyId" <= ?::uuid
                        ORDER BY "tenancyId" LIMIT 1)
                FROM wrapped AS w WHERE w.id IS NOT NULL),
            first_pass AS MATERIALIZED (SELECT id FROM after_cursor WHERE id IS NOT NULL LIMIT ?),
            served AS MATERIALIZED (
                SELECT id, 1 AS pass FROM first_pass
                UNION ALL
                (SELECT id, 2 FROM wrapped WHERE id IS NOT NULL LIMIT ? - (SELECT count(*) FROM first_pass))),
            quota AS MATERIALIZED (SELECT GREATEST(1, ? / NULLIF(count(*), 0))::int AS n FROM served),
            claimed AS MATERIALIZED (
                SELECT c.* FROM served AS t CROSS JOIN LATERAL (
                    SELECT e."id", e."tenancyId", e."tableName", e."primaryKey" FROM "SyncChange" AS e
                    WHERE e."tenancyId" = t.id AND e."sequenceId" IS NULL
                    LIMIT (SELECT n FROM quota)
                    FOR UPDATE SKIP LOCKED) AS c),
            ranked AS MATERIALIZED (
                SELECT c."id", c."tenancyId", c."tableName", c."primaryKey",
                       row_number() OVER (PARTITION BY c."tenancyId", c."tableName", jsonb_hash(c."primaryKey"),
                                                       c."primaryKey"
                                          ORDER BY c."id" DESC) AS rn
                FROM claimed AS c),
            stamped AS (
                UPDATE "SyncChange" AS e SET "sequenceId" = nextval('global_seq_id')
                WHERE e."id" = ANY (ARRAY(SELECT r."id" FROM ranked AS r WHERE r.rn = 1))
                RETURNING e."tenancyId", e."tableName"),
            compacted AS (
                DELETE FROM "SyncChange" AS o
                WHERE o."id" = ANY (ARRAY(
                    SELECT x."id" FROM ranked AS r CROSS JOIN LATERAL (
                        SELECT k."id" FROM "SyncChange" AS k
                        WHERE k."tenancyId" = r."tenancyId" AND k."tableName" = r."tableName"
                          AND k."primaryKey" = r."primaryKey"
                        OFFSET 0) AS x
                    WHERE r.rn = 1 AND x."id" <> r."id"))
                RETURNING 1),
            per_table AS (SELECT "tableName", count(*)::int AS k FROM stamped GROUP BY "tableName")
            SELECT (SELECT count(*) FROM served)::int,
                   (SELECT id FROM served ORDER BY pass DESC, id DESC LIMIT 1),
                   COALESCE((SELECT max(k) FROM (SELECT count(*) AS k FROM claimed GROUP BY "tenancyId") AS x), 0)
                       >= (SELECT n FROM quota),
                   (SELECT array_agg("tableName" ORDER BY "tableName") FROM per_table),
                   (SELECT array_agg(k ORDER BY "tableName") FROM per_table),
                   (SELECT count(DISTINCT "tenancyId") FROM stamped)::int,
                   (SELECT count(*) FROM compacted)::int,
                   sync_enqueue_tenancies(ARRAY(SELECT DISTINCT "tenancyId" FROM stamped))""";

    /**
     * Unstamped entries per table, of the first {@code ?} in the partial index (a bounded scan however big; ordered by
     * the index's key for the reason {@link #ANY_UNSTAMPED} gives).
     */
    static final String WAITING = """
            SELECT "tableName", count(*) FROM (
                SELECT "tableName" FROM "SyncChange" WHERE "sequenceId" IS NULL ORDER BY "tenancyId" LIMIT ?) AS capped
            GROUP BY "tableName\"""";

    /**
     * @param batchSize            entries claimed per batch, at most (one tenancy alone may take them all)
     * @param maxTenanciesPerBatch tenancies served per batch, at most
     */
    public record Settings(int batchSize, int maxTenanciesPerBatch) {
        public Settings {
            if (batchSize < 1 || maxTenanciesPerBatch < 1) {
                throw new IllegalArgumentException("batch size and max tenancies per batch must be positive");
            }
        }
    }

    /**
     * Unstamped entries per table (every {@link #LOG_TABLES} entry present), counted over at most {@code cap + 1}
     * entries: when {@code capped}, each figure is "at least".
     */
    public record Waiting(Map<String, Long> perTable, boolean capped) {
        public Waiting {
            perTable = Collections.unmodifiableMap(new LinkedHashMap<>(perTable));
        }

        static Waiting none() {
            Map<String, Long> zeros = new LinkedHashMap<>();
            LOG_TABLES.forEach(t -> zeros.put(t, 0L));
            return new Waiting(zeros, false);
        }

        public long total() {
            return perTable.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    private final DataSource dataSource;
    private final Settings settings;
    private final Clock clock;
    private UUID cursor = MIN_UUID;

    public Sequencer(DataSource dataSource, Settings settings, Clock clock) {
        this.dataSource = dataSource;
        this.settings = settings;
        this.clock = clock;
    }

    public Settings settings() {
        return settings;
    }

    /**
     * Runs one batch. Returns {@link SequencingBatch#empty} without opening a transaction when no entry is unstamped
     * (one cheap statement: the idle cost). Throws on any database error; the transaction is then rolled back and
     * nothing was stamped, deleted or enqueued.
     */
    public SequencingBatch runOnce() throws SQLException {
        long started = System.nanoTime();
        if (!anyUnstamped()) {
            return SequencingBatch.empty(clock.instant(), Duration.ofNanos(System.nanoTime() - started));
        }
        return stampBatch();
    }

    /** Whether any entry is unstamped (committed and visible now): one descent of the partial index. */
    public boolean anyUnstamped() throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            // Prepared, so that pgjdbc reuses the connection's server-side plan: an idle loop probes every poll interval.
            try (PreparedStatement s = c.prepareStatement(ANY_UNSTAMPED); ResultSet rs = s.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    /**
     * Runs one batch without probing first (the caller knows there is or may be work). May stamp nothing, when
     * another instance got there first.
     */
    public SequencingBatch stampBatch() throws SQLException {
        long started = System.nanoTime();
        try (Connection c = dataSource.getConnection()) {
            // Autocommit: both statements go out before one Sync, which makes them one implicit transaction that the
            // server commits (or rolls back) itself, so the batch costs one round trip.
            c.setAutoCommit(true);
            SequencingBatch batch = stamp(c);
            return batch.committedAt(clock.instant(), Duration.ofNanos(System.nanoTime() - started));
        }
    }

    private SequencingBatch stamp(Connection c) throws SQLException {
        // Both statements in one round trip; the server still runs them one after the other, each with its own
        // snapshot, so the stamping statement's snapshot is taken after the lock is granted.
        try (PreparedStatement ps = c.prepareStatement(BEGIN_BATCH + ";\n" + STAMP)) {
            int i = 1;
            ps.setLong(i++, STAMP_LOCK_KEY);
            ps.setObject(i++, cursor);
            ps.setObject(i++, cursor);
            ps.setObject(i++, cursor);
            ps.setInt(i++, settings.maxTenanciesPerBatch());
            ps.setInt(i++, settings.maxTenanciesPerBatch());
            ps.setInt(i, settings.batchSize());
            ps.execute();
            if (!ps.getMoreResults()) {
                throw new SQLException("the stamping statement returned no result");
            }
            try (ResultSet rs = ps.getResultSet()) {
                rs.next();
                int served = rs.getInt(1);
                UUID lastServed = rs.getObject(2, UUID.class);
                boolean quotaFilled = rs.getBoolean(3);
                Map<String, Integer> perTable = new LinkedHashMap<>();
                LOG_TABLES.forEach(t -> perTable.put(t, 0));
                String[] tables = strings(rs.getArray(4));
                Integer[] counts = integers(rs.getArray(5));
                for (int t = 0; t < tables.length; t++) {
                    perTable.put(tables[t], counts[t]);
                }
                int tenancies = rs.getInt(6);
                int compacted = rs.getInt(7);
                int enqueued = rs.getInt(8);
                // The result arrives after the Sync, so the batch is committed: the cursor moves only for those (a
                // failed one is retried from the same place).
                if (lastServed != null) {
                    cursor = lastServed;
                }
                // More may be waiting when a tenancy filled its quota or more tenancies waited than were served.
                // Entries skipped as locked do not count: whoever holds them stamps or releases them.
                boolean mayHaveMore = quotaFilled || served >= settings.maxTenanciesPerBatch();
                return new SequencingBatch(perTable, tenancies, enqueued, compacted, false, mayHaveMore, null,
                        Duration.ZERO);
            }
        }
    }

    private static String[] strings(Array array) throws SQLException {
        return array == null ? new String[0] : (String[]) array.getArray();
    }

    private static Integer[] integers(Array array) throws SQLException {
        return array == null ? new Integer[0] : (Integer[]) array.getArray();
    }

    /**
     * Unstamped entries per table, over at most {@code cap + 1} entries of the partial index (so a backlog of
     * millions costs a bounded index scan).
     */
    public Waiting waitingEntries(int cap) throws SQLException {
        Map<String, Long> waiting = new LinkedHashMap<>();
        LOG_TABLES.forEach(t -> waiting.put(t, 0L));
        long total = 0;
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement(WAITING)) {
                ps.setLong(1, (long) cap + 1);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        long count = rs.getLong(2);
                        waiting.put(rs.getString(1), count);
                        total += count;
                    }
                }
            }
        }
        return new Waiting(waiting, total > cap);
    }

    /**
     * How many stamps {@code global_seq_id} has handed out (only the sequencer calls {@code nextval}, one per stamped
     * entry, so this counts entries stamped by all replicas ever): a sequence's {@code last_value} is a single-row read.
     */
    public long stampsIssued() throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT last_value, is_called, increment_by FROM global_seq_id, "
                            + "(SELECT increment_by FROM pg_sequences WHERE sequencename = 'global_seq_id' LIMIT 1) i");
                    ResultSet rs = ps.executeQuery()) {
                rs.next();
                long last = rs.getLong(1);
                boolean called = rs.getBoolean(2);
                long increment = Math.max(1, rs.getLong(3));
                return called ? (last - 1) / increment + 1 : 0;
            }
        }
    }
}
