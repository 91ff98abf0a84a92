package dev.externaldbsync.engine.apply;

import java.io.IOException;
import java.io.OutputStream;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;

import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.PGCopyOutputStream;

import dev.externaldbsync.engine.target.TargetSession;
import dev.externaldbsync.mapping.Mapping;

/**
 * The target half of a copied backfill chunk: rows streamed by {@code COPY … FROM STDIN (FORMAT binary)} into the
 * mapping's staging table ({@link Mapping#stagingTable}, temporary, so private to the connection and emptied at
 * commit), then one upsert from there into the target table ({@link Mapping#upsertFromStagingSql}), inside the
 * caller's open target transaction. The caller guards and moves its cursor in the same transaction and commits; on
 * any failure the transaction is rolled back here. Stateless; thread-safe.
 */
public final class StagedUpsert {

    /** The rows of one chunk, written to {@code sink} in binary COPY format; returns how many were written. */
    public interface Rows {
        long copyTo(OutputStream sink) throws SQLException, IOException;
    }

    /** Bytes gathered into one copy message: one round of the socket per 64 KiB, not per row. */
    private static final int MESSAGE_BYTES = 1 << 16;

    private StagedUpsert() {
    }

    /**
     * Stages {@code rows} and upserts them into the target table.
     *
     * @return the target rows written (identical rows are not rewritten)
     * @throws SQLException when either database fails the chunk; the target transaction is rolled back
     */
    public static long apply(Connection tc, Mapping mapping, Rows rows) throws SQLException {
        try {
            tc.setAutoCommit(false);
            try (Statement st = tc.createStatement()) {
                st.execute(mapping.stagingDdl());
            }
            copy(tc, mapping, mapping.stagingCopySql(), rows);
            try (Statement st = tc.createStatement()) {
                return st.executeLargeUpdate(mapping.upsertFromStagingSql());
            }
        } catch (SQLException | RuntimeException e) {
            TargetSession.rollbackQuietly(tc);
            throw e;
        }
    }

    /**
     * Copies {@code rows} straight into the target table, without staging: for a chunk whose keys the target does
     * not hold yet (a first sync, a resync), where it saves the staging table's write and the second pass over the
     * rows. A key the target already holds fails it with a unique violation ({@link #HELD_KEY}), rolled back; the
     * caller then applies the chunk with {@link #apply}.
     *
     * @return the rows inserted
     */
    public static long insertAbsent(Connection tc, Mapping mapping, Rows rows) throws SQLException {
        try {
            tc.setAutoCommit(false);
            return copy(tc, mapping, mapping.insertCopySql(), rows);
        } catch (SQLException | RuntimeException e) {
            TargetSession.rollbackQuietly(tc);
            throw e;
        }
    }

    /** What {@link #insertAbsent} fails with when the target holds one of the chunk's keys: unique_violation. */
    public static final String HELD_KEY = "23505";

    private static long copy(Connection tc, Mapping mapping, String copySql, Rows rows) throws SQLException {
        CopyIn in = tc.unwrap(PGConnection.class).getCopyAPI().copyIn(copySql);
        long read;
        long written;
        try {
            PGCopyOutputStream stream = new PGCopyOutputStream(in, MESSAGE_BYTES);
            read = rows.copyTo(stream);
            written = stream.endCopy();
        } catch (IOException e) {
            throw asSql(e);
        } finally {
            if (in.isActive()) {
                in.cancelCopy();
            }
        }
        if (read != written) {
            throw new SQLException(mapping.name() + ": " + read + " rows read but " + written + " copied", "XX000");
        }
        return written;
    }

    /**
     * A stream failure as the database failure under it: the target's error when the target refused a write, else a
     * broken connection (class 08), which is what an I/O failure on either socket is.
     */
    static SQLException asSql(IOException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SQLException sql) {
                return sql;
            }
        }
        return new SQLException("copy stream failed: " + e.getMessage(), "08006", e);
    }
}
