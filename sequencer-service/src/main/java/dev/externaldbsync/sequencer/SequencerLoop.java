package dev.externaldbsync.sequencer;

import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import org.jboss.logging.Logger;

import io.quarkus.runtime.annotations.RegisterForReflection;

/**
 * The one continuous sequencing loop of a process: polls the change log for unstamped entries and runs batches back
 * to back while they find work; when a probe finds nothing it sleeps the poll interval. Writers send no notification
 * (a {@code NOTIFY} takes a cluster-wide lock at commit that serialises every notifying transaction), so polling is
 * the only wake-up.
 * <p>
 * Before every batch it reads the fusebox switch (the caller's {@code enabled}: the service passes the fusebox's
 * cached read, which queries at most once per {@code sync.fusebox-check-interval}); when the switch
 * is off it stamps nothing and sleeps. Entries stay in the log while paused, so turning the switch back on loses
 * nothing. While idle it reads the switch about once a second only, to keep {@link Stats#paused()} current.
 * <p>
 * Idle cost per poll interval: one {@code EXISTS} probe of the partial unstamped index, no transaction.
 * <p>
 * Errors (database down, a batch that fails) are recorded as the last error and retried after a backoff that doubles
 * from 100 ms to 30 s; a successful batch resets it.
 * <p>
 * Thread-safety: {@link #run} runs on one dedicated thread; {@link #stop}, {@link #stats} and
 * {@link #waiting} may be called from any thread.
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
    public record Stats(boolean running, boolean paused, long iterations, long batches, long entriesStamped,
            long entriesCompacted, SequencingBatch lastBatch, LastError lastError) {
    }

    private static final Logger LOG = Logger.getLogger(SequencerLoop.class);
    private static final Duration MIN_ERROR_BACKOFF = Duration.ofMillis(100);
    private static final Duration MAX_ERROR_BACKOFF = Duration.ofSeconds(30);
    private static final Duration IDLE_SWITCH_REFRESH = Duration.ofSeconds(1);

    private final Sequencer sequencer;
    private final BooleanSupplier enabled;
    private final Duration pollInterval;
    private final Duration waitingRefresh;
    private final Clock clock;
    private final Observer observer;
    private final Object wakeUp = new Object();

    private volatile boolean stopRequested;
    private volatile boolean running;
    private volatile boolean paused;
    private final AtomicLong iterations = new AtomicLong();
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong entriesStamped = new AtomicLong();
    private final AtomicLong entriesCompacted = new AtomicLong();
    private final AtomicReference<SequencingBatch> lastBatch = new AtomicReference<>();
    private final AtomicReference<LastError> lastError = new AtomicReference<>();
    private final AtomicReference<Sequencer.Waiting> waiting = new AtomicReference<>(Sequencer.Waiting.none());
    private long lastWaitingRefresh;
    private boolean waitingEverCounted;
    private boolean waitingMayBeNonZero = true;
    private long lastSwitchRead = Long.MIN_VALUE;

    public SequencerLoop(Sequencer sequencer, BooleanSupplier enabled, Duration pollInterval, Duration waitingRefresh,
            Clock clock, Observer observer) {
        this.sequencer = sequencer;
        this.enabled = enabled;
        this.pollInterval = pollInterval;
        this.waitingRefresh = waitingRefresh;
        this.clock = clock;
        this.observer = observer;
    }

    @Override
    public void run() {
        running = true;
        Duration errorBackoff = MIN_ERROR_BACKOFF;
        // The last batch stopped at a limit: the next one needs no probe.
        boolean moreWaiting = false;
        try {
            while (!stopRequested) {
                iterations.incrementAndGet();
                try {
                    if (!moreWaiting && !sequencer.anyUnstamped()) {
                        idle();
                        sleep(pollInterval);
                        continue;
                    }
                    lastSwitchRead = clock.millis();
                    if (!enabled.getAsBoolean()) {
                        paused = true;
                        moreWaiting = false;
                        sleep(pollInterval);
                        continue;
                    }
                    paused = false;
                    SequencingBatch batch = sequencer.stampBatch();
                    errorBackoff = MIN_ERROR_BACKOFF;
                    moreWaiting = batch.mayHaveMore();
                    if (batch.entries() > 0) {
                        batches.incrementAndGet();
                        entriesStamped.addAndGet(batch.entries());
                        entriesCompacted.addAndGet(batch.compacted());
                        lastBatch.set(batch);
                        observer.batchCommitted(batch);
                        LOG.debugf("Stamped %d entries of %d tenancies (%d compacted) in %d ms", batch.entries(),
                                batch.tenancies(), batch.compacted(), batch.duration().toMillis());
                    }
                    refreshWaiting();
                    if (batch.entries() == 0 && !moreWaiting) {
                        // Found work but stamped none: another instance took it. Do not spin on its heels.
                        sleep(pollInterval);
                    }
                } catch (InterruptedException e) {
                    throw e;
                } catch (Exception e) {
                    moreWaiting = false;
                    lastError.set(new LastError(describe(e), clock.instant()));
                    LOG.warnf("Sequencing failed, retrying in %d ms: %s", errorBackoff.toMillis(), describe(e));
                    sleep(errorBackoff);
                    errorBackoff = errorBackoff.multipliedBy(2).compareTo(MAX_ERROR_BACKOFF) > 0
                            ? MAX_ERROR_BACKOFF : errorBackoff.multipliedBy(2);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            running = false;
            LOG.info("Sequencer loop stopped");
        }
    }

    /** Nothing is unstamped: the gauge is zero without a query, and the switch is re-read about once a second. */
    private void idle() {
        if (waitingMayBeNonZero) {
            waiting.set(Sequencer.Waiting.none());
            waitingMayBeNonZero = false;
        }
        long now = clock.millis();
        if (lastSwitchRead == Long.MIN_VALUE || now - lastSwitchRead >= IDLE_SWITCH_REFRESH.toMillis()) {
            lastSwitchRead = now;
            paused = !enabled.getAsBoolean();
        }
    }

    /** Keeps the waiting-entries gauge fresh without a query per scrape: at most once per {@code waitingRefresh}. */
    private void refreshWaiting() throws SQLException {
        long now = clock.millis();
        if (!waitingEverCounted || now - lastWaitingRefresh >= waitingRefresh.toMillis()) {
            waitingEverCounted = true;
            lastWaitingRefresh = now;
            Sequencer.Waiting counted = sequencer.waitingEntries(Sequencer.WAITING_CAP);
            waiting.set(counted);
            waitingMayBeNonZero = counted.total() > 0;
        } else {
            waitingMayBeNonZero = true;
        }
    }

    /** Asks the loop to stop after the batch in progress; returns at once (join the thread to wait). */
    public void stop() {
        stopRequested = true;
        synchronized (wakeUp) {
            wakeUp.notifyAll();
        }
    }

    private void sleep(Duration duration) throws InterruptedException {
        long deadline = System.nanoTime() + duration.toNanos();
        synchronized (wakeUp) {
            long left;
            while (!stopRequested && (left = deadline - System.nanoTime()) > 0) {
                TimeUnit.NANOSECONDS.timedWait(wakeUp, left);
            }
        }
    }

    public Stats stats() {
        return new Stats(running, paused, iterations.get(), batches.get(), entriesStamped.get(),
                entriesCompacted.get(), lastBatch.get(), lastError.get());
    }

    /** Waiting entries as last counted by the loop (never queries; see {@link Sequencer#waitingEntries}). */
    public Sequencer.Waiting waiting() {
        return waiting.get();
    }

    private static String describe(Exception e) {
        String message = e.getMessage();
        return e.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }
}
