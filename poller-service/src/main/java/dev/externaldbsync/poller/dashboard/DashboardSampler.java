package dev.externaldbsync.poller.dashboard;

import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

import org.jboss.logging.Logger;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.contract.status.CappedCount;
import dev.externaldbsync.contract.status.PollerLag;
import dev.externaldbsync.contract.status.PollerStatus;
import dev.externaldbsync.contract.status.RowsBehind;
import dev.externaldbsync.contract.status.RowsBehindRequest;
import dev.externaldbsync.contract.status.SequencerStatus;
import dev.externaldbsync.poller.PollerConfig;
import dev.externaldbsync.poller.PollerService;
import dev.externaldbsync.poller.RequestQueue;
import dev.externaldbsync.poller.SyncEndpointConfig;
import dev.externaldbsync.service.AdminConfig;
import dev.externaldbsync.service.Fusebox;
import dev.externaldbsync.service.InternalDatabaseConfig;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.runtime.annotations.RegisterForReflection;

/**
 * Samples the dashboard's figures every {@code poller.dashboard-sample-interval} on one background thread, keeps the
 * latest {@link Snapshot} and a bounded ring of {@link HistoryPoint}s ({@code poller.dashboard-history} worth), so the
 * page costs nothing per refresh and a freshly opened page shows the last minutes. Every part of a sample is
 * independent: a failing part (a service unreachable, the database) is reported in the snapshot, never fails the
 * others.
 * <p>
 * Where each figure comes from: the poller's own (queue, deliveries, lag, parked requests) from this replica and its
 * {@link RequestQueue}; the sequencer's from its {@code /api/v1/status} ({@link SequencerClient}); the engine's from
 * its status and admin API ({@link EngineClient}), rows behind included: the poller names its longest-waiting queued
 * tenancies, the engine counts. The dashboard runs no SQL on another service's tables.
 * <p>
 * Rates are counter increases over the last {@link #RATE_WINDOW} of samples: stamps from the sequencer's
 * {@code stampsIssued}, rows applied from the engine's {@code rowsAppliedSinceStart} per engine {@code instanceId}
 * (each status call reaches one replica; the rate is the sum over every replica seen in the last minute).
 * Thread-safe: sampling is serialised; readers get immutable values.
 */
@Singleton
public class DashboardSampler {

    private static final Logger LOG = Logger.getLogger(DashboardSampler.class);

    /** Caps of what a sample asks for. */
    static final int BEHIND_TENANCIES = 20;
    static final int BEHIND_CAP = 1_000;
    static final int PARKED_SHOWN = 20;
    static final Duration ENGINE_REPLICA_FORGET = Duration.ofMinutes(1);
    /** Rates span this much of the counters' recent readings. */
    static final Duration RATE_WINDOW = Duration.ofSeconds(10);

    /** Marked (not yet stamped) rows of one source table. */
    @RegisterForReflection
    public record TableCount(String table, long rows, boolean capped) {
    }

    /**
     * The sequencer's part: {@code paused} from the fusebox, the rest from the sequencer's status ({@code reachable}
     * false, with {@code error}, when it could not be read).
     */
    @RegisterForReflection
    public record SequencerView(Boolean paused, boolean reachable, String error, Double stampsPerSecond,
            Long stampsIssued, List<TableCount> waitingRows, CappedCount waitingTotal) {
    }

    /** The poller's part: this replica's poller status (queue counts are for all replicas). */
    @RegisterForReflection
    public record PollerView(Boolean enabled, PollerStatus status) {
    }

    /** The sync engine's part. */
    @RegisterForReflection
    public record EngineView(boolean reachable, String error, String state, Long activeRuns,
            Double rowsAppliedPerSecond, Long rowsAppliedSinceStart, int replicasSeen, String rowsAppliedNote,
            String lastError, String lastErrorAt, CappedCount failingTargets, String oldestFailingSince,
            CappedCount poisonRows) {
    }

    /** One point of the throughput chart; rates are per second, null where unknown. */
    @RegisterForReflection
    public record HistoryPoint(long t, Double stampsPerSecond, Double deliveriesPerSecond,
            Double rowsAppliedPerSecond, Long pending, Double lagP95Seconds) {
    }

    /** Everything the page shows except the tenancy search. */
    @RegisterForReflection
    public record Snapshot(Instant takenAt, long sampleMillis, double sampleIntervalSeconds,
            Fusebox.State fusebox, SequencerView sequencer, PollerView poller, EngineView engine,
            PollerLag endToEndLag, RowsBehind rowsBehind, List<RequestQueue.ParkedRequest> parked,
            List<HistoryPoint> history, List<String> problems) {
    }

    @Inject
    Clock clock;

    @Inject
    PollerConfig config;

    @Inject
    SyncEndpointConfig endpoint;

    @Inject
    AdminConfig admin;

    @Inject
    InternalDatabaseConfig database;

    @Inject
    Fusebox fusebox;

    @Inject
    RequestQueue queue;

    @Inject
    PollerService poller;

    @Inject
    ObjectMapper mapper;

    private EngineClient engine;
    private SequencerClient sequencer;
    private ScheduledExecutorService executor;
    private ArrayDeque<HistoryPoint> history;
    private int historySize;

    private volatile Snapshot latest;
    private final CounterRate stampRate = new CounterRate(RATE_WINDOW.toMillis());
    private final Map<String, CounterRate> engineReplicas = new HashMap<>();

    void onStart(@Observes StartupEvent event) {
        engine = new EngineClient(ServiceClient.baseUri(endpoint.engineUrl()), admin.token(), mapper);
        sequencer = new SequencerClient(ServiceClient.baseUri(config.sequencerUrl()), mapper);
        historySize = (int) Math.max(1, config.dashboardHistory().toMillis()
                / Math.max(1, config.dashboardSampleInterval().toMillis()));
        history = new ArrayDeque<>(historySize);
        if (!config.dashboardEnabled() || database.url().isEmpty()) {
            return;
        }
        executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "dashboard-sampler");
            t.setDaemon(true);
            return t;
        });
        long interval = Math.max(200, config.dashboardSampleInterval().toMillis());
        executor.scheduleWithFixedDelay(this::sampleQuietly, 0, interval, TimeUnit.MILLISECONDS);
    }

    void onStop(@Observes ShutdownEvent event) {
        if (executor != null) {
            executor.shutdownNow();
        }
    }

    public boolean enabled() {
        return config.dashboardEnabled();
    }

    EngineClient engine() {
        return engine;
    }

    /**
     * The latest snapshot, or with {@code fresh} one taken after this call arrived (after an operator action the page
     * asks for one, so it shows the effect at once; concurrent callers share one sample). Never null.
     */
    public Snapshot snapshot(boolean fresh) {
        Instant asked = clock.instant();
        Snapshot s = latest;
        if (s == null || (fresh && s.takenAt().isBefore(asked))) {
            synchronized (this) {
                s = latest;
                if (s == null || (fresh && s.takenAt().isBefore(asked))) {
                    return sample();
                }
            }
        }
        return s;
    }

    private void sampleQuietly() {
        try {
            sample();
        } catch (RuntimeException e) {
            LOG.warnf("Dashboard sample failed: %s", e.getMessage());
        }
    }

    /** Takes one sample now; serialised, so rates always compare consecutive samples. */
    synchronized Snapshot sample() {
        long started = System.nanoTime();
        Instant now = clock.instant();
        long nowMillis = now.toEpochMilli();
        List<String> problems = new ArrayList<>();

        Fusebox.State switches = null;
        try {
            switches = fusebox.read();
        } catch (RuntimeException e) {
            problems.add("fusebox: " + message(e));
        }

        SequencerView sequencerView = sequencerView(switches, nowMillis);

        // Poller (this replica; the queue counts come from its own periodic refresh)
        PollerStatus status = poller.status();
        PollerView pollerView = new PollerView(switches == null ? null : switches.pollerEnabled(), status);

        EngineView engineView = engineView(nowMillis);

        RowsBehind behind = null;
        try {
            List<UUID> waiting = queue.longestWaitingTenancies(BEHIND_TENANCIES);
            behind = engine.rowsBehind(new RowsBehindRequest(waiting, BEHIND_CAP));
        } catch (SQLException | RuntimeException | ServiceClient.Unavailable e) {
            problems.add("rows behind: " + message(e));
        }
        List<RequestQueue.ParkedRequest> parked = List.of();
        try {
            parked = queue.parked(null, PARKED_SHOWN).stream()
                    .map(p -> new RequestQueue.ParkedRequest(p.id(), p.tenancyId(), p.createdAt(), p.parkedAt(),
                            p.attemptCount(), p.lastError() == null ? null : PostgresUrl.redact(p.lastError())))
                    .toList();
        } catch (SQLException | RuntimeException e) {
            problems.add("parked requests: " + message(e));
        }

        HistoryPoint point = new HistoryPoint(nowMillis, sequencerView.stampsPerSecond(),
                status.deliveriesPerSecond(), engineView.rowsAppliedPerSecond(), status.pending(),
                status.endToEndLag().p95Seconds());
        List<HistoryPoint> points;
        synchronized (history) {
            if (history.size() == historySize) {
                history.removeFirst();
            }
            history.addLast(point);
            points = List.copyOf(history);
        }
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        Snapshot snapshot = new Snapshot(now, millis, config.dashboardSampleInterval().toMillis() / 1000.0, switches,
                sequencerView, pollerView, engineView, status.endToEndLag(), behind, parked, points,
                List.copyOf(problems));
        latest = snapshot;
        return snapshot;
    }

    private SequencerView sequencerView(Fusebox.State switches, long nowMillis) {
        Boolean paused = switches == null ? null : !switches.sequencerEnabled();
        SequencerStatus status;
        try {
            status = sequencer.status();
        } catch (ServiceClient.Unavailable e) {
            return new SequencerView(paused, false, e.getMessage(), null, null, List.of(), null);
        }
        Double stampsPerSecond = null;
        if (status.stampsIssued() != null) {
            stampRate.add(nowMillis, status.stampsIssued());
            stampsPerSecond = stampRate.perSecond();
        }
        List<TableCount> waiting = new ArrayList<>();
        long total = 0;
        boolean capped = false;
        for (Map.Entry<String, CappedCount> table : status.waitingCounts().entrySet()) {
            CappedCount count = table.getValue();
            waiting.add(new TableCount(table.getKey(), count.value(), count.capped()));
            total += count.value();
            capped |= count.capped();
        }
        return new SequencerView(paused, true, null, stampsPerSecond, status.stampsIssued(), List.copyOf(waiting),
                new CappedCount(total, capped));
    }

    private EngineView engineView(long nowMillis) {
        EngineClient.Status status;
        try {
            status = engine.status();
        } catch (ServiceClient.Unavailable e) {
            return new EngineView(false, e.getMessage(), null, null, null, null, 0,
                    "unknown while the engine is unreachable", null, null, null, null, null);
        }
        Double rate = null;
        String note;
        String instance = status.instanceId() == null ? "engine" : status.instanceId();
        int replicas = 0;
        Long applied = status.rowsAppliedSinceStart();
        if (applied == null) {
            note = "unknown: this engine's status has no rowsAppliedSinceStart";
        } else {
            engineReplicas.computeIfAbsent(instance, k -> new CounterRate(RATE_WINDOW.toMillis()))
                    .add(nowMillis, applied);
            engineReplicas.values().removeIf(r -> nowMillis - r.lastMillis() > ENGINE_REPLICA_FORGET.toMillis());
            replicas = engineReplicas.size();
            double sum = 0;
            boolean any = false;
            for (CounterRate r : engineReplicas.values()) {
                Double replicaRate = r.perSecond();
                if (replicaRate != null) {
                    sum += replicaRate;
                    any = true;
                }
            }
            rate = any ? sum : null;
            note = any ? null : "measuring (needs two samples of the same engine replica)";
        }
        return new EngineView(true, null, status.state(), status.activeRuns(), rate, applied, replicas, note,
                status.lastError(), status.lastErrorAt(), status.failingTargets(), status.oldestFailingSince(),
                status.poisonRows());
    }

    private static String message(Exception e) {
        return PostgresUrl.redact(e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
    }
}
