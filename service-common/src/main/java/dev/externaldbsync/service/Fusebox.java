package dev.externaldbsync.service;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import io.agroal.api.AgroalDataSource;

/**
 * The global switches of the sequencer and the poller, kept in the singleton {@code "ExternalDbSyncMetadata"} row
 * (no row = both enabled), so that every replica of every service sees one truth. Reading costs one indexed
 * single-row query; thread-safe.
 */
@ApplicationScoped
public class Fusebox {

    /** Both switches at one instant. */
    public record State(boolean sequencerEnabled, boolean pollerEnabled) {
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

    public State read() {
        try (Connection c = dataSource.getConnection()) {
            return read(c);
        } catch (SQLException e) {
            throw new IllegalStateException("Cannot read the fusebox: " + e.getMessage(), e);
        }
    }

    /** Reads on a connection the caller already holds (e.g. inside its own transaction). */
    public State read(Connection connection) throws SQLException {
        try (PreparedStatement ps = connection.prepareStatement(READ); ResultSet rs = ps.executeQuery()) {
            return rs.next() ? new State(rs.getBoolean(1), rs.getBoolean(2)) : new State(true, true);
        }
    }

    /** Sets either switch; a null leaves that switch as it is. Returns the state after the change. */
    public State update(Boolean sequencerEnabled, Boolean pollerEnabled) {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(WRITE)) {
            ps.setObject(1, sequencerEnabled);
            ps.setObject(2, pollerEnabled);
            ps.setObject(3, sequencerEnabled);
            ps.setObject(4, pollerEnabled);
            ps.executeUpdate();
            return read(c);
        } catch (SQLException e) {
            throw new IllegalStateException("Cannot update the fusebox: " + e.getMessage(), e);
        }
    }
}
