package dev.externaldbsync.sequencer;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import javax.sql.DataSource;

import dev.externaldbsync.schema.SourceTable;

/**
 * Stamps rows marked as changed ({@code "shouldUpdateSequenceId"}) with the next ids of {@code global_seq_id}, clears
 * their mark and enqueues one sync request per affected tenancy: one batch per {@link #runOnce()} call. Loops,
 * wake-ups and the fusebox are the caller's business ({@link SequencerLoop}).
 *
 * <h2>One batch = one transaction</h2>
 * <ol>
 * <li>{@code set_config('external_db_sync.sequencer', 'on', true)}, so the capture triggers' notification does not wake
 * this sequencer (or its replicas) for its own stamping, then {@code pg_advisory_xact_lock(}{@link #STAMP_LOCK_KEY}
 * {@code )}, all in the first statement, before any {@code nextval};</li>
 * <li>per table of {@link SourceTable#values()} (in catalog order, {@code "DeletedRow"} last): find up to
 * {@code maxTenanciesPerBatch} tenancies with marked rows after this instance's round-robin cursor, claim up to
 * {@code max(1, batchSize / tenanciesFound)} rows of each with {@code FOR UPDATE SKIP LOCKED} and stamp them;</li>
 * <li>{@code sync_enqueue_tenancies(<every tenancy stamped>)}, still in the same transaction; commit.</li>
 * </ol>
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
 * snapshot (or after T1 rolled back, in which case its ids are simply never used).</li>
 * <li>Sequences are monotonic, so every id T2 draws exceeds every id T1 drew.</li>
 * <li>A reader's snapshot that sees T2 committed was taken after T2 committed, which is after T1's commit became
 * visible: it sees T1 too. Hence every snapshot sees a prefix of the stamping order, and an id below the largest
 * visible id is either visible or belongs to a transaction that rolled back and will never appear. Gaps (rolled-back
 * batches, the increment of 11) are not unseen rows.</li>
 * <li>Writers never stamp. A writer's change still in flight is invisible (insert, tombstone) or row-locked
 * (update) and is skipped by {@code SKIP LOCKED}; once it commits it is claimed by a later stamping transaction and
 * gets a later, larger id. A row that is restamped after a new change simply moves past every reader's cursor.</li>
 * </ul>
 * With two replicas only one stamps at a time; the second waits on the lock for at most one batch, then claims
 * whatever is still marked (its statement snapshot is taken after the lock is granted, and {@code FOR UPDATE}
 * re-checks the mark on the newest row version anyway).
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
 * A tombstone ({@code "DeletedRow"}) and a live row with the same target key may be stamped in either order (tables
 * are stamped in catalog order, {@code "DeletedRow"} last, and a window may hold both). Convergence is the sync
 * engine's read rule, not stamp order: the engine emits a tombstone's delete only when no live row with the same
 * target key exists at its read snapshot. Live rows are the truth: remove → re-add leaves a live row, so the target
 * keeps it (present); re-add → remove leaves no live row and a stamped tombstone (absent); and any later deletion
 * writes a newer tombstone, so nothing is ever resurrected.
 *
 * <h2>Fairness</h2>
 * Rows are never claimed as "first N by tenancy": that would hand a whole batch to one tenancy with a million
 * marked rows. Each table keeps a round-robin cursor (the last tenancy served); a batch serves up to
 * {@code maxTenanciesPerBatch} tenancies after it (wrapping around) with an equal quota each, so a small tenancy's
 * change is stamped in the first batch that runs after it committed whenever fewer than {@code maxTenanciesPerBatch}
 * tenancies are waiting, and within {@code ceil(waiting tenancies / maxTenanciesPerBatch)} batches otherwise.
 *
 * <p>
 * Thread-safety: one instance must be driven by one thread at a time (the cursors are per instance). Any number of
 * instances, in one or many processes, may run against one database.
 */
public final class Sequencer {

    /** Key of the transaction-scoped advisory lock that serialises stamping: "edb-seq" in ASCII. */
    public static final long STAMP_LOCK_KEY = 0x6564622d736571L;

    /** Reported as {@code "100000+"} beyond this many waiting rows. */
    public static final int WAITING_CAP = 100_000;

    /** Where the capture triggers {@code NOTIFY} once per writing transaction, at its commit. */
    public static final String CHANGES_CHANNEL = "external_db_sync_changes";

    private static final UUID MIN_UUID = new UUID(0, 0);
    private static final UUID MAX_UUID = new UUID(-1, -1);

    /**
     * The first statement of a batch. {@code plan_cache_mode}: the claim's LIMIT and tenancy array are parameters,
     * and a cached generic plan that guesses them could pick a sequential scan of a big table; a custom plan per
     * batch costs well under a millisecond.
     */
    private static final String BEGIN_BATCH = """
            SELECT set_config('external_db_sync.sequencer', 'on', true),
                   set_config('plan_cache_mode', 'force_custom_plan', true),
                   pg_advisory_xact_lock(?)""";

    private static final String ENQUEUE = "SELECT sync_enqueue_tenancies(?::uuid[])";

    /**
     * @param batchSize            rows claimed per table per batch, at most (one tenancy alone may take them all)
     * @param maxTenanciesPerBatch tenancies served per table per batch, at most
     */
    public record Settings(int batchSize, int maxTenanciesPerBatch) {
        public Settings {
            if (batchSize < 1 || maxTenanciesPerBatch < 1) {
                throw new IllegalArgumentException("batch size and max tenancies per batch must be positive");
            }
        }
    }

    private final DataSource dataSource;
    private final Settings settings;
    private final Clock clock;
    private final List<TableStatements> tables;
    private final Map<SourceTable, UUID> cursors = new EnumMap<>(SourceTable.class);
    private final String anyMarked;

    public Sequencer(DataSource dataSource, Settings settings, Clock clock) {
        this.dataSource = dataSource;
        this.settings = settings;
        this.clock = clock;
        this.tables = Arrays.stream(SourceTable.values()).map(TableStatements::of).toList();
        this.anyMarked = "SELECT " + String.join(" OR ", tables.stream()
                .map(s -> "(" + s.anyMarked() + ")").toList());
    }

    public Settings settings() {
        return settings;
    }

    /**
     * Runs one batch. Returns {@link SequencingBatch#empty} without opening a transaction when no row is marked (one
     * cheap statement: the idle cost). Throws on any database error; the transaction is then rolled back and nothing
     * was stamped or enqueued.
     */
    public SequencingBatch runOnce() throws SQLException {
        long started = System.nanoTime();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            if (!anyMarked(c)) {
                return SequencingBatch.empty(clock.instant(), Duration.ofNanos(System.nanoTime() - started));
            }
            c.setAutoCommit(false);
            try {
                SequencingBatch batch = stamp(c, started);
                c.commit();
                return batch.committedAt(clock.instant(), Duration.ofNanos(System.nanoTime() - started));
            } catch (SQLException | RuntimeException e) {
                rollbackQuietly(c, e);
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
        }
    }

    private record Claim(SourceTable table, int rows, boolean mayHaveMore, UUID lastTenancy) {
    }

    private SequencingBatch stamp(Connection c, long started) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(BEGIN_BATCH)) {
            ps.setLong(1, STAMP_LOCK_KEY);
            ps.executeQuery().close();
        }
        Map<SourceTable, Integer> rowsPerTable = new EnumMap<>(SourceTable.class);
        Set<UUID> tenancies = new LinkedHashSet<>();
        boolean mayHaveMore = false;
        List<Claim> claims = new ArrayList<>();
        for (TableStatements table : tables) {
            Claim claim = claim(c, table, tenancies);
            claims.add(claim);
            rowsPerTable.put(table.table(), claim.rows());
            mayHaveMore |= claim.mayHaveMore();
        }
        int enqueued = 0;
        if (!tenancies.isEmpty()) {
            try (PreparedStatement ps = c.prepareStatement(ENQUEUE)) {
                ps.setArray(1, uuidArray(c, tenancies));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    enqueued = rs.getInt(1);
                }
            }
        }
        // Cursors move only for a batch that will commit (a failed one is retried from the same place).
        for (Claim claim : claims) {
            if (claim.lastTenancy() != null) {
                cursors.put(claim.table(), claim.lastTenancy());
            }
        }
        return new SequencingBatch(rowsPerTable, tenancies.size(), enqueued, false, mayHaveMore, null, Duration.ZERO);
    }

    private Claim claim(Connection c, TableStatements table, Set<UUID> stampedTenancies) throws SQLException {
        UUID cursor = cursors.get(table.table());
        int limit = settings.maxTenanciesPerBatch();
        List<UUID> found = new ArrayList<>(Math.min(limit, 1024));
        if (cursor == null) {
            findTenancies(c, table.tenancyWrapped(), MIN_UUID, MAX_UUID, limit, found);
        } else {
            findTenancies(c, table.tenancyAfter(), cursor, MAX_UUID, limit, found);
            if (found.size() < limit) {
                findTenancies(c, table.tenancyWrapped(), MIN_UUID, cursor, limit - found.size(), found);
            }
        }
        if (found.isEmpty()) {
            return new Claim(table.table(), 0, false, null);
        }
        int quota = Math.max(1, settings.batchSize() / found.size());
        int rows = 0;
        boolean quotaFilled = false;
        try (PreparedStatement ps = c.prepareStatement(table.claim())) {
            ps.setArray(1, uuidArray(c, found));
            ps.setInt(2, quota);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    UUID tenancy = rs.getObject(1, UUID.class);
                    int count = rs.getInt(2);
                    stampedTenancies.add(tenancy);
                    rows += count;
                    quotaFilled |= count >= quota;
                }
            }
        }
        // More may be waiting when a tenancy filled its quota or more tenancies exist than were served. Rows skipped
        // as locked do not count: their writer's commit (or the other sequencer) takes care of them.
        boolean mayHaveMore = quotaFilled || found.size() >= limit;
        return new Claim(table.table(), rows, mayHaveMore, found.get(found.size() - 1));
    }

    private static void findTenancies(Connection c, String sql, UUID from, UUID to, int limit, List<UUID> into)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setObject(1, from);
            ps.setObject(2, to);
            ps.setObject(3, to);
            ps.setInt(4, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    into.add(rs.getObject(1, UUID.class));
                }
            }
        }
    }

    private boolean anyMarked(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(anyMarked)) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    /**
     * Rows waiting per table, each counted up to {@code cap + 1} through the partial flag index (so a backlog of
     * millions costs a bounded scan); a value above {@code cap} means "more than cap". Autocommit, no locks.
     */
    public Map<SourceTable, Long> waitingRows(int cap) throws SQLException {
        Map<SourceTable, Long> waiting = new EnumMap<>(SourceTable.class);
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            for (TableStatements table : tables) {
                try (PreparedStatement ps = c.prepareStatement(table.waiting())) {
                    ps.setInt(1, cap + 1);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        waiting.put(table.table(), rs.getLong(1));
                    }
                }
            }
        }
        return waiting;
    }

    /**
     * How many stamps {@code global_seq_id} has handed out (only the sequencer calls {@code nextval}, one per row, so
     * this counts stamped rows of all replicas ever): a sequence's {@code last_value} is a single-row read.
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

    private static Array uuidArray(Connection c, Collection<UUID> ids) throws SQLException {
        return c.createArrayOf("uuid", ids.toArray());
    }

    private static void rollbackQuietly(Connection c, Exception cause) {
        try {
            c.rollback();
        } catch (SQLException e) {
            cause.addSuppressed(e);
        }
    }
}
