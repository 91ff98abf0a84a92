package dev.externaldbsync.sequencer;

import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import org.jboss.logging.Logger;

import dev.externaldbsync.schema.SourceTable;
import io.quarkus.runtime.annotations.RegisterForReflection;
import dev.externaldbsync.service.NotificationListener;

/**
 * The one continuous sequencing loop of a process: runs {@link Sequencer#runOnce()} back to back while batches come
 * back full, otherwise waits for a change notification ({@link NotificationListener}) or the fallback interval.
 * <p>
 * Per iteration it first reads the fusebox switch (the caller's {@code enabled}, one single-row query); when the
 * switch is off it does nothing else and waits, so a paused sequencer costs one cheap query per fallback interval.
 * Marks stay in the database while paused, so turning the switch back on loses nothing.
 * <p>
 * Idle cost: one fusebox read plus one {@code EXISTS} probe per fallback interval (default 1 s), no transaction.
 * <p>
 * Errors (database down, a batch that fails) are recorded as the last error and retried after a backoff that doubles
 * from 100 ms to 30 s; a successful batch resets it.
 * <p>
 * Thread-safety: {@link #run} runs on one dedicated thread; {@link #stop}, {@link #stats} and
 * {@link #waitingRows} may be called from any thread.
 */
public final class SequencerLoop implements Runnable {

    /** Receives every committed non-empty batch (metrics); called on the loop thread. */
    public interface Observer {
        void batchCommitted(SequencingBatch batch);
    }

    /** A failure the loop recovered from. */
    @RegisterForReflection
    public record LastError(String message, Instant at) {
    }

    /** A consistent view of the loop's counters. */
    public record Stats(boolean running, boolean paused, boolean listening, long iterations, long batches,
            long rowsStamped, SequencingBatch lastBatch, LastError lastError) {
    }

    private static final Logger LOG = Logger.getLogger(SequencerLoop.class);
    private static final Duration MIN_ERROR_BACKOFF = Duration.ofMillis(100);
    private static final Duration MAX_ERROR_BACKOFF = Duration.ofSeconds(30);

    private final Sequencer sequencer;
    private final NotificationListener listener;
    private final BooleanSupplier enabled;
    private final Duration fallbackInterval;
    private final Duration waitingRefresh;
    private final Clock clock;
    private final Observer observer;

    private volatile boolean stopRequested;
    private volatile boolean running;
    private volatile boolean paused;
    private final AtomicLong iterations = new AtomicLong();
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong rowsStamped = new AtomicLong();
    private final AtomicReference<SequencingBatch> lastBatch = new AtomicReference<>();
    private final AtomicReference<LastError> lastError = new AtomicReference<>();
    private final AtomicReference<Map<SourceTable, Long>> waiting = new AtomicReference<>(zeros());
    private long lastWaitingRefresh;
    private boolean waitingEverCounted;
    private boolean waitingMayBeNonZero = true;

    public SequencerLoop(Sequencer sequencer, NotificationListener listener, BooleanSupplier enabled,
            Duration fallbackInterval, Duration waitingRefresh, Clock clock, Observer observer) {
        this.sequencer = sequencer;
        this.listener = listener;
        this.enabled = enabled;
        this.fallbackInterval = fallbackInterval;
        this.waitingRefresh = waitingRefresh;
        this.clock = clock;
        this.observer = observer;
    }

    @Override
    public void run() {
        running = true;
        Duration errorBackoff = MIN_ERROR_BACKOFF;
        try {
            // Listen before the first batch: a change committed while that batch runs then wakes the next one.
            listener.await(Duration.ofMillis(1));
            while (!stopRequested) {
                iterations.incrementAndGet();
                try {
                    if (!enabled.getAsBoolean()) {
                        paused = true;
                        listener.await(fallbackInterval);
                        continue;
                    }
                    paused = false;
                    SequencingBatch batch = sequencer.runOnce();
                    errorBackoff = MIN_ERROR_BACKOFF;
                    if (batch.rows() > 0) {
                        batches.incrementAndGet();
                        rowsStamped.addAndGet(batch.rows());
                        lastBatch.set(batch);
                        observer.batchCommitted(batch);
                        LOG.debugf("Stamped %d rows of %d tenancies in %d ms", batch.rows(), batch.tenancies(),
                                batch.duration().toMillis());
                    }
                    refreshWaiting(batch);
                    if (!batch.mayHaveMore()) {
                        listener.await(fallbackInterval);
                    }
                } catch (InterruptedException e) {
                    throw e;
                } catch (Exception e) {
                    lastError.set(new LastError(describe(e), clock.instant()));
                    LOG.warnf("Sequencing failed, retrying in %d ms: %s", errorBackoff.toMillis(), describe(e));
                    sleepUnlessStopped(errorBackoff.toMillis());
                    errorBackoff = errorBackoff.multipliedBy(2).compareTo(MAX_ERROR_BACKOFF) > 0
                            ? MAX_ERROR_BACKOFF : errorBackoff.multipliedBy(2);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            listener.close();
            running = false;
            LOG.info("Sequencer loop stopped");
        }
    }

    /**
     * Keeps the waiting-rows gauge fresh without a query per scrape and without any query when idle: an empty batch
     * proved that nothing is marked, and a refresh runs at most once per {@code waitingRefresh}.
     */
    private void refreshWaiting(SequencingBatch batch) throws SQLException {
        if (batch.nothingMarked()) {
            if (waitingMayBeNonZero) {
                waiting.set(zeros());
                waitingMayBeNonZero = false;
            }
            return;
        }
        long now = clock.millis();
        if (!waitingEverCounted || now - lastWaitingRefresh >= waitingRefresh.toMillis()) {
            waitingEverCounted = true;
            lastWaitingRefresh = now;
            Map<SourceTable, Long> counts = sequencer.waitingRows(Sequencer.WAITING_CAP);
            waiting.set(Collections.unmodifiableMap(new EnumMap<>(counts)));
            waitingMayBeNonZero = counts.values().stream().anyMatch(v -> v > 0);
        } else {
            waitingMayBeNonZero = true;
        }
    }

    /** Asks the loop to stop after the batch in progress; returns at once (join the thread to wait). */
    public void stop() {
        stopRequested = true;
        listener.wakeUp();
    }

    private void sleepUnlessStopped(long millis) throws InterruptedException {
        long deadline = System.nanoTime() + millis * 1_000_000;
        while (!stopRequested && System.nanoTime() < deadline) {
            Thread.sleep(Math.min(100, Math.max(1, (deadline - System.nanoTime()) / 1_000_000)));
        }
    }

    public Stats stats() {
        return new Stats(running, paused, listener.listening(), iterations.get(), batches.get(), rowsStamped.get(),
                lastBatch.get(), lastError.get());
    }

    /** Waiting rows per table as last refreshed by the loop (never queries; capped at {@link Sequencer#WAITING_CAP}+1). */
    public Map<SourceTable, Long> waitingRows() {
        return waiting.get();
    }

    private static String describe(Exception e) {
        String message = e.getMessage();
        return e.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }

    private static Map<SourceTable, Long> zeros() {
        Map<SourceTable, Long> zeros = new EnumMap<>(SourceTable.class);
        for (SourceTable table : SourceTable.values()) {
            zeros.put(table, 0L);
        }
        return Collections.unmodifiableMap(zeros);
    }
}
