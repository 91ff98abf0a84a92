package dev.externaldbsync.engine.run;

import java.sql.SQLException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One read running on another thread while its caller works: a snapshot backfill reads its next page on the
 * internal connection while the current page is applied on the target's, so the two databases' work (and the
 * engine's decoding) overlap instead of taking turns. Started with {@link #start}, collected with {@link #join}.
 * <p>
 * The read owns its connection until {@link #join} (or {@link #settle}) returns: the caller must not use that
 * connection before, and must collect every read it started, on failure too, so that no statement is still
 * running on the connection when it goes back to its pool. Both waits are uninterruptible; the read's own
 * statement timeout bounds them.
 */
public final class ReadAhead<T> {

    /** A read that may fail as SQL does. */
    interface Read<T> {
        T read() throws SQLException;
    }

    /** For contexts built without an engine (tests, tools): a few daemon threads shared by the process. */
    static final Executor SHARED = pool("sync-engine-read-ahead-shared", 4);

    private final CompletableFuture<T> future;

    private ReadAhead(CompletableFuture<T> future) {
        this.future = future;
    }

    /**
     * Threads for reads ahead: up to {@code threads} at once (one per worker suffices: a run has at most one read
     * ahead), idle ones ending after 30 s. A read that finds every thread busy, or the pool shut down, runs in the
     * caller: correct, only without the overlap.
     */
    public static ExecutorService pool(String name, int threads) {
        AtomicInteger n = new AtomicInteger();
        return new ThreadPoolExecutor(0, Math.max(1, threads), 30, TimeUnit.SECONDS, new SynchronousQueue<>(), r -> {
            Thread t = new Thread(r, name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        }, (task, executor) -> task.run());
    }

    static <T> ReadAhead<T> start(Executor executor, Read<T> read) {
        return new ReadAhead<>(CompletableFuture.supplyAsync(() -> {
            try {
                return read.read();
            } catch (SQLException e) {
                throw new CompletionException(e);
            }
        }, executor));
    }

    /** The read's result, or its failure as it was thrown. */
    T join() throws SQLException {
        try {
            return future.join();
        } catch (CompletionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof SQLException sql) {
                throw sql;
            }
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw e;
        }
    }

    /** Waits until the read is over, without collecting it: its result or failure is still {@link #join}'s. */
    void awaitDone() {
        future.handle((result, failure) -> null).join();
    }

    /**
     * Waits for the read after the caller itself failed with {@code primary} (whose failure is what the run
     * reports): the read's own failure, if any, is attached to it as suppressed.
     */
    void settle(Throwable primary) {
        try {
            join();
        } catch (SQLException | RuntimeException e) {
            if (e != primary) {
                primary.addSuppressed(e);
            }
        }
    }
}
