package dev.externaldbsync.load;

import dev.externaldbsync.sql.Identifiers;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * Observes when stamped changes become visible in a target's {@code users} table. Two row triggers on that table
 * (installed by {@link #install}) append each newly visible stamp ({@code server_metadata->>'loadCommitMs'}, set by
 * {@link WriteLoad} inside the committing statement) to a log table; the observer thread runs
 * {@code DELETE FROM log RETURNING …} every {@code pollMillis}: a DELETE sees only committed rows, so a stamp is
 * seen at the first poll after the engine's transaction committed, and its lag is that poll's server clock minus the
 * stamp (as LagBenchmark does: the end of the poll that saw the row, an upper bound by at most one poll interval).
 * Both clocks are the database server's; with the internal and target databases on different servers their clock
 * skew adds to every figure. The triggers cost the engine one small insert per visible stamp. Thread-safe: one
 * observer thread writes the samples, any thread reads them.
 */
final class LagObserver implements AutoCloseable {

    private final String schema;
    private final Connection connection;
    private final long pollNanos;
    private final Percentiles.Samples samples = new Percentiles.Samples();
    private final AtomicReference<Exception> failure = new AtomicReference<>();
    private volatile boolean running = true;
    private final Thread thread;

    private LagObserver(Connection connection, String schema, long pollMillis) {
        this.connection = connection;
        this.schema = schema;
        this.pollNanos = pollMillis * 1_000_000L;
        this.thread = new Thread(this::loop, "lag-observer");
        this.thread.setDaemon(true);
    }

    /** Creates the log table and the triggers on {@code <schema>.users}, which must exist. */
    static void install(Connection target, String schema) throws SQLException {
        String s = Identifiers.quote(schema);
        try (Statement st = target.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS " + s + ".\"_bench_lag_log\" (\"stamp_ms\" bigint NOT NULL)");
            st.execute("""
                    CREATE OR REPLACE FUNCTION %1$s."_bench_lag_capture"() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        INSERT INTO %1$s."_bench_lag_log" VALUES ((NEW."server_metadata" ->> 'loadCommitMs')::bigint);
                        RETURN NULL;
                    END $$""".formatted(s));
            st.execute("""
                    CREATE OR REPLACE TRIGGER "_bench_lag_insert" AFTER INSERT ON %1$s."users" FOR EACH ROW
                    WHEN ((NEW."server_metadata" -> 'loadCommitMs') IS NOT NULL)
                    EXECUTE FUNCTION %1$s."_bench_lag_capture"()""".formatted(s));
            st.execute("""
                    CREATE OR REPLACE TRIGGER "_bench_lag_update" AFTER UPDATE ON %1$s."users" FOR EACH ROW
                    WHEN ((NEW."server_metadata" -> 'loadCommitMs') IS NOT NULL
                          AND (NEW."server_metadata" -> 'loadCommitMs') IS DISTINCT FROM (OLD."server_metadata" -> 'loadCommitMs'))
                    EXECUTE FUNCTION %1$s."_bench_lag_capture"()""".formatted(s));
            st.execute("TRUNCATE " + s + ".\"_bench_lag_log\"");
        }
    }

    /** Starts observing; {@code connection} is owned (closed) by the observer. */
    static LagObserver start(Connection connection, String schema, long pollMillis) throws SQLException {
        connection.setAutoCommit(true);
        LagObserver observer = new LagObserver(connection, schema, pollMillis);
        observer.thread.start();
        return observer;
    }

    private void loop() {
        String sql = "DELETE FROM " + Identifiers.quote(schema) + ".\"_bench_lag_log\" RETURNING \"stamp_ms\", "
                + "extract(epoch FROM clock_timestamp()) * 1000";
        try (Statement st = connection.createStatement()) {
            while (running) {
                long began = System.nanoTime();
                try (ResultSet rs = st.executeQuery(sql)) {
                    while (rs.next()) {
                        samples.add(Math.max(0, rs.getDouble(2) - rs.getLong(1)));
                    }
                }
                long wait = pollNanos - (System.nanoTime() - began);
                if (wait > 0) {
                    LockSupport.parkNanos(wait);
                }
            }
        } catch (SQLException e) {
            failure.set(e);
        }
    }

    Percentiles snapshot() {
        return samples.snapshot();
    }

    /** Stops the observer; throws what made it fail, if anything. */
    @Override
    public void close() throws Exception {
        running = false;
        thread.join(10_000);
        connection.close();
        Exception e = failure.get();
        if (e != null) {
            throw new IllegalStateException("lag observer failed: " + e.getMessage(), e);
        }
    }

}
