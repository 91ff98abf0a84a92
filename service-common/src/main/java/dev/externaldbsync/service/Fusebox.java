package dev.externaldbsync.service;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

import java.util.concurrent.atomic.AtomicLong;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Event;
import jakarta.inject.Inject;

import io.agroal.api.AgroalDataSource;

/**
 * The global switches of the sequencer and the poller, kept in the singleton {@code "ExternalDbSyncMetadata"} row
 * (no row = both enabled), so that every replica of every service sees one truth. {@link #read()} costs one indexed
 * single-row query; {@link #current()}, which the loops call every iteration, costs that query at most once per
 * {@code sync.fusebox-check-interval}, so a change made by another replica (or directly in the database) is seen
 * within that interval. A change made through this instance ({@link #update}) is cached at once and announced as a
 * {@link Changed} event, so this process's loops see it without waiting. Thread-safe.
 */
@ApplicationScoped
public class Fusebox {

    /** Both switches at one instant. */
    public record State(boolean sequencerEnabled, boolean pollerEnabled) {
    }

    /** Fired (synchronously, on the caller's thread) after {@link #update} wrote the switches. */
    public record Changed(State state) {
    }

    private record Cached(State state, long readAtNanos) {
    }

    private static final String READ = """
            SELECT "sequencerEnabled", "pollerEnabled" FROM "ExternalDbSyncMetadata" WHERE "singleton" = 'TRUE'""";

    private static final String WRITE = """
            INSERT INTO "ExternalDbSyncMetadata" ("singleton", "sequencerEnabled", "pollerEnabled", "updatedAt")
            VALUES ('TRUE', coalesce(?, true), coalesce(?, true), now())
            ON CONFLICT ("singleton") DO UPDATE SET
                "sequencerEnabled" = coalesce(?, "ExternalDbSyncMetadata"."sequencerEnabled"),
                "pollerEnabled" = coalesce(?, "ExternalDbSyncMetadata"."pollerEnabled"),
                "updatedAt" = now()""";

    @Inject
    AgroalDataSource dataSource;

    @Inject
    CommonConfig config;

    @Inject
    Event<Changed> changed;

    private volatile Cached cached;

    private final AtomicLong reads = new AtomicLong();

    /**
     * The switches as last read, re-read when that was at least {@code sync.fusebox-check-interval} ago. Throws like
     * {@link #read()} when it has to read and cannot.
     */
    public State current() {
        Cached c = cached;
        long now = System.nanoTime();
        if (c != null && now - c.readAtNanos() < config.fuseboxCheckInterval().toNanos()) {
            return c.state();
        }
        State state = read();
        cached = new Cached(state, now);
        return state;
    }

    /** Queries of the switch row this instance has made (what {@link #current()} saves is visible here). */
    public long reads() {
        return reads.get();
    }

    /** Reads the row now, bypassing (and refreshing) the cache. */
    public State read() {
        long now = System.nanoTime();
        try (Connection c = dataSource.getConnection()) {
            State state = read(c);
            cached = new Cached(state, now);
            return state;
        } catch (SQLException e) {
            throw new IllegalStateException("Cannot read the fusebox: " + e.getMessage(), e);
        }
    }

    /** Reads on a connection the caller already holds (e.g. inside its own transaction). */
    public State read(Connection connection) throws SQLException {
        reads.incrementAndGet();
        try (PreparedStatement ps = connection.prepareStatement(READ); ResultSet rs = ps.executeQuery()) {
            return rs.next() ? new State(rs.getBoolean(1), rs.getBoolean(2)) : new State(true, true);
        }
    }

    /** Sets either switch; a null leaves that switch as it is. Returns the state after the change. */
    public State update(Boolean sequencerEnabled, Boolean pollerEnabled) {
        State state;
        long now = System.nanoTime();
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(WRITE)) {
            ps.setObject(1, sequencerEnabled);
            ps.setObject(2, pollerEnabled);
            ps.setObject(3, sequencerEnabled);
            ps.setObject(4, pollerEnabled);
            ps.executeUpdate();
            state = read(c);
        } catch (SQLException e) {
            throw new IllegalStateException("Cannot update the fusebox: " + e.getMessage(), e);
        }
        cached = new Cached(state, now);
        changed.fire(new Changed(state));
        return state;
    }
}
