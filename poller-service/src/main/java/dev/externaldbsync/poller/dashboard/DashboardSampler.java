package dev.externaldbsync.poller.dashboard;

import java.net.URI;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

import org.jboss.logging.Logger;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.poller.Poller;
import dev.externaldbsync.poller.PollerConfig;
import dev.externaldbsync.poller.PollerService;
import dev.externaldbsync.poller.RequestQueue;
import dev.externaldbsync.poller.SyncEndpointConfig;
import dev.externaldbsync.service.AdminConfig;
import dev.externaldbsync.service.Fusebox;
import dev.externaldbsync.service.InternalDatabaseConfig;
import io.agroal.api.AgroalDataSource;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.runtime.annotations.RegisterForReflection;

/**
 * Samples the dashboard's figures every {@code poller.dashboard-sample-interval} on one background thread, keeps the
 * latest {@link Snapshot} and a bounded ring of {@link HistoryPoint}s ({@code poller.dashboard-history} worth), so the
 * page costs nothing per refresh and a freshly opened page shows the last minutes. Every part of a sample is
 * independent: a failing part (database, engine) is reported in the snapshot, never fails the others.
 * <p>
 * Rates are counter increases over the last {@link #RATE_WINDOW} of samples: stamps from {@code global_seq_id}, rows
 * applied from the engine's {@code rowsAppliedSinceStart} per engine {@code instanceId} (each status call reaches one
 * replica; the rate is the sum over every replica seen in the last minute). Thread-safe: sampling is serialised; readers get
 * immutable values.
 */
@Singleton
public class DashboardSampler {

    private static final Logger LOG = Logger.getLogger(DashboardSampler.class);

    /** Caps of the counts a sample takes. */
    static final int WAITING_CAP = 10_000;
    static final int ENGINE_CAP = 1_000;
    static final int BEHIND_TENANCIES = 20;
    static final int BEHIND_CAP = 1_000;
    static final int PARKED_SHOWN = 20;
    static final Duration ENGINE_REPLICA_FORGET = Duration.ofMinutes(1);
    /** Rates span this much of the counters' recent readings. */
    static final Duration RATE_WINDOW = Duration.ofSeconds(10);

    /** The sequencer's part. */
    @RegisterForReflection
    public record SequencerView(Boolean paused, Double stampsPerSecond, Long stampsIssued,
            List<DashboardQueries.TableCount> waitingRows, DashboardQueries.Count waitingTotal, int waitingCap) {
    }

    /** The poller's part: this replica's poller status (queue counts are for all replicas). */
    @RegisterForReflection
    public record PollerView(Boolean enabled, Poller.Status status) {
    }

    /** The sync engine's part. */
    @RegisterForReflection
    public record EngineView(boolean reachable, String error, String state, Long activeRuns,
            Double rowsAppliedPerSecond, Long rowsAppliedSinceStart, int replicasSeen, String rowsAppliedNote,
            String lastError, String lastErrorAt, DashboardQueries.Count failingTargets, String oldestFailingSince,
            DashboardQueries.Count poisonRows) {
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
            LagWindow.Percentiles endToEndLag, DashboardQueries.RowsBehind rowsBehind,
            List<RequestQueue.ParkedRequest> parked, List<HistoryPoint> history, List<String> problems) {
    }

    @Inject
    AgroalDataSource dataSource;

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

    private DashboardQueries queries;
    private EngineClient engine;
    private ScheduledExecutorService executor;
    private ArrayDeque<HistoryPoint> history;
    private int historySize;

    private volatile Snapshot latest;
    private final CounterRate stampRate = new CounterRate(RATE_WINDOW.toMillis());
    private final Map<String, CounterRate> engineReplicas = new HashMap<>();

    void onStart(@Observes StartupEvent event) {
        queries = new DashboardQueries(dataSource);
        engine = new EngineClient(engineUri(), admin.token(), mapper);
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

    public DashboardQueries queries() {
        return queries;
    }

    public EngineClient engine() {
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

        // Sequencer
        Double stampsPerSecond = null;
        Long stamps = null;
        List<DashboardQueries.TableCount> waiting = List.of();
        DashboardQueries.Count waitingTotal = null;
        try {
            stamps = queries.stampsIssued();
            stampRate.add(nowMillis, stamps);
            stampsPerSecond = stampRate.perSecond();
            waiting = queries.waitingRows(WAITING_CAP);
            long total = waiting.stream().mapToLong(DashboardQueries.TableCount::rows).sum();
            waitingTotal = new DashboardQueries.Count(total, waiting.stream().anyMatch(DashboardQueries.TableCount::capped));
        } catch (SQLException | RuntimeException e) {
            problems.add("sequencer figures: " + message(e));
        }
        SequencerView sequencer = new SequencerView(switches == null ? null : !switches.sequencerEnabled(),
                stampsPerSecond, stamps, waiting, waitingTotal, WAITING_CAP);

        // Poller (this replica; the queue counts come from its own periodic refresh)
        Poller.Status status = poller.status();
        PollerView pollerView = new PollerView(switches == null ? null : switches.pollerEnabled(), status);

        // Engine
        EngineView engineView = engineView(nowMillis, problems);

        DashboardQueries.RowsBehind behind = null;
        try {
            behind = queries.rowsBehind(BEHIND_TENANCIES, BEHIND_CAP);
        } catch (SQLException | RuntimeException e) {
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

        HistoryPoint point = new HistoryPoint(nowMillis, stampsPerSecond, status.deliveriesPerSecond(),
                engineView.rowsAppliedPerSecond(), status.pending(), status.endToEndLag().p95Seconds());
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
                sequencer, pollerView, engineView, status.endToEndLag(), behind, parked, points,
                List.copyOf(problems));
        latest = snapshot;
        return snapshot;
    }

    private EngineView engineView(long nowMillis, List<String> problems) {
        DashboardQueries.EngineFigures figures = null;
        try {
            figures = queries.engineFigures(ENGINE_CAP);
        } catch (SQLException | RuntimeException e) {
            problems.add("engine figures: " + message(e));
        }
        DashboardQueries.Count failing = figures == null ? null : figures.failingTargets();
        String oldestFailing = figures == null ? null : figures.oldestFailingSince();
        DashboardQueries.Count poison = figures == null ? null : figures.poisonRows();
        JsonNode status;
        try {
            status = engine.status();
        } catch (EngineClient.EngineUnavailable e) {
            return new EngineView(false, e.getMessage(), null, null, null, null, 0,
                    "unknown while the engine is unreachable", null, null, failing, oldestFailing, poison);
        }
        Double rate = null;
        Long applied = null;
        String note = null;
        JsonNode rows = status.get("rowsAppliedSinceStart");
        String instance = status.hasNonNull("instanceId") ? status.get("instanceId").asText() : "engine";
        int replicas = 0;
        if (rows == null || !rows.isNumber()) {
            note = "unknown: this engine's status has no rowsAppliedSinceStart";
        } else {
            applied = rows.asLong();
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
        if (failing == null && status.has("failingTargets")) {
            failing = new DashboardQueries.Count(status.get("failingTargets").asLong(), false);
        }
        if (poison == null && status.has("poisonRows")) {
            poison = new DashboardQueries.Count(status.get("poisonRows").asLong(), false);
        }
        return new EngineView(true, null, text(status, "state"),
                status.has("activeRuns") ? status.get("activeRuns").asLong() : null, rate, applied, replicas, note,
                text(status, "lastError") == null ? null : PostgresUrl.redact(text(status, "lastError")),
                text(status, "lastErrorAt"), failing, oldestFailing, poison);
    }

    private static String text(JsonNode node, String field) {
        JsonNode value = node.get(field);
        return value == null || value.isNull() ? null : value.asText();
    }

    private URI engineUri() {
        try {
            return endpoint.engineUrl().filter(u -> !u.isBlank()).map(u -> URI.create(u.strip())).orElse(null);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static String message(Exception e) {
        return PostgresUrl.redact(e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
    }
}
