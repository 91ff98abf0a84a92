package dev.externaldbsync.engine.target;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.postgresql.PGStatement;

import dev.externaldbsync.mapping.Mappings;

/**
 * Every statement the engine runs on a target's cursor table {@code "_stack_sync_metadata"} (its DDL and schema mark
 * are part of the target schema, {@link Mappings#METADATA_DDL}, plus the backfill columns of {@link #POSITION_DDL}):
 * one cursor per (tenancy, mapping), the last sequence id applied. A cursor only moves by compare-and-set against the
 * value its rows were read from, inside the transaction that applies them, so an older state never overwrites a
 * newer one.
 * <p>
 * A snapshot backfill in progress keeps its position in the same row: {@code "backfill_high"} (the log stamp H it
 * ends at) and {@code "backfill_after"} (the last source key applied, text forms in page order). Both are NULL
 * otherwise. In the cursor's own row, the position is written in each page's transaction, guarded by the cursor it
 * started from, dropped in the transaction that sets the cursor to H, cleared with every reset, and gone with the
 * table: a wiped target can never resume from a stale position. Stateless.
 */
public final class TargetCursors {

    /* Cursors and backfill positions at once: a batch needs both before it reads, and each would be a round trip. */
    private static final String READ_STATE = """
            SELECT "tenancy_id", "mapping_name", "last_synced_sequence_id", "backfill_high", "backfill_after"
            FROM "_stack_sync_metadata" WHERE "tenancy_id" = ANY(?::uuid[])""";

    private static final String READ_ONE = """
            SELECT "last_synced_sequence_id" FROM "_stack_sync_metadata" WHERE "tenancy_id" = ? AND "mapping_name" = ?""";

    /*
     * Creates missing cursors at −1 and returns them (a row created meanwhile by someone else is returned with its
     * value: the no-op update makes RETURNING see it).
     */
    private static final String ENSURE = """
            INSERT INTO "_stack_sync_metadata" AS m ("tenancy_id", "mapping_name")
            SELECT * FROM unnest(?::uuid[], ?::text[])
            ON CONFLICT ("tenancy_id", "mapping_name") DO UPDATE SET "tenancy_id" = m."tenancy_id"
            RETURNING "tenancy_id", "mapping_name", "last_synced_sequence_id\"""";

    /* The cursors of first syncs at their final values; an existing one is left alone (the caller compares counts). */
    private static final String CREATE = """
            INSERT INTO "_stack_sync_metadata" ("tenancy_id", "mapping_name", "last_synced_sequence_id")
            SELECT * FROM unnest(?::uuid[], ?::text[], ?::bigint[])
            ON CONFLICT ("tenancy_id", "mapping_name") DO NOTHING""";

    /*
     * Every advance of a transaction as one compare-and-set: each moves only if it still is the value its rows were
     * read from (row-locking it). GREATEST keeps it monotonic even so.
     */
    private static final String ADVANCE = """
            UPDATE "_stack_sync_metadata" AS m
            SET "last_synced_sequence_id" = GREATEST(m."last_synced_sequence_id", x.n), "updated_at" = now()
            FROM unnest(?::uuid[], ?::text[], ?::bigint[], ?::bigint[]) AS x(t, name, n, e)
            WHERE m."tenancy_id" = x.t AND m."mapping_name" = x.name AND m."last_synced_sequence_id" = x.e""";

    private static final String COUNT_OTHER_TENANCIES = """
            SELECT count(*) FROM (SELECT 1 FROM "_stack_sync_metadata" WHERE "tenancy_id" <> ? LIMIT 1) AS o""";

    private static final String RESET = """
            UPDATE "_stack_sync_metadata" SET "last_synced_sequence_id" = -1, "backfill_high" = NULL,
                "backfill_after" = NULL, "updated_at" = now()
            WHERE "tenancy_id" = ?""";

    /**
     * The backfill position columns (see the class comment). Not in {@link Mappings#TARGET_DDL}, so not in the
     * schema mark: {@link TargetSchema} adds them to every target that lacks them, marked or not.
     */
    public static final String POSITION_DDL = """
            ALTER TABLE "_stack_sync_metadata" ADD COLUMN IF NOT EXISTS "backfill_high" bigint,
                ADD COLUMN IF NOT EXISTS "backfill_after" text[]""";

    /** Whether the cursor table has the position columns (false also when it does not exist). */
    static final String HAS_POSITION_COLUMNS = """
            SELECT count(*) = 2 FROM pg_attribute
            WHERE attrelid = to_regclass('"_stack_sync_metadata"') AND attname IN ('backfill_high', 'backfill_after')
              AND NOT attisdropped""";

    /* A page's position, guarded by the cursor the backfill runs from (a reset or another run would have moved it). */
    private static final String SAVE_POSITION = """
            UPDATE "_stack_sync_metadata" SET "backfill_high" = ?, "backfill_after" = ?::text[], "updated_at" = now()
            WHERE "tenancy_id" = ? AND "mapping_name" = ? AND "last_synced_sequence_id" = ?""";

    private static final String DROP_POSITION = """
            UPDATE "_stack_sync_metadata" SET "backfill_high" = NULL, "backfill_after" = NULL
            WHERE "tenancy_id" = ? AND "mapping_name" = ? AND "last_synced_sequence_id" = ?""";

    private TargetCursors() {
    }

    /**
     * A statement that finds cursor rows by tenancy, planned at every execution. A shared target's cursor table
     * starts empty and grows by thousands of rows a second while its tenancies sync for the first time, and
     * autovacuum analyzes it at most once a minute (autovacuum_naptime): a plan that pgjdbc's server-side prepare
     * kept from when it held a few rows (a sequential scan, the right choice then) would read the whole table for
     * every batch until the next analyze. Planned each time, the planner sees the table's current size. The reads
     * and updates here are one short statement per batch, so the planning is cheap beside what it prevents.
     */
    private static PreparedStatement plannedEachTime(Connection tc, String sql) throws SQLException {
        PreparedStatement ps = tc.prepareStatement(sql);
        try {
            ps.unwrap(PGStatement.class).setPrepareThreshold(0);
            return ps;
        } catch (SQLException | RuntimeException e) {
            ps.close();
            throw e;
        }
    }

    /** One cursor move: (tenancy, mapping) from the value its rows were read from to the last one applied. */
    public record Move(UUID tenancyId, String mapping, long from, long to) {
    }

    /** Every cursor of the given tenancies: tenancy → mapping name → cursor; a missing one is absent. */
    public static Map<UUID, Map<String, Long>> readAll(Connection tc, List<UUID> tenancies) throws SQLException {
        return readState(tc, tenancies).cursors();
    }

    /**
     * What {@link #readAll} and {@link #readPositions} return, for the same tenancies, in one statement: every cursor
     * (tenancy → mapping name → cursor; a missing one is absent) and every backfill position (most have none).
     */
    public record State(Map<UUID, Map<String, Long>> cursors, Map<UUID, Map<String, Position>> positions) {
    }

    /** Every cursor and every backfill position of the given tenancies, in one round trip. */
    public static State readState(Connection tc, List<UUID> tenancies) throws SQLException {
        Map<UUID, Map<String, Long>> cursors = new HashMap<>();
        Map<UUID, Map<String, Position>> positions = new HashMap<>();
        try (PreparedStatement ps = plannedEachTime(tc, READ_STATE)) {
            ps.setArray(1, tc.createArrayOf("uuid", tenancies.toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    UUID tenancy = rs.getObject(1, UUID.class);
                    String mapping = rs.getString(2);
                    cursors.computeIfAbsent(tenancy, k -> new HashMap<>()).put(mapping, rs.getLong(3));
                    long high = rs.getLong(4);
                    if (!rs.wasNull()) {
                        java.sql.Array after = rs.getArray(5);
                        positions.computeIfAbsent(tenancy, k -> new HashMap<>()).put(mapping,
                                new Position(high, after == null ? null : (String[]) after.getArray()));
                    }
                }
            }
        }
        return new State(cursors, positions);
    }

    /** One cursor, or −1 when it does not exist. */
    public static long read(Connection tc, UUID tenancy, String mapping) throws SQLException {
        try (PreparedStatement ps = plannedEachTime(tc, READ_ONE)) {
            ps.setObject(1, tenancy);
            ps.setString(2, mapping);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : -1;
            }
        }
    }

    /** Creates the named cursors of one tenancy at −1 where missing; returns their values (mapping → cursor). */
    public static Map<String, Long> ensure(Connection tc, UUID tenancy, List<String> mappings) throws SQLException {
        Map<String, Long> values = new HashMap<>();
        UUID[] tenancies = new UUID[mappings.size()];
        Arrays.fill(tenancies, tenancy);
        try (PreparedStatement ps = tc.prepareStatement(ENSURE)) {
            ps.setArray(1, tc.createArrayOf("uuid", tenancies));
            ps.setArray(2, tc.createArrayOf("text", mappings.toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    values.put(rs.getString(2), rs.getLong(3));
                }
            }
        }
        return values;
    }

    /** Compare-and-set of every move in the caller's transaction; returns how many moved (fewer: one moved before). */
    public static int advance(Connection tc, List<Move> moves) throws SQLException {
        try (PreparedStatement ps = plannedEachTime(tc, ADVANCE)) {
            ps.setArray(1, tc.createArrayOf("uuid", moves.stream().map(Move::tenancyId).toArray()));
            ps.setArray(2, tc.createArrayOf("text", moves.stream().map(Move::mapping).toArray()));
            ps.setArray(3, tc.createArrayOf("bigint", moves.stream().map(Move::to).toArray()));
            ps.setArray(4, tc.createArrayOf("bigint", moves.stream().map(Move::from).toArray()));
            return ps.executeUpdate();
        }
    }

    /**
     * Creates absent cursors at their final values ({@link Move#to}) in the caller's transaction; returns how many
     * were created (fewer: one was created meanwhile, compare-and-set semantics for a row that was absent).
     */
    public static int create(Connection tc, List<Move> moves) throws SQLException {
        try (PreparedStatement ps = tc.prepareStatement(CREATE)) {
            ps.setArray(1, tc.createArrayOf("uuid", moves.stream().map(Move::tenancyId).toArray()));
            ps.setArray(2, tc.createArrayOf("text", moves.stream().map(Move::mapping).toArray()));
            ps.setArray(3, tc.createArrayOf("bigint", moves.stream().map(Move::to).toArray()));
            return ps.executeUpdate();
        }
    }

    /**
     * For a resync, in the caller's transaction: locks the cursor table against other tenancies' first cursor
     * inserts (so "dedicated" cannot change until commit) and answers whether another tenancy has cursors here.
     */
    public static boolean lockAndCheckShared(Connection tc, UUID tenancy) throws SQLException {
        try (Statement st = tc.createStatement()) {
            st.execute("LOCK TABLE \"_stack_sync_metadata\" IN SHARE ROW EXCLUSIVE MODE");
        }
        try (PreparedStatement ps = tc.prepareStatement(COUNT_OTHER_TENANCIES)) {
            ps.setObject(1, tenancy);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getLong(1) > 0;
            }
        }
    }

    /**
     * A backfill's persisted position: the stamp it ends at and the last key applied (null: none applied yet).
     */
    public record Position(long high, String[] after) {
    }

    /** The backfill positions of the given tenancies: tenancy → mapping name → position; most have none. */
    public static Map<UUID, Map<String, Position>> readPositions(Connection tc, List<UUID> tenancies)
            throws SQLException {
        return readState(tc, tenancies).positions();
    }

    /**
     * Writes a backfill position in the caller's transaction, if the cursor still is {@code cursor}; returns whether
     * it was (false: reset or moved underneath, the caller rolls back).
     */
    public static boolean savePosition(Connection tc, UUID tenancy, String mapping, long cursor, Position position)
            throws SQLException {
        try (PreparedStatement ps = tc.prepareStatement(SAVE_POSITION)) {
            ps.setLong(1, position.high());
            ps.setArray(2, position.after() == null ? null : tc.createArrayOf("text", position.after()));
            ps.setObject(3, tenancy);
            ps.setString(4, mapping);
            ps.setLong(5, cursor);
            return ps.executeUpdate() == 1;
        }
    }

    /**
     * Drops a finished backfill's position in the caller's transaction, the one that also moves the cursor from
     * {@code cursor} to H (compare-and-set, {@link #advance}); returns whether the cursor still was {@code cursor}.
     */
    public static boolean dropPosition(Connection tc, UUID tenancy, String mapping, long cursor) throws SQLException {
        try (PreparedStatement ps = tc.prepareStatement(DROP_POSITION)) {
            ps.setObject(1, tenancy);
            ps.setString(2, mapping);
            ps.setLong(3, cursor);
            return ps.executeUpdate() == 1;
        }
    }

    /** Resets every cursor of the tenancy to −1 and drops its backfill positions, in the caller's transaction. */
    public static void reset(Connection tc, UUID tenancy) throws SQLException {
        try (PreparedStatement ps = tc.prepareStatement(RESET)) {
            ps.setObject(1, tenancy);
            ps.executeUpdate();
        }
    }
}
