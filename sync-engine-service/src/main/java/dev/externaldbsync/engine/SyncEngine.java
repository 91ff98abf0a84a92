package dev.externaldbsync.engine;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

import org.jboss.logging.Logger;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.config.TargetConfigError;
import dev.externaldbsync.config.TargetConfigs;
import dev.externaldbsync.config.TenancyDirectory;
import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.SyncResponse;
import dev.externaldbsync.contract.TargetResult;
import dev.externaldbsync.contract.TenancyResult;
import dev.externaldbsync.engine.errors.RunAbort;
import dev.externaldbsync.engine.errors.SqlFailure;
import dev.externaldbsync.engine.read.ChangeReader;
import dev.externaldbsync.engine.read.ChangedMappings;
import dev.externaldbsync.engine.read.LivePageReader;
import dev.externaldbsync.engine.run.FairScheduler;
import dev.externaldbsync.engine.run.ReadAhead;
import dev.externaldbsync.engine.run.Resync;
import dev.externaldbsync.engine.run.RunContext;
import dev.externaldbsync.engine.run.RunLocks;
import dev.externaldbsync.engine.run.RunWatchdog;
import dev.externaldbsync.engine.run.Runs;
import dev.externaldbsync.engine.run.Unit;
import dev.externaldbsync.engine.store.ChangeRetention;
import dev.externaldbsync.engine.store.ProgressStore;
import dev.externaldbsync.engine.store.RetentionLoop;
import dev.externaldbsync.engine.target.TargetPools;
import dev.externaldbsync.engine.target.TargetSchema;
import io.agroal.api.AgroalDataSource;
import io.quarkus.runtime.ShutdownEvent;

/**
 * Applies tenancies' changes to their targets: the engine's front door, its worker pool and its shutdown. A request
 * reads its tenancies from the {@link TenancyDirectory}, is split into batches of (tenancy, target)s that share an
 * external database ({@link dev.externaldbsync.engine.run.BatchPlanner}), and each batch runs on a worker
 * ({@link dev.externaldbsync.engine.run.BatchRunner}: lock → schema → cursors → read → apply → continue → progress).
 * Thread-safe: batches run on a bounded worker pool, each confined to its worker.
 */
@ApplicationScoped
public class SyncEngine {

    private static final Logger LOG = Logger.getLogger(SyncEngine.class);

    /** MDC keys set around each tenancy and target run, so structured logs carry them on every line. */
    public static final String MDC_TENANCY = "tenancyId";
    public static final String MDC_TARGET = "targetId";

    @Inject
    AgroalDataSource internal;

    @Inject
    EngineConfig config;

    @Inject
    dev.externaldbsync.service.InternalDatabaseConfig internalConfig;

    @Inject
    TargetPools pools;

    @Inject
    TargetSchema schema;

    @Inject
    EngineMetrics metrics;

    @Inject
    java.time.Clock clock;

    @Inject
    RetentionLoop retention;

    private ExecutorService workers;
    private ExecutorService readAhead;
    private FairScheduler scheduler;
    private FairScheduler.Batches<Unit, TargetResult> batches;
    private RunWatchdog watchdog;
    private Runs runs;
    private Resync resync;
    private final AtomicBoolean shuttingDown = new AtomicBoolean();
    private final AtomicInteger activeRuns = new AtomicInteger();
    private final Object idle = new Object();
    private final AtomicLong completedRuns = new AtomicLong();
    private final AtomicLong rowsAppliedSinceStart = new AtomicLong();
    private volatile String lastError;
    private volatile Instant lastErrorAt;

    @PostConstruct
    void start() {
        AtomicInteger n = new AtomicInteger();
        workers = Executors.newFixedThreadPool(Math.max(1, config.parallelism()), r -> {
            Thread t = new Thread(r, "sync-engine-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        readAhead = ReadAhead.pool("sync-engine-read-ahead", config.parallelism());
        scheduler = new FairScheduler(workers, config.parallelism(), config.fairness().tenancyShare(),
                config.fairness().targetShare());
        batches = scheduler.batches(this::counted, Unit::tenancyId, config.batch().maxTenancies());
        watchdog = new RunWatchdog(config.runDeadline(), config.runAbortGrace());
        RunContext.Sink sink = new RunContext.Sink() {
            @Override
            public void rowsApplied(long rows) {
                rowsAppliedSinceStart.addAndGet(rows);
            }

            @Override
            public void error(String error) {
                noteError(error);
            }
        };
        // The bound on an internal fetch (engine.statement-timeout): a plan made before the tables were analyzed (a
        // tenancy bulk-loaded a moment ago) can run for minutes; cancelled (SQLState 57014), the run fails, the
        // poller retries it later and the retry is planned afresh.
        int readTimeout = (int) Math.max(1, config.statementTimeout().toSeconds());
        ChangeReader reader = new ChangeReader(readTimeout, config.pageMaxBytes().asLongValue(),
                rowMaxBytes(internalConfig.maxResultBuffer()));
        RunContext context = new RunContext(pools, schema, reader, metrics, config.pageSize(),
                config.batch().fetchRows(), shuttingDown::get, sink, watchdog,
                new ProgressStore.Backoff(config.targetBackoff().base(), config.targetBackoff().max()),
                new LivePageReader(readTimeout, config.pageMaxBytes().asLongValue(), config.backfill().copyKeys(),
                        rowMaxBytes(internalConfig.maxResultBuffer())),
                ChangeRetention::prunedThroughByMapping,
                new ChangedMappings(readTimeout), readAhead);
        runs = new Runs(context, internal, config.parallelism(), config.batch().maxTenancies());
        resync = new Resync(internal, pools, schema);
    }

    /** {@code internal.database.max-result-buffer} in bytes, as the driver reads it (a share of the heap included). */
    static long rowMaxBytes(String maxResultBuffer) {
        try {
            return org.postgresql.util.PGPropertyMaxResultBufferParser.parseProperty(maxResultBuffer);
        } catch (org.postgresql.util.PSQLException e) {
            throw new IllegalArgumentException("INTERNAL_DATABASE_MAX_RESULT_BUFFER: " + e.getMessage(), e);
        }
    }

    /**
     * Graceful shutdown: stops taking runs; a running run stops after its current page (pages are atomic, cursors
     * are in the target) and releases its lock; waits up to {@code engine.shutdown-wait} for that.
     */
    void onShutdown(@Observes @Priority(1) ShutdownEvent event) {
        shuttingDown.set(true);
        long deadline = System.nanoTime() + config.shutdownWait().toNanos();
        synchronized (idle) {
            long remaining;
            while (activeRuns.get() > 0 && (remaining = deadline - System.nanoTime()) > 0) {
                try {
                    idle.wait(Math.max(1, remaining / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        workers.shutdown();
    }

    @PreDestroy
    void stop() {
        shuttingDown.set(true);
        workers.shutdownNow();
        readAhead.shutdown();
        watchdog.close();
    }

    /** Target connections the run watchdog aborted since start. */
    public long abortedRuns() {
        return watchdog.aborts();
    }

    /** The scheduler's fairness state (tests and status). */
    public FairScheduler scheduler() {
        return scheduler;
    }

    public boolean isShuttingDown() {
        return shuttingDown.get();
    }

    public int activeRuns() {
        return activeRuns.get();
    }

    public long completedRuns() {
        return completedRuns.get();
    }

    /** Rows upserted or deleted in targets since this process started. */
    public long rowsAppliedSinceStart() {
        return rowsAppliedSinceStart.get();
    }

    public String lastError() {
        return lastError;
    }

    public Instant lastErrorAt() {
        return lastErrorAt;
    }

    /** A 64-bit key for the (tenancy, target) advisory lock, the same in every replica. */
    static long lockKey(UUID tenancyId, String targetId) {
        return RunLocks.key(tenancyId, targetId);
    }

    /**
     * Syncs every tenancy of a request; one result per requested id, in request order (a repeated id gets the same
     * result). Configs are read in one query; every (tenancy, target) that shares one external database with others
     * of the request joins their batch (up to {@code engine.batch.max-tenancies}); batches run in parallel up to
     * {@code engine.parallelism}, no tenancy or target database beyond its share ({@link FairScheduler}), and
     * batches of concurrent requests that wait for a worker run joined when they share a target login. A target
     * backed off after failures answers BACKED_OFF without running; whatever has not finished within
     * {@code engine.answer-budget} answers UNFINISHED, so one slow target never delays the answer for the others.
     */
    public SyncResponse sync(List<UUID> tenancyIds) {
        long answerBy = System.nanoTime() + config.answerBudget().toNanos();
        List<UUID> distinct = List.copyOf(new LinkedHashSet<>(tenancyIds));
        Map<UUID, TenancyDirectory.Entry> tenancies;
        Connection c = null;
        try {
            c = internal.getConnection();
            tenancies = TenancyDirectory.byIds(c, distinct);
        } catch (SQLException e) {
            closeQuietly(c);
            String error = SqlFailure.describeInternal(e);
            noteError(error);
            metrics.failure("internal");
            return new SyncResponse(tenancyIds.stream()
                    .map(id -> new TenancyResult(id, Outcome.FAILED, true, List.of(), error)).toList());
        }
        Map<UUID, TenancyResult> done = new HashMap<>();
        Map<UUID, List<TargetResult>> configErrors = new HashMap<>();
        Map<UUID, List<Unit>> unitsOf = new LinkedHashMap<>();
        for (UUID id : distinct) {
            TenancyDirectory.Entry tenancy = tenancies.get(id);
            if (tenancy == null) {
                done.put(id, new TenancyResult(id, Outcome.NOT_FOUND, false, List.of(), null));
                continue;
            }
            if (tenancy.paused()) {
                // No retry: the poller drops the request; resume enqueues the tenancy again, so nothing is lost.
                done.put(id, new TenancyResult(id, Outcome.PAUSED, false, List.of(), null));
                continue;
            }
            TargetConfigs targets = tenancy.targets();
            if (targets.isEmpty()) {
                done.put(id, new TenancyResult(id, Outcome.NO_TARGETS, false, List.of(), null));
                continue;
            }
            List<TargetResult> errors = new ArrayList<>();
            for (TargetConfigError error : targets.errors()) {
                metrics.failure("invalid_config");
                String message = PostgresUrl.redact(error.message());
                // The id is the parser's printable form: a tenant's newline or NUL never reaches the log line.
                LOG.warnf("Tenancy %s, target %s: invalid target config: %s", id, error.targetId(), message);
                errors.add(new TargetResult(error.targetId(), Outcome.INVALID_CONFIG, false, Map.of(), message));
            }
            configErrors.put(id, errors);
            unitsOf.put(id, targets.targets().stream().map(t -> new Unit(id, t)).toList());
        }

        Map<Unit, TargetResult> results = new HashMap<>();
        Set<ProgressStore.Target> recovering = new HashSet<>();
        Map<UUID, List<Unit>> runnable = skipBackedOff(c, unitsOf, results, recovering);
        closeQuietly(c);
        List<List<Unit>> planned = runs.plan(runnable.values());
        List<FairScheduler.Ticket<Map<Unit, TargetResult>>> tickets = new ArrayList<>();
        for (List<Unit> batch : planned) {
            PostgresUrl url = batch.get(0).target().url();
            tickets.add(batches.submit(database(url), url, batch));
        }
        for (int b = 0; b < planned.size(); b++) {
            results.putAll(await(tickets.get(b), planned.get(b), answerBy));
        }
        clearRecovered(results, recovering);

        for (Map.Entry<UUID, List<Unit>> entry : unitsOf.entrySet()) {
            UUID id = entry.getKey();
            List<TargetResult> all = new ArrayList<>(configErrors.get(id));
            entry.getValue().forEach(unit -> all.add(results.get(unit)));
            Outcome overall = all.stream().map(TargetResult::outcome).filter(o -> o != Outcome.SYNCED).findFirst()
                    .orElse(Outcome.SYNCED);
            boolean retry = all.stream().anyMatch(TargetResult::retry);
            done.put(id, new TenancyResult(id, overall, retry, all, null));
        }
        // Their cursors may have moved (or they have no target): what the log still needs is reviewed next round.
        retention.touched(distinct);
        return new SyncResponse(tenancyIds.stream().map(done::get).toList());
    }

    /**
     * A batch's results once it finished, or, past the answer budget, UNFINISHED for each member: a batch not yet
     * started is dropped (it never starts), a running one carries on to its run deadline and records its progress
     * itself; its cursors move only with their rows in the target (compare-and-set), so a retry that overlaps it
     * either waits for its lock (BUSY) or continues from where it got.
     */
    private Map<Unit, TargetResult> await(FairScheduler.Ticket<Map<Unit, TargetResult>> ticket, List<Unit> batch,
            long answerBy) {
        try {
            return ticket.result().get(Math.max(0, answerBy - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            String why = ticket.cancel()
                    ? "not started within the engine's answer budget of " + config.answerBudget() + " (workers busy)"
                    : "still running after the engine's answer budget of " + config.answerBudget()
                            + "; it continues, and a later request picks up from its cursors";
            metrics.failure("unfinished");
            Map<Unit, TargetResult> unfinished = new LinkedHashMap<>();
            batch.forEach(u -> unfinished.put(u, new TargetResult(u.targetId(), Outcome.UNFINISHED, true, Map.of(),
                    why)));
            return unfinished;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Runs.failAll(batch, RunAbort.SHUTTING_DOWN);
        } catch (CancellationException e) {
            return Runs.failAll(batch, RunAbort.SHUTTING_DOWN);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RejectedExecutionException) {
                return Runs.failAll(batch, RunAbort.SHUTTING_DOWN);
            }
            return Runs.failAll(batch, "unexpected: " + PostgresUrl.redact(String.valueOf(cause.getMessage())));
        }
    }

    /**
     * Units whose target is backed off answer BACKED_OFF (retry) at once, without a worker or a connection; the
     * rest are returned to run. Those whose backoff has expired run as the retry and are remembered, so a success
     * ends their backoff.
     */
    private Map<UUID, List<Unit>> skipBackedOff(Connection c, Map<UUID, List<Unit>> unitsOf,
            Map<Unit, TargetResult> results, Set<ProgressStore.Target> recovering) {
        List<ProgressStore.Target> targets = new ArrayList<>();
        unitsOf.values().forEach(units -> units.forEach(u -> targets.add(new ProgressStore.Target(u.tenancyId(),
                u.targetId()))));
        Map<ProgressStore.Target, ProgressStore.BackoffState> backoffs;
        try {
            backoffs = ProgressStore.backoffs(c, targets);
        } catch (SQLException e) {
            // Without the backoff state, run everything: the deadline still bounds each run.
            noteError(SqlFailure.describeInternal(e));
            return unitsOf;
        }
        if (backoffs.isEmpty()) {
            return unitsOf;
        }
        Map<UUID, List<Unit>> runnable = new LinkedHashMap<>();
        unitsOf.forEach((id, units) -> {
            List<Unit> left = new ArrayList<>();
            for (Unit u : units) {
                ProgressStore.BackoffState state = backoffs.get(new ProgressStore.Target(id, u.targetId()));
                if (state != null && state.active()) {
                    metrics.failure("backed_off");
                    results.put(u, new TargetResult(u.targetId(), Outcome.BACKED_OFF, true, Map.of(),
                            "target backed off after " + state.failures() + " consecutive failures or timeouts; "
                                    + "next try at " + state.retryAt(), state.retryAfterMillis()));
                } else {
                    if (state != null) {
                        recovering.add(new ProgressStore.Target(id, u.targetId()));
                    }
                    left.add(u);
                }
            }
            runnable.put(id, left);
        });
        return runnable;
    }

    /** Ends the backoff of the retried (tenancy, target)s of {@code recovering} that synced. */
    private void clearRecovered(Map<Unit, TargetResult> results, Set<ProgressStore.Target> recovering) {
        if (recovering.isEmpty()) {
            return;
        }
        List<ProgressStore.Target> recovered = new ArrayList<>();
        results.forEach((u, r) -> {
            ProgressStore.Target t = new ProgressStore.Target(u.tenancyId(), u.targetId());
            if (r.outcome() == Outcome.SYNCED && recovering.contains(t)) {
                recovered.add(t);
            }
        });
        if (recovered.isEmpty()) {
            return;
        }
        try (Connection c = internal.getConnection()) {
            ProgressStore.clearBackoff(c, recovered);
        } catch (SQLException e) {
            noteError(SqlFailure.describeInternal(e));
        }
    }

    /** The identity of a target database for fairness: the server and database, whoever connects to it. */
    static String database(PostgresUrl url) {
        return url.host().toLowerCase(java.util.Locale.ROOT) + ":" + url.port() + "/" + url.database();
    }

    private static void closeQuietly(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException e) {
                // Nothing to do: the pool discards it.
            }
        }
    }

    /** One batch, counted as active while it runs (shutdown waits for the active ones). */
    private Map<Unit, TargetResult> counted(List<Unit> batch) {
        if (shuttingDown.get()) {
            return Runs.failAll(batch, RunAbort.SHUTTING_DOWN);
        }
        activeRuns.addAndGet(batch.size());
        try {
            return runs.runBatch(batch);
        } finally {
            completedRuns.addAndGet(batch.size());
            if (activeRuns.addAndGet(-batch.size()) == 0) {
                synchronized (idle) {
                    idle.notifyAll();
                }
            }
        }
    }

    /** See {@link Resync}. */
    public Resync.Outcome resync(UUID tenancyId, String targetId, Duration lockWait) throws SQLException {
        return resync.resync(tenancyId, targetId, lockWait);
    }

    private void noteError(String error) {
        lastError = error;
        lastErrorAt = clock.instant();
    }
}
