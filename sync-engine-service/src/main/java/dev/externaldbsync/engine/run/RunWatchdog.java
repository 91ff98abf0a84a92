package dev.externaldbsync.engine.run;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

import org.jboss.logging.Logger;

import org.postgresql.PGConnection;

/**
 * The run deadline, enforced: every run gets a {@link Deadline}; no page starts after it ({@link Deadline#passed}),
 * and a run still inside a statement a grace period later has its target connection aborted from this watchdog's
 * thread, so the blocked statement fails at once and the worker is free. A hung target costs one worker for at most
 * the deadline plus the grace, whatever the tenant configured. Thread-safe.
 */
public final class RunWatchdog implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(RunWatchdog.class);

    /** Closing a socket is quick: the abort runs on the watchdog's own thread. */
    private static final Executor DIRECT = Runnable::run;

    private final ScheduledExecutorService timer;
    private final Duration deadline;
    private final Duration grace;
    private final AtomicLong aborts = new AtomicLong();
    private final LongSupplier nanoTime;

    public RunWatchdog(Duration deadline, Duration grace) {
        this(deadline, grace, System::nanoTime);
    }

    /** @param nanoTime the clock deadlines are measured on ({@link System#nanoTime}; a test's own to pass them) */
    public RunWatchdog(Duration deadline, Duration grace, LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
        this.deadline = deadline;
        this.grace = grace;
        ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "sync-engine-watchdog");
            t.setDaemon(true);
            return t;
        });
        // Most runs finish long before their deadline: drop their cancelled timers instead of keeping them queued.
        executor.setRemoveOnCancelPolicy(true);
        this.timer = executor;
    }

    /** A new run's deadline, starting now. */
    public Deadline start() {
        return new Deadline(nanoTime.getAsLong() + deadline.toNanos());
    }

    /** Connections aborted since start. */
    public long aborts() {
        return aborts.get();
    }

    public Duration deadline() {
        return deadline;
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }

    /** One run's deadline; {@link #close} it when the run is done with its target connection. */
    public final class Deadline implements AutoCloseable {
        private final long at;
        private volatile ScheduledFuture<?> abort;
        private volatile boolean aborted;

        private Deadline(long at) {
            this.at = at;
        }

        /** The deadline has passed: start no further page. */
        public boolean passed() {
            return nanoTime.getAsLong() - at >= 0;
        }

        /** The watchdog aborted this run's connection. */
        public boolean aborted() {
            return aborted;
        }

        /** Aborts {@code target} if the run still holds it {@code grace} past the deadline. */
        public void watch(Connection target) {
            long delay = Math.max(0, at - nanoTime.getAsLong()) + grace.toNanos();
            abort = timer.schedule(() -> abort(target), delay, TimeUnit.NANOSECONDS);
        }

        private void abort(Connection target) {
            aborted = true;
            aborts.incrementAndGet();
            LOG.warnf("A run passed its deadline of %s by %s: aborting its target connection", deadline, grace);
            try {
                // The pool's wrapper would only forget the connection; the driver's own abort closes the socket,
                // which is what fails a statement blocked on it.
                ((Connection) target.unwrap(PGConnection.class)).abort(DIRECT);
            } catch (SQLException | RuntimeException e) {
                LOG.debugf("Aborting a target connection failed: %s", e.getMessage());
            }
        }

        @Override
        public void close() {
            ScheduledFuture<?> f = abort;
            if (f != null) {
                f.cancel(false);
            }
        }
    }
}
