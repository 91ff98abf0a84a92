package dev.externaldbsync.poller;

import java.io.IOException;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

import javax.sql.DataSource;

import org.jboss.logging.Logger;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.contract.RequestSigner;
import dev.externaldbsync.contract.status.PollerLag;
import dev.externaldbsync.contract.status.PollerStatus;
import dev.externaldbsync.service.NotificationListener;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The delivery loop of one poller replica: claims requests from the {@link RequestQueue}, has {@link EngineDelivery}
 * POST them signed to the sync engine, and has {@link DeliveryOutcomes} record each outcome in the queue (delete, back
 * off, park); {@link PollerMetrics} measures it. Plain Java, so tests can run several replicas in one JVM;
 * {@link PollerService} runs one inside the application.
 * <p>
 * Threads: one claim loop, one LISTEN thread (a {@link NotificationListener} woken by {@code sync_enqueue_tenancies}),
 * one lease heartbeat thread, one maintenance thread (queue statistics), and at most {@code maxInFlight} delivery
 * threads. The loop only claims as many requests as free delivery slots can carry, so a slow engine leaves the
 * backlog in the database, not in memory.
 * <p>
 * Back-pressure on failure: every failed attempt backs off its request (per row, in the database); in addition a
 * failure of the engine as a whole (connection error, 401, 5xx) pauses all claiming for a growing delay, reset by
 * the next answer, so a dead engine costs a bounded number of attempts per second. A POST that timed out is slow,
 * not down: its requests are retried without an attempt and nothing else pauses.
 * <p>
 * Thread-safe; {@link #start} and {@link #stop} once each.
 */
public final class Poller {

    private static final Logger LOG = Logger.getLogger(Poller.class);

    private final RequestQueue queue;
    private final DataSource listenSource;
    private final Clock clock;
    private final PollerSettings settings;
    private final PollerConfig config;
    private final BooleanSupplier enabled;
    private final PollerMetrics metrics;
    private final EngineDelivery engine;
    private final DeliveryOutcomes outcomes;

    private final Semaphore slots;
    private final Map<String, AtomicInteger> tokensInFlight = new ConcurrentHashMap<>();
    private final AtomicLong claimNumber = new AtomicLong();
    private final AtomicInteger consecutiveEngineFailures = new AtomicInteger();
    private final Object wakeLock = new Object();

    private boolean wakeRequested;
    private volatile boolean running;
    private volatile boolean paused;
    private volatile Instant engineRetryAt;
    private volatile RequestQueue.Stats stats = new RequestQueue.Stats(0, 0, 0, 0, null, null, null);
    private volatile String lastError;
    private volatile Instant lastErrorAt;
    private volatile Boolean enabledCache;
    private volatile long enabledCheckedNanos;

    private Thread loopThread;
    private Thread listenThread;
    private volatile NotificationListener listener;
    private ExecutorService deliveryPool;
    private ScheduledExecutorService maintenance;
    private ScheduledExecutorService heartbeats;

    /**
     * @param queue        the queue (its own data source and clock)
     * @param listenSource where the dedicated LISTEN connection comes from
     * @param enabled      the fusebox switch of the poller (read at most once per {@code fuseboxCheckInterval})
     * @param registry     where metrics go
     */
    public Poller(RequestQueue queue, DataSource listenSource, Clock clock, PollerSettings settings,
            RequestSigner signer, ObjectMapper mapper, BooleanSupplier enabled, MeterRegistry registry) {
        this.queue = queue;
        this.listenSource = listenSource;
        this.clock = clock;
        this.settings = settings;
        this.config = settings.config();
        this.enabled = enabled;
        this.slots = new Semaphore(config.maxInFlight());
        this.metrics = new PollerMetrics(registry, clock, () -> stats, this::oldestPendingAge);
        this.engine = new EngineDelivery(settings, signer, mapper, metrics);
        this.outcomes = new DeliveryOutcomes(queue, settings, metrics, clock);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Lifecycle

    public synchronized void start() {
        if (running) {
            return;
        }
        running = true;
        deliveryPool = Executors.newFixedThreadPool(config.maxInFlight(), daemon("poller-delivery"));
        maintenance = Executors.newSingleThreadScheduledExecutor(daemon("poller-maintenance"));
        // A thread of its own: the statistics' repair of upstream's rows may wait on their locks, and a lease that
        // is not renewed in time lets another replica send the same tenancy at once.
        heartbeats = Executors.newSingleThreadScheduledExecutor(daemon("poller-heartbeat"));
        long heartbeat = Math.max(100, config.lease().toMillis() / 3);
        heartbeats.scheduleWithFixedDelay(this::heartbeat, heartbeat, heartbeat, TimeUnit.MILLISECONDS);
        maintenance.scheduleWithFixedDelay(this::refreshStats, 0, config.statsInterval().toMillis(),
                TimeUnit.MILLISECONDS);
        listener = new NotificationListener(listenSource, RequestQueue.CHANNEL, clock);
        listenThread = daemon("poller-listen").newThread(this::listen);
        listenThread.start();
        loopThread = daemon("poller-loop").newThread(this::loop);
        loopThread.start();
        LOG.infof("Poller %s delivering to %s (%d tenancies per request, %d in flight, lease %s)",
                settings.instanceId(), PostgresUrl.redact(settings.syncUri().toString()), config.tenanciesPerRequest(),
                config.maxInFlight(), config.lease());
    }

    /**
     * Graceful stop: no new claims, in-flight POSTs get up to {@code shutdownGrace} to finish, then whatever is still
     * claimed by this replica is released (due at once for another replica). Returns how many claims were released.
     */
    public synchronized int stop() {
        if (!running) {
            return 0;
        }
        stopThreads();
        join(loopThread);
        int released = 0;
        try {
            boolean drained = slots.tryAcquire(config.maxInFlight(), config.shutdownGrace().toMillis(),
                    TimeUnit.MILLISECONDS);
            if (drained) {
                slots.release(config.maxInFlight());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        List<String> unfinished = List.copyOf(tokensInFlight.keySet());
        if (!unfinished.isEmpty()) {
            try {
                released = queue.release(unfinished);
                LOG.infof("Poller %s released %d unfinished claims for other replicas", settings.instanceId(),
                        released);
            } catch (SQLException e) {
                LOG.warnf("Could not release claims (their leases expire in %s): %s", config.lease(),
                        e.getMessage());
            }
        }
        deliveryPool.shutdownNow();
        maintenance.shutdownNow();
        heartbeats.shutdownNow();
        join(listenThread);
        return released;
    }

    /**
     * Simulates a crash for tests: threads stop at once, nothing is released or recorded; claims stay in the
     * database until their leases expire.
     */
    synchronized void kill() {
        stopThreads();
        deliveryPool.shutdownNow();
        maintenance.shutdownNow();
        heartbeats.shutdownNow();
        join(loopThread);
        join(listenThread);
    }

    private void stopThreads() {
        running = false;
        NotificationListener l = listener;
        if (l != null) {
            l.wakeUp();
        }
        wake();
    }

    public boolean isRunning() {
        return running;
    }

    /** The fusebox was changed in this process: the switch is re-read (it is cached there already) at once. */
    public void fuseboxChanged() {
        enabledCache = null;
        wake();
    }

    /** Asks the loop to look for work now (e.g. after an operator requeued requests). */
    public void wake() {
        synchronized (wakeLock) {
            wakeRequested = true;
            wakeLock.notifyAll();
        }
    }

    public PollerStatus status() {
        RequestQueue.Stats s = stats;
        return new PollerStatus(settings.instanceId(), running, paused, s.pending(), s.inFlight(), s.backingOff(),
                s.parked(), oldestPendingAge(), metrics.deliveriesPerSecond(), metrics.postsInFlight(), engineRetryAt,
                lastError, lastErrorAt, metrics.endToEndLag(), metrics.deliveredSinceStart(), s.upstreamSync());
    }

    /** What {@link #status()} says of a replica that does not run (for lack of configuration: {@code why}). */
    public static PollerStatus notRunning(String why) {
        return new PollerStatus(null, false, false, 0, 0, 0, 0, null, 0, 0, null, why, null,
                PollerLag.empty(PollerMetrics.LAG_WINDOW_SECONDS), 0, null);
    }

    private Double oldestPendingAge() {
        Instant oldest = stats.oldestPendingCreatedAt();
        return oldest == null ? null : Math.max(0, Duration.between(oldest, clock.instant()).toMillis() / 1000.0);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Claim loop

    private void loop() {
        while (running) {
            long waitMillis;
            try {
                waitMillis = step();
            } catch (SQLException | RuntimeException e) {
                recordError("claiming failed: " + e.getMessage());
                LOG.warnf("Poller %s could not claim requests: %s", settings.instanceId(), e.getMessage());
                waitMillis = config.fallbackPoll().toMillis();
            }
            if (waitMillis > 0) {
                awaitWake(waitMillis);
            }
        }
    }

    /** One round: claim what free slots can carry and dispatch it; returns how long to wait before the next. */
    private long step() throws SQLException {
        if (!enabledNow()) {
            paused = true;
            return config.fuseboxCheckInterval().toMillis();
        }
        paused = false;
        Instant now = clock.instant();
        Instant resume = engineRetryAt;
        if (resume != null && now.isBefore(resume)) {
            return Math.max(1, Duration.between(now, resume).toMillis());
        }
        int free = slots.availablePermits();
        if (free == 0) {
            return config.fallbackPoll().toMillis(); // a finishing delivery wakes the loop
        }
        int limit = free * config.tenanciesPerRequest();
        String token = settings.instanceId() + "#" + claimNumber.incrementAndGet();
        RequestQueue.Claimed claimed = queue.claimAndLookAhead(token, limit, config.lease());
        List<RequestQueue.Claim> claims = claimed.claims();
        for (int from = 0; from < claims.size(); from += config.tenanciesPerRequest()) {
            List<RequestQueue.Claim> batch = claims.subList(from,
                    Math.min(claims.size(), from + config.tenanciesPerRequest()));
            dispatch(List.copyOf(batch));
        }
        if (claims.size() == limit) {
            return 0;
        }
        // Drained for now: sleep until a notification, a finished delivery, the next retry falls due, or the
        // fallback poll (which also covers notifications lost while the LISTEN connection was down).
        long wait = config.fallbackPoll().toMillis();
        Instant due = claimed.nextDueAt();
        Instant after = clock.instant();
        if (due != null && due.isAfter(after)) {
            wait = Math.min(wait, Math.max(1, Duration.between(after, due).toMillis() + 1));
        }
        return wait;
    }

    private boolean enabledNow() {
        long nowNanos = System.nanoTime();
        Boolean cached = enabledCache;
        if (cached == null || nowNanos - enabledCheckedNanos >= config.fuseboxCheckInterval().toNanos()) {
            try {
                cached = enabled.getAsBoolean();
            } catch (RuntimeException e) {
                recordError("reading the fusebox failed: " + e.getMessage());
                cached = cached == null ? Boolean.FALSE : cached;
            }
            enabledCache = cached;
            enabledCheckedNanos = nowNanos;
        }
        return cached;
    }

    private void dispatch(List<RequestQueue.Claim> batch) {
        if (!slots.tryAcquire()) {
            throw new IllegalStateException("no free delivery slot"); // only the loop acquires: cannot happen
        }
        tokensInFlight.computeIfAbsent(batch.get(0).token(), t -> new AtomicInteger()).incrementAndGet();
        try {
            deliveryPool.execute(() -> deliver(batch));
        } catch (RuntimeException e) {
            finished(batch.get(0).token());
            throw e;
        }
    }

    private void awaitWake(long millis) {
        synchronized (wakeLock) {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
            while (!wakeRequested && running) {
                long remaining = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (remaining <= 0) {
                    break;
                }
                try {
                    wakeLock.wait(remaining);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            wakeRequested = false;
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Delivery: POST, then record what the answer means for each request

    private void deliver(List<RequestQueue.Claim> batch) {
        String token = batch.get(0).token();
        try {
            metrics.sending(batch, clock.instant());
            EngineDelivery.Result result = engine.deliver(batch.stream().map(RequestQueue.Claim::tenancyId).toList());
            String error = null;
            if (result instanceof EngineDelivery.Answered answered) {
                engineAnswered();
                error = outcomes.answered(batch, answered.response().results());
            } else if (result instanceof EngineDelivery.Rejected rejected) {
                engineAnswered();
                error = outcomes.rejected(batch, rejected.error());
            } else if (result instanceof EngineDelivery.Slow slow) {
                // Slow is not down: no pause of the other claims, no attempt charged.
                error = outcomes.slow(batch, slow.error());
            } else if (result instanceof EngineDelivery.EngineFailed failure) {
                engineFailed();
                error = outcomes.failed(batch, failure.error());
            }
            if (error != null) {
                recordError(error);
            }
        } catch (InterruptedException e) {
            // Shutdown past its grace period: stop() releases this claim for another replica.
            Thread.currentThread().interrupt();
        } catch (SQLException e) {
            // The outcome could not be recorded: the claim stays, its lease expires, and the request is delivered
            // again (at worst a tenancy syncs twice, which the engine tolerates).
            recordError("recording a delivery outcome failed: " + e.getMessage());
            LOG.warnf("Poller %s could not record a delivery outcome (redelivered after the lease): %s",
                    settings.instanceId(), e.getMessage());
        } catch (IOException | RuntimeException e) {
            recordError("delivery failed: " + e);
            LOG.warnf(e, "Poller %s delivery failed unexpectedly", settings.instanceId());
        } finally {
            finished(token);
        }
    }

    /** The engine as a whole failed: pause every claim for a delay that grows with consecutive failures. */
    private void engineFailed() {
        int n = consecutiveEngineFailures.incrementAndGet();
        Instant until = clock.instant().plus(settings.backoff().delay(n));
        synchronized (this.consecutiveEngineFailures) {
            Instant current = engineRetryAt;
            if (current == null || until.isAfter(current)) {
                engineRetryAt = until;
            }
        }
    }

    private void engineAnswered() {
        synchronized (this.consecutiveEngineFailures) {
            consecutiveEngineFailures.set(0);
            engineRetryAt = null;
        }
    }

    private void finished(String token) {
        tokensInFlight.computeIfPresent(token, (t, count) -> count.decrementAndGet() == 0 ? null : count);
        slots.release();
        wake();
    }

    private void recordError(String error) {
        lastError = RequestQueue.truncate(error);
        lastErrorAt = clock.instant();
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Background threads

    private void heartbeat() {
        List<String> tokens = List.copyOf(tokensInFlight.keySet());
        if (tokens.isEmpty()) {
            return;
        }
        try {
            queue.extendLeases(tokens, config.lease());
        } catch (SQLException | RuntimeException e) {
            recordError("extending leases failed: " + e.getMessage());
            LOG.warnf("Poller %s could not extend its leases: %s", settings.instanceId(), e.getMessage());
        }
    }

    private void refreshStats() {
        try {
            stats = queue.stats();
        } catch (SQLException | RuntimeException e) {
            recordError("reading queue statistics failed: " + e.getMessage());
        }
    }

    /**
     * Wakes the loop on every notification, and on every (re)connect of the listener, since what was enqueued while
     * it was not listening sent no notification it could see. While the connection is down the loop's fallback poll
     * keeps delivering.
     */
    private void listen() {
        NotificationListener l = listener;
        try {
            boolean wasListening = false;
            while (running) {
                if (l.await(config.fallbackPoll()) && running) {
                    wake();
                }
                boolean listening = l.listening();
                if (wasListening && !listening) {
                    recordError("LISTEN connection lost (falling back to polling until it is back)");
                }
                wasListening = listening;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            l.close();
        }
    }

    private static void join(Thread thread) {
        if (thread == null) {
            return;
        }
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static ThreadFactory daemon(String name) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }
}
