package dev.externaldbsync.load;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * Whether the server vacuumed while a clock ran: {@code pg_stat_progress_vacuum}, every database of the server,
 * sampled every {@link #SAMPLE_MILLIS} ms on the caller's connection from a thread of its own. Right after a bulk load
 * (or the stamping of one) autovacuum takes a table of millions of rows, which on a 2-core machine is a core that the
 * phase measured beside it does not have, and the figure moves with the vacuum's timing rather than the code. The
 * bench reports what it saw, so that such a run is visible rather than read as the pipeline's speed.
 * One instance per clock; {@link #around} is not reentrant.
 */
final class VacuumWatch {

    static final long SAMPLE_MILLIS = 250;

    /** How long a vacuum was seen running (whole sampling intervals), and which relations it was on. */
    record Result(double seconds, Set<String> relations) {

        /** "none", or the relations, for a report note. */
        String describe() {
            return relations.isEmpty() ? "none" : String.join(", ", relations);
        }
    }

    /**
     * Relations are named in the database the connection is in, by oid elsewhere; a role without {@code
     * pg_read_all_stats} sees another role's vacuum (autovacuum's) without its relation, still a vacuum.
     */
    private static final String RUNNING = """
            SELECT coalesce(p.datname, '?') || '.'
                   || coalesce(CASE WHEN p.datname = current_database() THEN p.relid::regclass::text
                                    ELSE p.relid::text END, '(hidden from this role)')
            FROM pg_stat_progress_vacuum AS p""";

    private final Connection connection;
    private final Set<String> relations = new TreeSet<>();
    private long vacuumNanos;
    private long lastSample;

    VacuumWatch(Connection connection) {
        this.connection = connection;
    }

    /** Runs {@code work} while sampling and returns what was seen; sampling has stopped when this returns or throws. */
    Result around(PipelineCpu.Work work, Consumer<String> sampleFailure) throws Exception {
        synchronized (this) {
            lastSample = System.nanoTime();
        }
        try (PreparedStatement running = connection.prepareStatement(RUNNING)) {
            Sampling.around("bench-vacuum-watch", Duration.ZERO, Duration.ofMillis(SAMPLE_MILLIS),
                    () -> sample(running), sampleFailure, work);
        }
        synchronized (this) {
            return new Result(vacuumNanos / 1e9, Set.copyOf(relations));
        }
    }

    /** The relations seen so far (for a caller that waits on the watch itself). */
    synchronized Set<String> seenSoFar() {
        return Set.copyOf(relations);
    }

    /** One sample: the interval since the previous one counts as vacuuming when a vacuum runs now. */
    private synchronized void sample(PreparedStatement running) throws SQLException {
        long now = System.nanoTime();
        boolean any = false;
        try (ResultSet rs = running.executeQuery()) {
            while (rs.next()) {
                any = true;
                relations.add(rs.getString(1));
            }
        }
        if (any) {
            vacuumNanos += now - lastSample;
        }
        lastSample = now;
    }
}
