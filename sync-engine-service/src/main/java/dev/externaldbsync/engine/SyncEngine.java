package dev.externaldbsync.engine;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

import org.jboss.logging.Logger;
import org.jboss.logging.MDC;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.config.TargetConfig;
import dev.externaldbsync.config.TargetConfigError;
import dev.externaldbsync.config.TargetConfigParser;
import dev.externaldbsync.config.TargetConfigs;
import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.SyncResponse;
import dev.externaldbsync.contract.TargetResult;
import dev.externaldbsync.contract.TenancyResult;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.mapping.TargetColumn;
import io.agroal.api.AgroalDataSource;
import io.quarkus.runtime.ShutdownEvent;

/**
 * Applies tenancies' changes to their targets. For each (tenancy, target) a run holds a session advisory lock on the
 * internal database (so runs never overlap across threads and replicas), bootstraps the target schema once per
 * target and schema version, then for every mapping of {@link Mappings#ALL} pages rows above the target's cursor and
 * applies each page in one target transaction together with the cursor advance (set-based upsert + delete, guarded
 * by the cursor value the page was read from). Rows a target rejects for data reasons are narrowed by bisection and
 * dead-lettered. Thread-safe: tenancies run on a bounded worker pool.
 */
@ApplicationScoped
public class SyncEngine {

    private static final Logger LOG = Logger.getLogger(SyncEngine.class);

    /** MDC keys set around each tenancy and target run, so structured logs carry them on every line. */
    static final String MDC_TENANCY = "tenancyId";
    static final String MDC_TARGET = "targetId";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Serialises concurrent schema bootstraps on one target (a transaction-level lock there). */
    private static final long BOOTSTRAP_LOCK = 0x5359_4E43_4444_4C00L; // "SYNCDDL"

    /** SQLState classes of errors caused by the rows themselves: bisect, dead-letter, move on. */
    private static final Set<String> DATA_ERROR_CLASSES = Set.of("21", "22", "23", "44", "P0");

    /** SQLState classes meaning the connection or server is gone: the whole target run fails and is retried. */
    private static final Set<String> CONNECTION_ERROR_CLASSES = Set.of("08", "57", "53");

    private static final String READ_CONFIG = """
            SELECT e."config"::text,
                   EXISTS (SELECT 1 FROM "ExternalDbSyncTenancyPause" p WHERE p."tenancyId" = t."id")
            FROM "Tenancy" t
            LEFT JOIN "EnvironmentConfigOverride" e ON e."projectId" = t."projectId" AND e."branchId" = t."branchId"
            WHERE t."id" = ?""";

    @Inject
    AgroalDataSource internal;

    @Inject
    EngineConfig config;

    @Inject
    TargetPools pools;

    @Inject
    EngineMetrics metrics;

    @Inject
    java.time.Clock clock;

    private ExecutorService workers;
    private final AtomicBoolean shuttingDown = new AtomicBoolean();
    private final AtomicInteger activeRuns = new AtomicInteger();
    private final Object idle = new Object();
    private final AtomicLong completedRuns = new AtomicLong();
    private final Set<String> bootstrapped = ConcurrentHashMap.newKeySet();
    private final Set<String> forceBootstrap = ConcurrentHashMap.newKeySet();
    private final Map<Mapping, String> pageQueries = new ConcurrentHashMap<>();
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

    public String lastError() {
        return lastError;
    }

    public Instant lastErrorAt() {
        return lastErrorAt;
    }

    /** Syncs every tenancy (in parallel up to {@code engine.parallelism}); results in request order. */
    public SyncResponse sync(List<UUID> tenancyIds) {
        List<CompletableFuture<TenancyResult>> futures = new ArrayList<>();
        for (UUID id : tenancyIds) {
            CompletableFuture<TenancyResult> future;
            try {
                future = CompletableFuture.supplyAsync(() -> syncTenancy(id), workers);
            } catch (RejectedExecutionException e) {
                future = CompletableFuture.completedFuture(
                        new TenancyResult(id, Outcome.FAILED, true, List.of(), "sync engine is shutting down"));
            }
            futures.add(future.exceptionally(e -> new TenancyResult(id, Outcome.FAILED, true, List.of(),
                    "unexpected: " + PostgresUrl.redact(String.valueOf(e.getMessage())))));
        }
        return new SyncResponse(futures.stream().map(CompletableFuture::join).toList());
    }

    TenancyResult syncTenancy(UUID tenancyId) {
        MDC.put(MDC_TENANCY, tenancyId.toString());
        try {
            return syncTenancyInMdc(tenancyId);
        } finally {
            MDC.remove(MDC_TENANCY);
        }
    }

    private TenancyResult syncTenancyInMdc(UUID tenancyId) {
        String configJson;
        boolean found;
        boolean paused = false;
        try (Connection c = internal.getConnection(); PreparedStatement ps = c.prepareStatement(READ_CONFIG)) {
            ps.setObject(1, tenancyId);
            try (ResultSet rs = ps.executeQuery()) {
                found = rs.next();
                configJson = found ? rs.getString(1) : null;
                paused = found && rs.getBoolean(2);
            }
        } catch (SQLException e) {
            String error = "internal database: " + describe(e);
            noteError(error);
            metrics.failure("internal");
            return new TenancyResult(tenancyId, Outcome.FAILED, true, List.of(), error);
        }
        if (!found) {
            return new TenancyResult(tenancyId, Outcome.NOT_FOUND, false, List.of(), null);
        }
        if (paused) {
            // No retry: the poller drops the request; resume enqueues the tenancy again, so nothing is lost.
            return new TenancyResult(tenancyId, Outcome.PAUSED, false, List.of(), null);
        }
        TargetConfigs targets = TargetConfigParser.parse(configJson);
        if (targets.isEmpty()) {
            return new TenancyResult(tenancyId, Outcome.NO_TARGETS, false, List.of(), null);
        }
        List<TargetResult> results = new ArrayList<>();
        for (TargetConfigError error : targets.errors()) {
            metrics.failure("invalid_config");
            results.add(new TargetResult(error.targetId(), Outcome.INVALID_CONFIG, false, Map.of(),
                    PostgresUrl.redact(error.message())));
        }
        for (TargetConfig target : targets.targets()) {
            results.add(syncTarget(tenancyId, target));
        }
        Outcome overall = results.stream().map(TargetResult::outcome).filter(o -> o != Outcome.SYNCED).findFirst()
                .orElse(Outcome.SYNCED);
        boolean retry = results.stream().anyMatch(TargetResult::retry);
        return new TenancyResult(tenancyId, overall, retry, results, null);
    }

    TargetResult syncTarget(UUID tenancyId, TargetConfig target) {
        MDC.put(MDC_TARGET, target.id());
        try {
            return syncTargetInMdc(tenancyId, target);
        } finally {
            MDC.remove(MDC_TARGET);
        }
    }

    private TargetResult syncTargetInMdc(UUID tenancyId, TargetConfig target) {
        if (shuttingDown.get()) {
            return new TargetResult(target.id(), Outcome.FAILED, true, Map.of(), "sync engine is shutting down");
        }
        activeRuns.incrementAndGet();
        long lockKey = lockKey(tenancyId, target.id());
        try (Connection ic = internal.getConnection()) {
            if (!tryLock(ic, lockKey)) {
                metrics.failure("busy");
                return new TargetResult(target.id(), Outcome.BUSY, true, Map.of(),
                        "another run holds this tenancy and target");
            }
            try {
                return new TargetRun(tenancyId, target, ic).run();
            } finally {
                unlock(ic, lockKey);
            }
        } catch (SQLException e) {
            String error = "internal database: " + describe(e);
            noteError(error);
            metrics.failure("internal");
            return new TargetResult(target.id(), Outcome.FAILED, true, Map.of(), error);
        } finally {
            completedRuns.incrementAndGet();
            if (activeRuns.decrementAndGet() == 0) {
                synchronized (idle) {
                    idle.notifyAll();
                }
            }
        }
    }

    /** What {@link #resync} did. */
    public enum ResyncOutcome {
        /** Cursors reset and, for a target holding no other tenancy, its mapping tables emptied. */
        RESET_DEDICATED,
        /** Shared target: only this tenancy's cursors reset (stale extra rows of a shared target stay). */
        RESET_SHARED,
        /** No such tenancy, or it has no valid target of that id. */
        NOT_FOUND,
        /** A run held the (tenancy, target) lock for longer than the wait. */
        BUSY
    }

    private static final String COUNT_OTHER_TENANCIES = """
            SELECT count(*) FROM (SELECT 1 FROM "_stack_sync_metadata" WHERE "tenancy_id" <> ? LIMIT 1) AS o""";

    private static final String RESET_CURSORS = """
            UPDATE "_stack_sync_metadata" SET "last_synced_sequence_id" = -1, "updated_at" = now()
            WHERE "tenancy_id" = ?""";

    private static final String ENQUEUE = "SELECT sync_enqueue_tenancies(ARRAY[?]::uuid[])";

    /**
     * Rebuilds one (tenancy, target) from scratch while live sync continues: under the same advisory lock as the
     * runs, in one target transaction, resets the tenancy's cursors to −1 and, when the target's cursor table holds
     * no other tenancy, truncates every mapping table (so drifted extra rows go too); then enqueues the tenancy so the
     * next run re-applies everything (the upserts are idempotent). A shared target only gets its cursors reset: rows
     * that exist in it but no longer in the projection are not removed there, since finding them would need a
     * cross-database anti-join.
     *
     * @throws SQLException when the internal database or the target fails; nothing was changed then
     */
    public ResyncOutcome resync(UUID tenancyId, String targetId, Duration lockWait) throws SQLException {
        TargetConfig target;
        try (Connection c = internal.getConnection(); PreparedStatement ps = c.prepareStatement(READ_CONFIG)) {
            ps.setObject(1, tenancyId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return ResyncOutcome.NOT_FOUND;
                }
                target = TargetConfigParser.parse(rs.getString(1)).targets().stream()
                        .filter(t -> t.id().equals(targetId)).findFirst().orElse(null);
            }
        }
        if (target == null) {
            return ResyncOutcome.NOT_FOUND;
        }
        ResyncOutcome outcome;
        long lockKey = lockKey(tenancyId, targetId);
        try (Connection ic = internal.getConnection()) {
            if (!lockWithin(ic, lockKey, lockWait)) {
                return ResyncOutcome.BUSY;
            }
            try {
                outcome = resetTarget(tenancyId, target);
            } finally {
                unlock(ic, lockKey);
            }
            try (PreparedStatement ps = ic.prepareStatement(ENQUEUE)) {
                ps.setObject(1, tenancyId);
                ps.execute();
            }
        }
        LOG.infof("Resync of tenancy %s target %s: %s", tenancyId, targetId, outcome);
        return outcome;
    }

    private ResyncOutcome resetTarget(UUID tenancyId, TargetConfig target) throws SQLException {
        try (TargetPools.Lease lease = pools.lease(target.url()); Connection tc = lease.connection()) {
            ensureSchema(tc, target.url());
            tc.setAutoCommit(false);
            try (Statement st = tc.createStatement()) {
                // Blocks other tenancies' first cursor inserts until commit, so "dedicated" cannot change under us.
                st.execute("LOCK TABLE \"_stack_sync_metadata\" IN SHARE ROW EXCLUSIVE MODE");
                boolean shared;
                try (PreparedStatement ps = tc.prepareStatement(COUNT_OTHER_TENANCIES)) {
                    ps.setObject(1, tenancyId);
                    try (ResultSet rs = ps.executeQuery()) {
                        shared = rs.next() && rs.getLong(1) > 0;
                    }
                }
                if (!shared) {
                    st.execute("TRUNCATE " + Mappings.ALL.stream().map(Mapping::quotedTable)
                            .collect(Collectors.joining(", ")));
                }
                try (PreparedStatement ps = tc.prepareStatement(RESET_CURSORS)) {
                    ps.setObject(1, tenancyId);
                    ps.executeUpdate();
                }
                tc.commit();
                return shared ? ResyncOutcome.RESET_SHARED : ResyncOutcome.RESET_DEDICATED;
            } catch (SQLException | RuntimeException e) {
                rollbackQuietly(tc);
                if ("42P01".equals(e instanceof SQLException sql ? sql.getSQLState() : null)) {
                    forgetSchema(target.url());
                }
                if (e instanceof SQLException sql && isConnectionError(sql)) {
                    lease.flush();
                }
                throw e;
            }
        }
    }

    /** Polls the try-lock: a run in progress finishes its pages first; never blocks a pooled connection forever. */
    private static boolean lockWithin(Connection c, long key, Duration wait) throws SQLException {
        long deadline = System.nanoTime() + wait.toNanos();
        while (!tryLock(c, key)) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    /** One (tenancy, target) run, holding the lock; confined to one thread. */
    private final class TargetRun {
        final UUID tenancyId;
        final TargetConfig target;
        final Connection ic;
        final ProgressStore.Batch progress;

        TargetRun(UUID tenancyId, TargetConfig target, Connection ic) {
            this.tenancyId = tenancyId;
            this.target = target;
            this.ic = ic;
            this.progress = new ProgressStore.Batch(tenancyId, target.id());
        }

        TargetResult run() {
            Map<String, Long> applied = new LinkedHashMap<>();
            String firstError = null;
            try (TargetPools.Lease lease = pools.lease(target.url())) {
                try (Connection tc = lease.connection()) {
                    ensureSchema(tc, target.url());
                    Map<String, Long> cursors = readCursors(tc);
                    Set<String> withPoison = ProgressStore.mappingsWithPoison(ic, tenancyId, target.id());
                    tc.setAutoCommit(false);
                    for (Mapping mapping : Mappings.ALL) {
                        try {
                            MappingRun run = new MappingRun(mapping, tc, ic, tenancyId, target.id(), progress,
                                    cursors.get(mapping.name()), withPoison.contains(mapping.name()));
                            applied.put(mapping.name(), run.run());
                        } catch (SQLException e) {
                            String error = mapping.name() + ": " + describe(e);
                            rollbackQuietly(tc); // the next mapping must not start inside an aborted transaction
                            progress.markFailed(mapping.name());
                            recordFailure(mapping.name(), error);
                            if ("42P01".equals(e.getSQLState())) {
                                // Someone dropped a target table: bootstrap again next time.
                                forgetSchema(target.url());
                            }
                            if (isConnectionError(e)) {
                                throw e;
                            }
                            // Other mappings do not depend on this one: carry on.
                            firstError = firstError == null ? error : firstError;
                        }
                    }
                } catch (SQLException e) {
                    if (isConnectionError(e)) {
                        lease.flush();
                    }
                    throw e;
                }
            } catch (ShuttingDown e) {
                flushProgress();
                return new TargetResult(target.id(), Outcome.FAILED, true, applied, "sync engine is shutting down");
            } catch (SQLException e) {
                String error = "target " + target.url().redacted() + ": " + describe(e);
                for (Mapping mapping : Mappings.ALL) {
                    if (!applied.containsKey(mapping.name())) {
                        progress.markFailed(mapping.name());
                        recordFailure(mapping.name(), error);
                    }
                }
                firstError = firstError == null ? error : firstError;
            }
            flushProgress();
            if (firstError != null) {
                noteError(firstError);
                metrics.failure("failed");
                LOG.warnf("Sync of tenancy %s target %s failed: %s", tenancyId, target.id(), firstError);
                return new TargetResult(target.id(), Outcome.FAILED, true, applied, firstError);
            }
            return new TargetResult(target.id(), Outcome.SYNCED, false, applied, null);
        }

        /** All cursors of this tenancy in one query; creates the missing ones (first sync) at −1. */
        private Map<String, Long> readCursors(Connection tc) throws SQLException {
            tc.setAutoCommit(true);
            Map<String, Long> cursors = new LinkedHashMap<>();
            try (PreparedStatement ps = tc.prepareStatement(Mappings.READ_CURSORS_SQL)) {
                ps.setObject(1, tenancyId);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        cursors.put(rs.getString(1), rs.getLong(2));
                    }
                }
            }
            String[] missing = Mappings.ALL.stream().map(Mapping::name).filter(n -> !cursors.containsKey(n))
                    .toArray(String[]::new);
            if (missing.length > 0) {
                try (PreparedStatement ps = tc.prepareStatement(Mappings.ENSURE_CURSORS_SQL)) {
                    ps.setObject(1, tenancyId);
                    ps.setArray(2, tc.createArrayOf("text", missing));
                    ps.executeUpdate();
                }
                for (String name : missing) {
                    cursors.put(name, readCursor(tc, tenancyId, name));
                }
            }
            return cursors;
        }

        private void flushProgress() {
            try {
                progress.flush(ic);
            } catch (SQLException e) {
                LOG.warnf("Cannot record progress in the internal database: %s", describe(e));
            }
        }

        private void recordFailure(String mapping, String error) {
            try {
                ProgressStore.failure(ic, tenancyId, target.id(), mapping, error);
            } catch (SQLException e) {
                LOG.warnf("Cannot record a failure in the internal database: %s", describe(e));
            }
        }
    }

    private static long readCursor(Connection tc, UUID tenancyId, String mapping) throws SQLException {
        try (PreparedStatement ps = tc.prepareStatement(Mappings.READ_CURSOR_SQL)) {
            ps.setObject(1, tenancyId);
            ps.setString(2, mapping);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : -1;
            }
        }
    }

    /** One mapping of one run: pages above the cursor until caught up. */
    private final class MappingRun {
        final Mapping mapping;
        final Connection tc;
        final Connection ic;
        final UUID tenancyId;
        final String targetId;
        final ProgressStore.Batch progress;
        final boolean hasPoison;
        final int pageSize = Math.max(1, config.pageSize());
        final int[] keyIndexes;
        long cursor;
        final Set<String> poisonedInPage = new HashSet<>();

        MappingRun(Mapping mapping, Connection tc, Connection ic, UUID tenancyId, String targetId,
                ProgressStore.Batch progress, long cursor, boolean hasPoison) {
            this.mapping = mapping;
            this.tc = tc;
            this.ic = ic;
            this.tenancyId = tenancyId;
            this.targetId = targetId;
            this.progress = progress;
            this.cursor = cursor;
            this.hasPoison = hasPoison;
            this.keyIndexes = mapping.keyIndexes();
        }

        long run() throws SQLException {
            long total = 0;
            while (true) {
                if (shuttingDown.get()) {
                    throw new ShuttingDown();
                }
                List<Row> page = fetch();
                if (page.isEmpty()) {
                    break;
                }
                poisonedInPage.clear();
                long applied;
                try {
                    applied = applyRange(page, 0, page.size());
                } catch (CursorMoved moved) {
                    LOG.infof("Cursor of %s/%s/%s moved underneath (now %d, page read from %d): re-reading",
                            tenancyId, targetId, mapping.name(), moved.actual, cursor);
                    cursor = moved.actual;
                    continue;
                }
                total += applied;
                metrics.rowsApplied(mapping.name(), applied);
                if (hasPoison) {
                    String[] keys = page.stream().map(this::keyJson).filter(k -> !poisonedInPage.contains(k))
                            .toArray(String[]::new);
                    ProgressStore.clearPoison(ic, tenancyId, targetId, mapping.name(), keys);
                }
                progress.add(mapping.name(), cursor, applied);
                if (page.size() < pageSize) {
                    break;
                }
                // A long run: keep the mirror current page by page (a short run writes it once at the end).
                progress.flush(ic);
            }
            progress.add(mapping.name(), cursor, 0);
            return total;
        }

        private List<Row> fetch() throws SQLException {
            String sql = pageQueries.computeIfAbsent(mapping, SyncEngine::pageQuery);
            int columns = mapping.columns().size();
            List<Row> rows = new ArrayList<>();
            try (PreparedStatement ps = ic.prepareStatement(sql)) {
                int i = 1;
                for (Mapping.FetchParameter p : mapping.fetchParameters()) {
                    switch (p) {
                        case TENANCY_ID -> ps.setObject(i++, tenancyId);
                        case CURSOR -> ps.setLong(i++, cursor);
                        case LIMIT -> ps.setInt(i++, pageSize);
                        default -> throw new IllegalStateException("unknown parameter " + p);
                    }
                }
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        String[] values = new String[columns];
                        for (int c = 0; c < columns; c++) {
                            values[c] = rs.getString(c + 1);
                        }
                        rows.add(new Row(values, rs.getLong(columns + 1), rs.getBoolean(columns + 2)));
                    }
                }
            }
            return rows;
        }

        /** Applies rows [from, to); on a data error narrows down by halves to the offending rows. */
        private long applyRange(List<Row> rows, int from, int to) throws SQLException {
            try {
                return applyPage(rows.subList(from, to));
            } catch (SQLException e) {
                if (!isDataError(e)) {
                    throw e;
                }
                if (to - from == 1) {
                    poison(rows.get(from), e);
                    return 0;
                }
                int mid = (from + to) >>> 1;
                return applyRange(rows, from, mid) + applyRange(rows, mid, to);
            }
        }

        /** One target transaction: set-based upsert, set-based delete, cursor compare-and-set, commit. */
        private long applyPage(List<Row> rows) throws SQLException {
            long started = System.nanoTime();
            try {
                long applied = 0;
                List<Row> live = rows.stream().filter(r -> !r.deleted).toList();
                List<Row> dead = rows.stream().filter(r -> r.deleted).toList();
                if (!live.isEmpty()) {
                    try (PreparedStatement ps = tc.prepareStatement(mapping.upsertSql())) {
                        List<TargetColumn> columns = mapping.columns();
                        for (int c = 0; c < columns.size(); c++) {
                            int column = c;
                            ps.setArray(c + 1, tc.createArrayOf("text",
                                    live.stream().map(r -> r.values[column]).toArray(String[]::new)));
                        }
                        applied += ps.executeUpdate();
                    }
                }
                if (!dead.isEmpty()) {
                    try (PreparedStatement ps = tc.prepareStatement(mapping.deleteSql())) {
                        for (int k = 0; k < keyIndexes.length; k++) {
                            int column = keyIndexes[k];
                            ps.setArray(k + 1, tc.createArrayOf("text",
                                    dead.stream().map(r -> r.values[column]).toArray(String[]::new)));
                        }
                        applied += ps.executeUpdate();
                    }
                }
                long last = rows.get(rows.size() - 1).sequenceId;
                advanceCursor(last);
                tc.commit();
                cursor = last;
                metrics.pageApplied(mapping.name(), Duration.ofNanos(System.nanoTime() - started));
                return applied;
            } catch (SQLException | RuntimeException e) {
                rollbackQuietly(tc);
                throw e;
            }
        }

        /**
         * The optimistic guard, as one compare-and-set: moves the cursor only if it still is the one this page was
         * read from; otherwise the caller's transaction is rolled back and the run re-reads from the actual cursor.
         */
        private void advanceCursor(long to) throws SQLException {
            int updated;
            try (PreparedStatement ps = tc.prepareStatement(Mappings.ADVANCE_CURSOR_SQL)) {
                ps.setLong(1, to);
                ps.setObject(2, tenancyId);
                ps.setString(3, mapping.name());
                ps.setLong(4, cursor);
                updated = ps.executeUpdate();
            }
            if (updated == 0) {
                rollbackQuietly(tc);
                long actual = readCursor(tc, tenancyId, mapping.name());
                rollbackQuietly(tc);
                throw new CursorMoved(actual);
            }
        }

        private void poison(Row row, SQLException e) throws SQLException {
            String key = keyJson(row);
            String error = describe(e);
            ProgressStore.poison(ic, tenancyId, targetId, mapping.name(), key, row.sequenceId, error);
            poisonedInPage.add(key);
            metrics.poisonRow(mapping.name());
            LOG.warnf("Poison row in %s for tenancy %s target %s, key %s, sequence id %d: %s", mapping.name(),
                    tenancyId, targetId, key, row.sequenceId, error);
            // Move the cursor past it (same guard), so the rest of the tenancy keeps flowing.
            try {
                advanceCursor(row.sequenceId);
                tc.commit();
                cursor = row.sequenceId;
            } catch (SQLException | RuntimeException ex) {
                rollbackQuietly(tc);
                throw ex;
            }
        }

        private String keyJson(Row row) {
            ObjectNode node = JSON.createObjectNode();
            for (int k = 0; k < keyIndexes.length; k++) {
                node.put(mapping.keyColumns().get(k), row.values[keyIndexes[k]]);
            }
            return node.toString();
        }
    }

    private record Row(String[] values, long sequenceId, boolean deleted) {
    }

    /** The page query with every target column as its PostgreSQL text form (exact round trip through text[]). */
    static String pageQuery(Mapping mapping) {
        String columns = mapping.columns().stream().map(c -> "\"_page\"." + c.quoted() + "::text")
                .collect(Collectors.joining(", "));
        return "SELECT " + columns + ", \"_page\".\"sequence_id\", \"_page\".\"is_deleted\" FROM (" + mapping.fetchSql()
                + ") AS \"_page\" ORDER BY \"_page\".\"sequence_id\"";
    }

    private void ensureSchema(Connection tc, PostgresUrl url) throws SQLException {
        String key = schemaKey(url);
        if (bootstrapped.contains(key)) {
            return;
        }
        boolean force = forceBootstrap.remove(key);
        tc.setAutoCommit(false);
        try (Statement st = tc.createStatement()) {
            if (!force && Mappings.SCHEMA_MARK.equals(readMark(st))) {
                tc.commit();
                bootstrapped.add(key);
                return;
            }
            st.execute("SELECT pg_advisory_xact_lock(" + BOOTSTRAP_LOCK + ")");
            if (force || !Mappings.SCHEMA_MARK.equals(readMark(st))) {
                for (String ddl : Mappings.TARGET_DDL) {
                    st.execute(ddl);
                }
                st.execute(Mappings.WRITE_SCHEMA_MARK_SQL);
                LOG.infof("Bootstrapped target schema %s on %s", Mappings.SCHEMA_VERSION, url.redacted());
            }
            tc.commit();
            bootstrapped.add(key);
        } catch (SQLException | RuntimeException e) {
            rollbackQuietly(tc);
            throw e;
        }
    }

    private void forgetSchema(PostgresUrl url) {
        String key = schemaKey(url);
        bootstrapped.remove(key);
        forceBootstrap.add(key);
    }

    private static String readMark(Statement st) throws SQLException {
        try (ResultSet rs = st.executeQuery(Mappings.READ_SCHEMA_MARK_SQL)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    private static String schemaKey(PostgresUrl url) {
        return url.host() + ":" + url.port() + "/" + url.database() + "@" + url.user() + "#" + Mappings.SCHEMA_VERSION;
    }

    private static boolean tryLock(Connection c, long key) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_try_advisory_lock(?)")) {
            ps.setLong(1, key);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getBoolean(1);
            }
        }
    }

    private static void unlock(Connection c, long key) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_advisory_unlock(?)")) {
            ps.setLong(1, key);
            ps.execute();
        }
    }

    /** A 64-bit key for the (tenancy, target) advisory lock, the same in every replica. */
    static long lockKey(UUID tenancyId, String targetId) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest(("sync-engine:" + tenancyId + ":" + targetId).getBytes(StandardCharsets.UTF_8));
            return ByteBuffer.wrap(digest).getLong();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static boolean isDataError(SQLException e) {
        String state = e.getSQLState();
        return state != null && state.length() >= 2 && DATA_ERROR_CLASSES.contains(state.substring(0, 2));
    }

    static boolean isConnectionError(SQLException e) {
        String state = e.getSQLState();
        return state == null || state.length() < 2 || CONNECTION_ERROR_CLASSES.contains(state.substring(0, 2));
    }

    /** A driver message with any connection-string password removed, plus its SQLState. */
    static String describe(SQLException e) {
        String message = PostgresUrl.redact(String.valueOf(e.getMessage()));
        return e.getSQLState() == null ? message : message + " [SQLState " + e.getSQLState() + "]";
    }

    private void noteError(String error) {
        lastError = error;
        lastErrorAt = clock.instant();
    }

    private static void rollbackQuietly(Connection c) {
        try {
            c.rollback();
        } catch (SQLException e) {
            LOG.debugf("Rollback failed: %s", describe(e));
        }
    }

    private static final class CursorMoved extends RuntimeException {
        final long actual;

        CursorMoved(long actual) {
            super(null, null, false, false);
            this.actual = actual;
        }
    }

    private static final class ShuttingDown extends RuntimeException {
        ShuttingDown() {
            super("shutting down", null, false, false);
        }
    }

}
