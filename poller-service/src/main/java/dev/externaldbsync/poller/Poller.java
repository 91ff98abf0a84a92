package dev.externaldbsync.poller;

import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
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
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.RequestSigner;
import dev.externaldbsync.contract.SyncContract;
import dev.externaldbsync.contract.SyncRequest;
import dev.externaldbsync.contract.SyncResponse;
import dev.externaldbsync.contract.TargetResult;
import dev.externaldbsync.contract.TenancyResult;
import dev.externaldbsync.poller.dashboard.LagWindow;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

/**
 * The delivery loop of one poller replica: claims requests from the {@link RequestQueue}, POSTs them signed to the
 * sync engine, and records each outcome (delete, back off, park). Plain Java, so tests can run several replicas in
 * one JVM; {@link PollerService} runs one inside the application.
 * <p>
 * Threads: one claim loop, one LISTEN thread (a dedicated connection woken by {@code sync_enqueue_tenancies}), one
 * maintenance thread (lease heartbeat, queue gauges), and at most {@code maxInFlight} delivery threads. The loop only
 * claims as many requests as free delivery slots can carry, so a slow engine leaves the backlog in the database, not
 * in memory.
 * <p>
 * Back-pressure on failure: every failed attempt backs off its request (per row, in the database); in addition a
 * failure of the engine as a whole (connection error, timeout, 401, 5xx) pauses all claiming for a growing delay,
 * reset by the next answer, so a dead engine costs a bounded number of attempts per second.
 * <p>
 * Thread-safe; {@link #start} and {@link #stop} once each.
 */
public final class Poller {

    /**
     * What {@code GET /api/v1/status} shows; holds no tenant data. {@code endToEndLag}: for tenancies this replica
     * delivered with outcome SYNCED in the last minute, the time from the request's {@code "createdAt"} (set when the
     * sequencer stamped the tenancy's first waiting change) to the engine's answer.
     */
    public record Status(boolean running, boolean paused, long pending, long inFlight, long backingOff, long parked,
            Double oldestPendingAgeSeconds, double deliveriesPerSecond, long postsInFlight, Instant engineRetryAt,
            String lastError, Instant lastErrorAt, LagWindow.Percentiles endToEndLag, long deliveredSinceStart,
            UpstreamSyncWatch.Sighting upstreamSync) {
    }

    /** The sliding window of {@link Status#endToEndLag}. */
    public static final int LAG_WINDOW_SECONDS = 60;

    private static final Logger LOG = Logger.getLogger(Poller.class);
    private static final int SNIPPET = 300;

    private final RequestQueue queue;
    private final DataSource listenSource;
    private final Clock clock;
    private final PollerSettings settings;
    private final RequestSigner signer;
    private final ObjectMapper mapper;
    private final BooleanSupplier enabled;
    private final HttpClient http;

    private final Semaphore slots;
    private final Map<String, AtomicInteger> tokensInFlight = new ConcurrentHashMap<>();
    private final AtomicLong claimNumber = new AtomicLong();
    private final AtomicInteger postsInFlight = new AtomicInteger();
    private final AtomicInteger consecutiveEngineFailures = new AtomicInteger();
    private final RateWindow deliveries = new RateWindow(10);
    private final LagWindow lag = new LagWindow(LAG_WINDOW_SECONDS);
    private final AtomicLong deliveredTotal = new AtomicLong();
    private final Object wakeLock = new Object();
    private final CountDownLatch stopped = new CountDownLatch(1);

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
    private ExecutorService deliveryPool;
    private ScheduledExecutorService maintenance;

    private final Counter delivered;
    private final Counter failed;
    private final Counter parkedCounter;
    private final Timer postLatency;
    private final Timer queueWait;
    private final Timer endToEndLag;

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
        this.signer = signer;
        this.mapper = mapper;
        this.enabled = enabled;
        this.slots = new Semaphore(settings.maxInFlight());
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(settings.connectTimeout())
                .build();
        this.delivered = Counter.builder("sync.poller.requests.delivered")
                .description("Requests the sync engine completed (deleted from the queue)").register(registry);
        this.failed = Counter.builder("sync.poller.requests.failed")
                .description("Failed delivery attempts of requests (each backs off or parks)").register(registry);
        this.parkedCounter = Counter.builder("sync.poller.requests.parked")
                .description("Requests parked for an operator").register(registry);
        this.postLatency = Timer.builder("sync.poller.delivery.duration")
                .description("Duration of one POST to the sync engine").publishPercentiles(0.5, 0.99)
                .register(registry);
        this.queueWait = Timer.builder("sync.poller.queue.wait")
                .description("Time from enqueue to the first POST of a request").publishPercentiles(0.5, 0.99)
                .register(registry);
        this.endToEndLag = Timer.builder("sync.poller.end_to_end_lag")
                .description("From the sequencer's enqueue of a tenancy (its first waiting change) to the engine's "
                        + "SYNCED answer").publishPercentiles(0.5, 0.95, 0.99).register(registry);
        Gauge.builder("sync.poller.requests.in_flight", postsInFlight, AtomicInteger::get)
                .description("POSTs to the sync engine in flight from this replica").register(registry);
        Gauge.builder("sync.poller.queue.pending", this, p -> p.stats.pending())
                .description("Pending requests (all replicas), refreshed by the poller").register(registry);
        Gauge.builder("sync.poller.queue.claimed", this, p -> p.stats.inFlight())
                .description("Requests claimed with a live lease (all replicas)").register(registry);
        Gauge.builder("sync.poller.queue.backing_off", this, p -> p.stats.backingOff())
                .description("Requests waiting for their next attempt").register(registry);
        Gauge.builder("sync.poller.queue.parked", this, p -> p.stats.parked())
                .description("Parked requests").register(registry);
        Gauge.builder("sync.poller.queue.oldest_pending_age_seconds", this, p -> {
            Double age = p.oldestPendingAge();
            return age == null ? 0 : age;
        }).description("Age of the oldest pending request").register(registry);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Lifecycle

    public synchronized void start() {
        if (running) {
            return;
        }
        running = true;
        deliveryPool = Executors.newFixedThreadPool(settings.maxInFlight(), daemon("poller-delivery"));
        maintenance = Executors.newSingleThreadScheduledExecutor(daemon("poller-maintenance"));
        long heartbeat = Math.max(100, settings.lease().toMillis() / 3);
        maintenance.scheduleWithFixedDelay(this::heartbeat, heartbeat, heartbeat, TimeUnit.MILLISECONDS);
        maintenance.scheduleWithFixedDelay(this::refreshStats, 0, settings.statsInterval().toMillis(),
                TimeUnit.MILLISECONDS);
        listenThread = daemon("poller-listen").newThread(this::listen);
        listenThread.start();
        loopThread = daemon("poller-loop").newThread(this::loop);
        loopThread.start();
        LOG.infof("Poller %s delivering to %s (%d tenancies per request, %d in flight, lease %s)",
                settings.instanceId(), settings.syncUri(), settings.tenanciesPerRequest(), settings.maxInFlight(),
                settings.lease());
    }

    /**
     * Graceful stop: no new claims, in-flight POSTs get up to {@code shutdownGrace} to finish, then whatever is still
     * claimed by this replica is released (due at once for another replica). Returns how many claims were released.
     */
    public synchronized int stop() {
        if (!running) {
            return 0;
        }
        running = false;
        stopped.countDown();
        wake();
        join(loopThread);
        int released = 0;
        try {
            boolean drained = slots.tryAcquire(settings.maxInFlight(), settings.shutdownGrace().toMillis(),
                    TimeUnit.MILLISECONDS);
            if (drained) {
                slots.release(settings.maxInFlight());
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
                LOG.warnf("Could not release claims (their leases expire in %s): %s", settings.lease(),
                        e.getMessage());
            }
        }
        deliveryPool.shutdownNow();
        maintenance.shutdownNow();
        join(listenThread);
        return released;
    }

    /**
     * Simulates a crash for tests: threads stop at once, nothing is released or recorded; claims stay in the
     * database until their leases expire.
     */
    synchronized void kill() {
        running = false;
        stopped.countDown();
        wake();
        deliveryPool.shutdownNow();
        maintenance.shutdownNow();
        join(loopThread);
        join(listenThread);
    }

    public boolean isRunning() {
        return running;
    }

    /** Asks the loop to look for work now (e.g. after an operator requeued requests). */
    public void wake() {
        synchronized (wakeLock) {
            wakeRequested = true;
            wakeLock.notifyAll();
        }
    }

    public Status status() {
        RequestQueue.Stats s = stats;
        return new Status(running, paused, s.pending(), s.inFlight(), s.backingOff(), s.parked(), oldestPendingAge(),
                deliveries.perSecond(clock.millis()), postsInFlight.get(), engineRetryAt, lastError, lastErrorAt,
                lag.percentiles(clock.millis()), deliveredTotal.get(), s.upstreamSync());
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
                waitMillis = settings.fallbackPoll().toMillis();
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
            return settings.fuseboxCheckInterval().toMillis();
        }
        paused = false;
        Instant now = clock.instant();
        Instant resume = engineRetryAt;
        if (resume != null && now.isBefore(resume)) {
            return Math.max(1, Duration.between(now, resume).toMillis());
        }
        int free = slots.availablePermits();
        if (free == 0) {
            return settings.fallbackPoll().toMillis(); // a finishing delivery wakes the loop
        }
        int limit = free * settings.tenanciesPerRequest();
        String token = settings.instanceId() + "#" + claimNumber.incrementAndGet();
        List<RequestQueue.Claim> claims = queue.claim(token, limit, settings.lease());
        for (int from = 0; from < claims.size(); from += settings.tenanciesPerRequest()) {
            List<RequestQueue.Claim> batch = claims.subList(from,
                    Math.min(claims.size(), from + settings.tenanciesPerRequest()));
            dispatch(List.copyOf(batch));
        }
        if (claims.size() == limit) {
            return 0;
        }
        // Drained for now: sleep until a notification, a finished delivery, the next retry falls due, or the
        // fallback poll (which also covers notifications lost while the LISTEN connection was down).
        long wait = settings.fallbackPoll().toMillis();
        Instant due = queue.nextDueAt();
        Instant after = clock.instant();
        if (due != null && due.isAfter(after)) {
            wait = Math.min(wait, Math.max(1, Duration.between(after, due).toMillis() + 1));
        }
        return wait;
    }

    private boolean enabledNow() {
        long nowNanos = System.nanoTime();
        Boolean cached = enabledCache;
        if (cached == null || nowNanos - enabledCheckedNanos >= settings.fuseboxCheckInterval().toNanos()) {
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
    // Delivery

    private void deliver(List<RequestQueue.Claim> batch) {
        String token = batch.get(0).token();
        try {
            Instant sentAt = clock.instant();
            for (RequestQueue.Claim claim : batch) {
                if (claim.attemptCount() == 0) {
                    queueWait.record(Duration.between(claim.createdAt(), sentAt).isNegative() ? Duration.ZERO
                            : Duration.between(claim.createdAt(), sentAt));
                }
            }
            byte[] body = mapper.writeValueAsBytes(
                    new SyncRequest(batch.stream().map(RequestQueue.Claim::tenancyId).toList()));
            RequestSigner.Signature signature = signer.sign(body);
            HttpRequest request = HttpRequest.newBuilder(settings.syncUri())
                    .timeout(settings.requestTimeout())
                    .header("Content-Type", "application/json")
                    .header(SyncContract.TIMESTAMP_HEADER, signature.timestamp())
                    .header(SyncContract.SIGNATURE_HEADER, signature.signature())
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                    .build();
            HttpResponse<byte[]> response;
            postsInFlight.incrementAndGet();
            long started = System.nanoTime();
            try {
                response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
            } catch (HttpTimeoutException e) {
                engineFailed();
                failAll(batch, "timeout: no answer from the sync engine within " + settings.requestTimeout());
                return;
            } catch (IOException e) {
                engineFailed();
                failAll(batch, "connection error: " + e.getClass().getSimpleName()
                        + (e.getMessage() == null ? "" : ": " + e.getMessage()));
                return;
            } finally {
                postsInFlight.decrementAndGet();
                postLatency.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
            }
            handle(batch, response);
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

    private void handle(List<RequestQueue.Claim> batch, HttpResponse<byte[]> response) throws SQLException {
        int status = response.statusCode();
        if (status == 200) {
            SyncResponse body;
            try {
                body = mapper.readValue(response.body(), SyncResponse.class);
            } catch (IOException e) {
                engineFailed();
                failAll(batch, "HTTP 200 with an unreadable body: " + e.getMessage());
                return;
            }
            engineAnswered();
            Map<UUID, TenancyResult> results = new HashMap<>();
            for (TenancyResult result : body.results()) {
                if (result != null && result.tenancyId() != null) {
                    results.put(result.tenancyId(), result);
                }
            }
            List<RequestQueue.Claim> done = new ArrayList<>();
            List<RequestQueue.Failure> retry = new ArrayList<>();
            Instant answeredAt = null;
            for (RequestQueue.Claim claim : batch) {
                TenancyResult result = results.get(claim.tenancyId());
                if (result == null) {
                    retry.add(new RequestQueue.Failure(claim, "the engine's answer has no result for this tenancy"));
                } else if (result.retry()) {
                    retry.add(new RequestQueue.Failure(claim, describe(result)));
                } else {
                    done.add(claim);
                    if (result.outcome() == Outcome.SYNCED) {
                        answeredAt = answeredAt == null ? clock.instant() : answeredAt;
                        long millis = Math.max(0, Duration.between(claim.createdAt(), answeredAt).toMillis());
                        lag.record(answeredAt.toEpochMilli(), millis);
                        endToEndLag.record(millis, TimeUnit.MILLISECONDS);
                    }
                }
            }
            int deleted = queue.complete(done);
            delivered.increment(deleted);
            deliveredTotal.addAndGet(deleted);
            deliveries.add(clock.millis(), deleted);
            if (!retry.isEmpty()) {
                recordFailures(retry);
                recordError("engine asked to retry " + retry.size() + " tenancies; e.g. " + retry.get(0).error());
            }
        } else if (status == 400) {
            engineAnswered();
            String error = "HTTP 400 (request rejected as invalid, not retried): " + snippet(response.body());
            int parked = queue.park(batch, error);
            parkedCounter.increment(parked);
            failed.increment(batch.size());
            recordError(error);
            LOG.warnf("Poller %s parked %d requests at once: %s", settings.instanceId(), parked, error);
        } else if (status == 401) {
            engineFailed();
            failAll(batch, "HTTP 401: the engine rejected the signature (is SYNC_SIGNING_SECRET the same on the "
                    + "poller and the engine, and are the clocks in sync?)");
        } else {
            engineFailed();
            failAll(batch, "HTTP " + status + ": " + snippet(response.body()));
        }
    }

    private void failAll(List<RequestQueue.Claim> batch, String error) throws SQLException {
        recordError(error);
        recordFailures(batch.stream().map(c -> new RequestQueue.Failure(c, error)).toList());
    }

    private void recordFailures(List<RequestQueue.Failure> failures) throws SQLException {
        RequestQueue.FailResult result = queue.fail(failures, settings.backoff(), settings.maxAttempts());
        failed.increment(failures.size());
        parkedCounter.increment(result.parked());
        if (result.parked() > 0) {
            LOG.warnf("Poller %s parked %d requests after %d attempts; last error: %s", settings.instanceId(),
                    result.parked(), settings.maxAttempts(), failures.get(0).error());
        }
    }

    private static String describe(TenancyResult result) {
        StringBuilder s = new StringBuilder(String.valueOf(result.outcome()));
        if (result.error() != null) {
            s.append(": ").append(result.error());
        }
        for (TargetResult target : result.targets()) {
            if (target.retry() || target.error() != null) {
                s.append("; target ").append(target.targetId()).append(' ').append(target.outcome());
                if (target.error() != null) {
                    s.append(": ").append(target.error());
                }
            }
        }
        return s.toString();
    }

    private static String snippet(byte[] body) {
        if (body == null || body.length == 0) {
            return "(empty body)";
        }
        String text = new String(body, 0, Math.min(body.length, SNIPPET * 4), StandardCharsets.UTF_8).strip();
        return text.length() <= SNIPPET ? text : text.substring(0, SNIPPET) + "…";
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
            queue.extendLeases(tokens, settings.lease());
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

    /** Holds one connection in LISTEN and wakes the loop on every notification; reconnects when it breaks. */
    private void listen() {
        while (running) {
            try (Connection connection = listenSource.getConnection()) {
                connection.setAutoCommit(true);
                try (Statement s = connection.createStatement()) {
                    s.execute("LISTEN " + RequestQueue.CHANNEL);
                }
                PGConnection pg = connection.unwrap(PGConnection.class);
                wake(); // anything enqueued while we were not listening
                int timeout = (int) Math.max(1, settings.fallbackPoll().toMillis());
                while (running) {
                    PGNotification[] notifications = pg.getNotifications(timeout);
                    if (notifications != null && notifications.length > 0) {
                        wake();
                    }
                }
            } catch (SQLException | RuntimeException e) {
                if (!running) {
                    return;
                }
                recordError("LISTEN connection failed: " + e.getMessage());
                LOG.warnf("Poller %s lost its LISTEN connection (falling back to polling): %s",
                        settings.instanceId(), e.getMessage());
                try {
                    stopped.await(1, TimeUnit.SECONDS);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
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

    /** Deliveries per second over the last {@code seconds} whole seconds. Thread-safe (synchronized; cheap). */
    static final class RateWindow {
        private final long[] counts;
        private final long[] seconds;

        RateWindow(int window) {
            counts = new long[window];
            seconds = new long[window];
        }

        synchronized void add(long nowMillis, long n) {
            long second = nowMillis / 1000;
            int i = (int) (second % counts.length);
            if (seconds[i] != second) {
                seconds[i] = second;
                counts[i] = 0;
            }
            counts[i] += n;
        }

        synchronized double perSecond(long nowMillis) {
            long second = nowMillis / 1000;
            long total = 0;
            for (int i = 0; i < counts.length; i++) {
                if (seconds[i] > second - counts.length && seconds[i] <= second) {
                    total += counts[i];
                }
            }
            return (double) total / counts.length;
        }
    }
}
