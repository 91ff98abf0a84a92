package dev.externaldbsync.verifier;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

import dev.externaldbsync.config.PostgresUrl;

/**
 * Read-only JDBC connections, and a small LRU of target connections keyed by connection string, so that many
 * tenancies sharing one external database do not reconnect for every tenancy. Every connection is
 * {@code setReadOnly(true)}, autocommit off, and its session default is
 * {@code REPEATABLE READ READ ONLY}: each transaction is one consistent snapshot, and no statement can write.
 * Not thread-safe.
 */
final class TargetConnections implements AutoCloseable {

    private final int capacity;
    private final Map<PostgresUrl, Connection> open = new LinkedHashMap<>(16, 0.75f, true);

    TargetConnections(int capacity) {
        this.capacity = capacity;
    }

    Connection get(PostgresUrl url) throws SQLException {
        Connection c = open.get(url);
        if (c != null && !c.isClosed()) {
            return c;
        }
        c = connect(url, "verify-integrity target");
        open.put(url, c);
        if (open.size() > capacity) {
            Iterator<Map.Entry<PostgresUrl, Connection>> eldest = open.entrySet().iterator();
            closeQuietly(eldest.next().getValue());
            eldest.remove();
        }
        return c;
    }

    /** Drops a connection that failed, so the next tenancy reconnects. */
    void evict(PostgresUrl url) {
        Connection c = open.remove(url);
        if (c != null) {
            closeQuietly(c);
        }
    }

    static Connection connect(PostgresUrl url, String applicationName) throws SQLException {
        Properties p = new Properties();
        url.params().forEach(p::setProperty);
        if (url.user() != null) {
            p.setProperty("user", url.user());
        }
        if (url.password() != null) {
            p.setProperty("password", url.password());
        }
        p.setProperty("ApplicationName", applicationName);
        p.putIfAbsent("connectTimeout", "10");
        p.putIfAbsent("loginTimeout", "15");
        Connection c = DriverManager.getConnection(url.jdbcUrl(), p);
        try (var s = c.createStatement()) {
            s.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY");
            // Both sides render timestamps in one zone, so text forms of the same instant are equal.
            s.execute("SET TIME ZONE 'UTC'");
        }
        c.setReadOnly(true);
        c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
        c.setAutoCommit(false);
        return c;
    }

    /** A driver message with the password (if any) blanked out: driver messages should not contain it, but make sure. */
    static String safeMessage(Throwable e, PostgresUrl url) {
        String m = String.valueOf(e.getMessage());
        if (url != null && url.password() != null && !url.password().isEmpty()) {
            m = m.replace(url.password(), "***");
        }
        return PostgresUrl.redact(m);
    }

    static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (SQLException ignored) {
            // closing a broken connection: nothing left to release
        }
    }

    @Override
    public void close() {
        open.values().forEach(TargetConnections::closeQuietly);
        open.clear();
    }
}
