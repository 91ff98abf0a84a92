package dev.externaldbsync.service;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;

import javax.sql.DataSource;

import org.jboss.logging.Logger;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

/**
 * Waits for {@code NOTIFY} on one channel, on one dedicated connection that does nothing else: the sequencer on
 * {@code external_db_sync_changes} (sent by the capture triggers once per writing transaction, at its commit), the
 * poller on {@code external_db_sync_requests} (sent by {@code sync_enqueue_tenancies}).
 * <p>
 * Plain JDBC from the service's own datasource, so the LISTEN connection has exactly the settings (TLS, timeouts,
 * credentials) {@code INTERNAL_DATABASE_URL} gives every other connection, and no second driver is needed.
 * <p>
 * Waiting costs no statement: {@link PGConnection#getNotifications(int)} blocks on the socket (in slices of 250 ms,
 * so that {@link #wakeUp()} works; a slice that times out costs a socket poll in this JVM, nothing in the database). When the connection
 * breaks (database restart, failover, a terminated backend) the listener logs it, reconnects with exponential
 * backoff (100 ms doubling to 30 s) and reports the reconnect as a wake-up, because notifications sent while it was
 * gone are lost and the caller must look for work. While it cannot connect, {@link #await} simply sleeps: the
 * caller's fallback poll keeps the pipeline going.
 * <p>
 * Thread-safety: one thread calls {@link #await} and {@link #close}; {@link #wakeUp()} and the getters may be
 * called from any thread.
 */
public final class NotificationListener implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(NotificationListener.class);
    private static final Duration MIN_BACKOFF = Duration.ofMillis(100);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(30);
    public static final int SLICE_MILLIS = 250;

    private final DataSource dataSource;
    private final String channel;
    private final Clock clock;
    private Connection connection;
    private PGConnection pg;
    private Duration backoff = MIN_BACKOFF;
    private long nextAttemptMillis;
    private boolean everConnected;
    private volatile boolean listening;
    private volatile boolean woken;
    private volatile long reconnects;

    /**
     * @param channel the channel name, one of the project's own: a plain lower-case identifier, rendered into
     *                {@code LISTEN} as it is (so {@code pg_stat_activity} shows {@code LISTEN <channel>})
     */
    public NotificationListener(DataSource dataSource, String channel, Clock clock) {
        if (channel == null || !channel.matches("[a-z_][a-z0-9_]*")) {
            throw new IllegalArgumentException("not a plain channel name: " + channel);
        }
        this.dataSource = dataSource;
        this.channel = channel;
        this.clock = clock;
    }

    /**
     * Waits up to {@code timeout} for a notification. Returns true when woken by one (all pending ones are
     * consumed), by {@link #wakeUp()}, or when the connection was (re)established during this call; false on
     * timeout. The wait is sliced (at most {@link #SLICE_MILLIS} per socket read, no statement) so that
     * {@link #wakeUp()} takes effect quickly: a blocked socket read cannot be interrupted.
     */
    public boolean await(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            if (woken) {
                woken = false;
                return true;
            }
            if (connection == null && clock.millis() >= nextAttemptMillis && connect()) {
                return true;
            }
            long remaining = (deadline - System.nanoTime()) / 1_000_000;
            if (remaining <= 0) {
                return false;
            }
            int slice = (int) Math.min(SLICE_MILLIS, remaining);
            if (connection == null) {
                Thread.sleep(Math.min(slice, Math.max(1, nextAttemptMillis - clock.millis())));
                continue;
            }
            try {
                PGNotification[] notifications = pg.getNotifications(slice);
                if (notifications != null && notifications.length > 0) {
                    return true;
                }
            } catch (SQLException e) {
                LOG.warnf("LISTEN connection broke (%s); reconnecting with backoff, fallback polling meanwhile",
                        e.getMessage());
                exposeBrokenConnectionToPool();
                disconnect();
                scheduleRetry();
            }
        }
    }

    /** Makes the current or next {@link #await} return at once (used to stop the loop promptly). */
    public void wakeUp() {
        woken = true;
    }

    /** True while the LISTEN connection is up. */
    public boolean listening() {
        return listening;
    }

    /** How many times the connection was re-established after a loss. */
    public long reconnects() {
        return reconnects;
    }

    private boolean connect() {
        Connection c = null;
        try {
            c = dataSource.getConnection();
            c.setAutoCommit(true);
            try (Statement s = c.createStatement()) {
                s.execute("LISTEN " + channel);
            }
            connection = c;
            pg = c.unwrap(PGConnection.class);
            backoff = MIN_BACKOFF;
            listening = true;
            if (everConnected) {
                reconnects++;
                LOG.infof("LISTEN connection on %s re-established", channel);
            }
            everConnected = true;
            return true;
        } catch (SQLException e) {
            if (c != null) {
                closeQuietly(c);
            }
            LOG.warnf("Cannot LISTEN on %s (%s); next attempt in %d ms", channel, e.getMessage(), backoff.toMillis());
            scheduleRetry();
            return false;
        }
    }

    /**
     * The failure above came through the unwrapped driver connection, which a pool never sees: it would hand the
     * dead connection out again. A statement through the pool's wrapper fails the same way and lets the pool's
     * exception sorter evict it on close.
     */
    private void exposeBrokenConnectionToPool() {
        try (Statement s = connection.createStatement()) {
            s.execute("SELECT 1");
        } catch (SQLException expected) {
            LOG.debugf("LISTEN connection confirmed broken: %s", expected.getMessage());
        }
    }

    private void scheduleRetry() {
        nextAttemptMillis = clock.millis() + backoff.toMillis();
        backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : backoff.multipliedBy(2);
    }

    private void disconnect() {
        listening = false;
        if (connection != null) {
            closeQuietly(connection);
        }
        connection = null;
        pg = null;
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (SQLException e) {
            LOG.debugf("Closing the LISTEN connection failed: %s", e.getMessage());
        }
    }

    @Override
    public void close() {
        if (connection != null) {
            try (Statement s = connection.createStatement()) {
                s.execute("UNLISTEN *");
            } catch (SQLException e) {
                LOG.debugf("UNLISTEN failed: %s", e.getMessage());
            }
        }
        disconnect();
    }
}
