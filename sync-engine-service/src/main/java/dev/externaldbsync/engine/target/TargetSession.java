package dev.externaldbsync.engine.target;

import java.sql.Connection;
import java.sql.SQLException;

import org.jboss.logging.Logger;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.engine.errors.SqlFailure;

/**
 * One run's hold on a target: the pool lease and one connection from it, confined to the run's thread. A lost
 * connection is reported once with {@link #failed}: the pool is flushed then (its other connections are likely dead
 * too), however many stages saw the failure.
 */
public final class TargetSession implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(TargetSession.class);

    private final TargetPools.Lease lease;
    private final Connection connection;
    private final PostgresUrl url;
    private boolean flushed;

    private TargetSession(TargetPools.Lease lease, Connection connection, PostgresUrl url) {
        this.lease = lease;
        this.connection = connection;
        this.url = url;
    }

    /** Leases the target's pool and takes a connection; a failure to connect flushes the pool before it is thrown. */
    public static TargetSession open(TargetPools pools, PostgresUrl url) throws SQLException {
        TargetPools.Lease lease = pools.lease(url);
        try {
            return new TargetSession(lease, lease.connection(), url);
        } catch (SQLException | RuntimeException e) {
            if (e instanceof SQLException sql && SqlFailure.isConnection(sql)) {
                lease.flush();
            }
            lease.close();
            throw e;
        }
    }

    public Connection connection() {
        return connection;
    }

    public PostgresUrl url() {
        return url;
    }

    /** Notes a failure of any stage on this target; a lost connection flushes the pool (once per session). */
    public SQLException failed(SQLException e) {
        if (!flushed && SqlFailure.isConnection(e)) {
            flushed = true;
            lease.flush();
        }
        return e;
    }

    /** Rolls back whatever is open; a rollback that fails is of no further interest (the run failed already). */
    public void rollbackQuietly() {
        rollbackQuietly(connection);
    }

    public static void rollbackQuietly(Connection c) {
        try {
            c.rollback();
        } catch (SQLException e) {
            LOG.debugf("Rollback failed: %s", SqlFailure.describe(e));
        }
    }

    @Override
    public void close() {
        try {
            connection.close();
        } catch (SQLException e) {
            failed(e);
        } finally {
            lease.close();
        }
    }
}
