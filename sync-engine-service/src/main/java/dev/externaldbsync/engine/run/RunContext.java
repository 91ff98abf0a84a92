package dev.externaldbsync.engine.run;

import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import org.jboss.logging.Logger;
import org.jboss.logging.MDC;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.TargetResult;
import dev.externaldbsync.engine.EngineMetrics;
import dev.externaldbsync.engine.SyncEngine;
import dev.externaldbsync.engine.errors.RunAbort;
import dev.externaldbsync.engine.read.ChangeReader;
import dev.externaldbsync.engine.read.ChangedMappings;
import dev.externaldbsync.engine.read.LivePageReader;
import dev.externaldbsync.engine.store.ProgressStore;
import dev.externaldbsync.engine.target.TargetPools;
import dev.externaldbsync.engine.target.TargetSchema;
import dev.externaldbsync.mapping.Mapping;

/**
 * What every run shares with the engine: its collaborators, its settings and the engine-wide counters it feeds.
 * Immutable apart from the counters (thread-safe sinks).
 *
 * @param live      the snapshot backfill's reads ({@link LivePageReader})
 * @param retention the change log's retention floor per tenancy (see {@link RetentionFloor})
 * @param changes   which mappings have anything to read, per run or batch ({@link ChangedMappings})
 * @param readAhead where a snapshot backfill reads its next page while the current one is applied (at most one read
 *                  per run at a time; an executor that runs the read in the caller only loses the overlap)
 */
public record RunContext(TargetPools pools, TargetSchema schema, ChangeReader reader, EngineMetrics metrics,
        int pageSize, int fetchRows, BooleanSupplier shuttingDown, Sink sink, RunWatchdog watchdog,
        ProgressStore.Backoff backoff, LivePageReader live, RetentionFloor retention, ChangedMappings changes,
        Executor readAhead) {

    /** The bound on a backfill read when none is given: {@code engine.statement-timeout}'s default. */
    static final int DEFAULT_READ_TIMEOUT_SECONDS = 120;

    /** With the process-wide read-ahead threads ({@link ReadAhead#SHARED}). */
    public RunContext(TargetPools pools, TargetSchema schema, ChangeReader reader, EngineMetrics metrics, int pageSize,
            int fetchRows, BooleanSupplier shuttingDown, Sink sink, RunWatchdog watchdog,
            ProgressStore.Backoff backoff, LivePageReader live, RetentionFloor retention, ChangedMappings changes) {
        this(pools, schema, reader, metrics, pageSize, fetchRows, shuttingDown, sink, watchdog, backoff, live,
                retention, changes, ReadAhead.SHARED);
    }

    /** With the default bound on the changed-mappings probe. */
    public RunContext(TargetPools pools, TargetSchema schema, ChangeReader reader, EngineMetrics metrics, int pageSize,
            int fetchRows, BooleanSupplier shuttingDown, Sink sink, RunWatchdog watchdog,
            ProgressStore.Backoff backoff, LivePageReader live, RetentionFloor retention) {
        this(pools, schema, reader, metrics, pageSize, fetchRows, shuttingDown, sink, watchdog, backoff, live,
                retention, new ChangedMappings(DEFAULT_READ_TIMEOUT_SECONDS));
    }

    /** Without retention (nothing pruned) and with the default bound on backfill reads. */
    public RunContext(TargetPools pools, TargetSchema schema, ChangeReader reader, EngineMetrics metrics, int pageSize,
            int fetchRows, BooleanSupplier shuttingDown, Sink sink, RunWatchdog watchdog,
            ProgressStore.Backoff backoff) {
        this(pools, schema, reader, metrics, pageSize, fetchRows, shuttingDown, sink, watchdog, backoff,
                new LivePageReader(DEFAULT_READ_TIMEOUT_SECONDS), RetentionFloor.NONE);
    }

    /** The run log: one logger for every line about a run (the MDC carries its tenancy and target). */
    static final Logger LOG = Logger.getLogger(SyncEngine.class);

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Engine-wide figures the runs feed. */
    public interface Sink {
        void rowsApplied(long rows);

        void error(String error);
    }

    /** Before each page: the engine is still running and the run is within its deadline. */
    void checkRunning(RunWatchdog.Deadline deadline) {
        if (shuttingDown.getAsBoolean()) {
            throw new RunAbort.ShuttingDown();
        }
        if (deadline.passed()) {
            throw new RunAbort.DeadlineReached(UNFINISHED_BY_DEADLINE.formatted(watchdog.deadline()));
        }
    }

    /** What a run stopped between pages by its deadline answers (a later request continues from its cursors). */
    static final String UNFINISHED_BY_DEADLINE = "run deadline of %s reached between pages; a later request continues";

    /** What a run whose connection the watchdog aborted fails with. */
    static final String ABORTED_BY_WATCHDOG = "run deadline of %s passed inside a statement: the watchdog aborted the "
            + "target connection; the target is backed off";

    /**
     * Whether a failed run lost its internal session rather than its target. A run's reads of the internal database
     * fail with connection-class states too (a result over {@code internal.database.max-result-buffer} closes the
     * session), and such a failure is neither the target's nor fixed by backing the target off. Asked only after a
     * failure: it costs a round trip on a session that is still open.
     */
    static boolean internalLost(java.sql.Connection ic) {
        try {
            return !ic.isValid(2);
        } catch (java.sql.SQLException e) {
            return true;
        }
    }

    static TargetResult unfinished(Unit unit, Map<String, Long> applied, String why) {
        return new TargetResult(unit.targetId(), Outcome.UNFINISHED, true, applied, why);
    }

    /** Every unit of {@code units} failed with the same error (retry). */
    static Map<Unit, TargetResult> failAll(List<Unit> units, String error) {
        Map<Unit, TargetResult> results = new java.util.LinkedHashMap<>();
        units.forEach(u -> results.put(u, failed(u, Map.of(), error)));
        return results;
    }

    /** The target's config is unusable as written (e.g. its address is refused); no retry until the config changes. */
    static TargetResult invalidConfig(Unit unit, String error) {
        return new TargetResult(unit.targetId(), Outcome.INVALID_CONFIG, false, Map.of(), error);
    }

    static TargetResult failed(Unit unit, Map<String, Long> applied, String error) {
        return new TargetResult(unit.targetId(), Outcome.FAILED, true, applied, error);
    }

    /** Runs {@code body} with the unit's tenancy and target in the MDC, so every log line about it carries them. */
    static <T> T inMdc(Unit unit, Supplier<T> body) {
        MDC.put(SyncEngine.MDC_TENANCY, unit.tenancyId().toString());
        MDC.put(SyncEngine.MDC_TARGET, unit.targetId());
        try {
            return body.get();
        } finally {
            MDC.remove(SyncEngine.MDC_TENANCY);
            MDC.remove(SyncEngine.MDC_TARGET);
        }
    }

    /** A row's target key as the JSON object the dead-letter table stores. */
    static String keyJson(Mapping mapping, String[] values) {
        ObjectNode node = JSON.createObjectNode();
        int[] keyIndexes = mapping.keyIndexes();
        for (int k = 0; k < keyIndexes.length; k++) {
            node.put(mapping.keyColumns().get(k), values[keyIndexes[k]]);
        }
        return node.toString();
    }

}
