package dev.externaldbsync.load;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.TargetColumn;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;

/**
 * The ceiling: one tenancy's projected rows moved by PostgreSQL alone. Per mapping, {@code COPY (<the mapping's
 * projection query>) TO STDOUT (FORMAT binary)} on the internal database streams, through a 1 MiB pipe, into
 * {@code COPY <staging> FROM STDIN (FORMAT binary)} on the target (a temporary table shaped like the target table),
 * then one {@code INSERT … SELECT … ON CONFLICT DO UPDATE} moves the staging rows into the real target table, in the
 * target's transaction. The read and the write run on two threads, as the engine's fetch and apply can. Memory is the
 * pipe's buffer. Not thread-safe; one instance per measurement.
 */
final class CopyCeiling {

    /** What one run moved. */
    record Result(long rows, long elapsedNanos) {
        double rowsPerSecond() {
            return elapsedNanos == 0 ? 0 : rows * 1e9 / elapsedNanos;
        }
    }

    private final Connection internal;
    private final Connection target;

    /** {@code target}'s search_path must name the schema to write into; the mapping tables are created there. */
    CopyCeiling(Connection internal, Connection target) {
        this.internal = internal;
        this.target = target;
    }

    Result run(UUID tenancy, List<Mapping> mappings) throws Exception {
        target.setAutoCommit(true);
        internal.setAutoCommit(true);
        try (Statement st = target.createStatement()) {
            for (Mapping m : mappings) {
                for (String ddl : m.ddl()) {
                    st.execute(ddl);
                }
            }
        }
        long started = System.nanoTime();
        long rows = 0;
        for (Mapping m : mappings) {
            rows += copy(tenancy, m);
        }
        return new Result(rows, System.nanoTime() - started);
    }

    /** Moves one mapping's projection of the tenancy; returns the rows upserted. */
    long copy(UUID tenancy, Mapping m) throws Exception {
        String columns = m.columns().stream().map(TargetColumn::quoted).collect(Collectors.joining(", "));
        String projection = m.projectionSql();
        if (projection.indexOf('?') != projection.lastIndexOf('?') || projection.indexOf('?') < 0) {
            throw new IllegalStateException(m.name() + ": projection must take exactly one parameter");
        }
        // COPY takes no parameters; a UUID's text form is safe to inline.
        String source = projection.replace("?", "'" + tenancy + "'::uuid");
        String copyOut = "COPY (SELECT " + columns + " FROM (" + source + ") AS p) TO STDOUT (FORMAT binary)";
        String stage = "\"_bench_stage_" + m.name() + "\"";
        List<TargetColumn> rest = m.columns().stream().filter(c -> !m.keyColumns().contains(c.name())).toList();
        String upsert = "INSERT INTO " + m.quotedTable() + " (" + columns + ") SELECT " + columns + " FROM " + stage
                + " ON CONFLICT (" + m.keyColumns().stream().map(k -> "\"" + k + "\"").collect(Collectors.joining(", "))
                + ") " + (rest.isEmpty() ? "DO NOTHING" : "DO UPDATE SET " + rest.stream()
                        .map(c -> c.quoted() + " = EXCLUDED." + c.quoted()).collect(Collectors.joining(", ")));

        target.setAutoCommit(false);
        try {
            try (Statement st = target.createStatement()) {
                st.execute("CREATE TEMPORARY TABLE " + stage + " (LIKE " + m.quotedTable() + ") ON COMMIT DROP");
            }
            CopyManager in = internal.unwrap(PGConnection.class).getCopyAPI();
            CopyManager out = target.unwrap(PGConnection.class).getCopyAPI();
            ExecutorService reader = Executors.newSingleThreadExecutor(r -> new Thread(r, "copy-out-" + m.name()));
            try (PipedInputStream pipeIn = new PipedInputStream(1 << 20);
                    PipedOutputStream pipeOut = new PipedOutputStream(pipeIn)) {
                Future<Long> exported = reader.submit(() -> {
                    try (pipeOut) {
                        return in.copyOut(copyOut, pipeOut);
                    }
                });
                long staged;
                try {
                    staged = out.copyIn("COPY " + stage + " (" + columns + ") FROM STDIN (FORMAT binary)", pipeIn);
                } catch (SQLException | IOException e) {
                    exported.cancel(true);
                    throw e;
                }
                long read = get(exported);
                if (read != staged) {
                    throw new IllegalStateException(m.name() + ": read " + read + " rows but staged " + staged);
                }
            } finally {
                reader.shutdownNow();
            }
            long upserted;
            try (Statement st = target.createStatement()) {
                upserted = st.executeLargeUpdate(upsert);
            }
            target.commit();
            return upserted;
        } catch (Exception e) {
            target.rollback();
            throw e;
        } finally {
            target.setAutoCommit(true);
        }
    }

    private static long get(Future<Long> f) throws Exception {
        try {
            return f.get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception ex ? ex : e;
        }
    }
}
