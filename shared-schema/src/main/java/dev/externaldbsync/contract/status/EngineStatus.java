package dev.externaldbsync.contract.status;

import java.util.List;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * The sync engine's {@code GET /api/v1/status} body: this replica's figures from memory, and global figures from the
 * engine's progress mirror (among them {@code backedOffTargets}: (tenancy, target)s backed off as targets after
 * failures or timeouts, absent from an engine that does not know them), each read through an index range stopped at a cap (the {@code …Capped} flags say "at
 * least") or a table statistic ({@code trackedTargetsEstimate}). The mirror figures are null, and
 * {@code internalDatabaseError} set, when the internal database could not be read. Errors are redacted.
 */
public record EngineStatus(String service, String state, int activeRuns, long completedRuns, int openPools,
        int pageSize, String schemaVersion, List<String> mappings, String instanceId, long rowsAppliedSinceStart,
        Long trackedTargets, Boolean trackedTargetsEstimate, Long failingTargets, Boolean failingTargetsCapped,
        String oldestFailingSince, Long poisonRows, Boolean poisonRowsCapped, Long pausedTenancies,
        Boolean pausedTenanciesCapped, @JsonInclude(JsonInclude.Include.NON_NULL) String internalDatabaseError,
        String lastError, String lastErrorAt,
        @JsonInclude(JsonInclude.Include.NON_NULL) Long backedOffTargets,
        @JsonInclude(JsonInclude.Include.NON_NULL) Boolean backedOffTargetsCapped) {

    public EngineStatus {
        mappings = mappings == null ? List.of() : List.copyOf(mappings);
    }

    /** Without the backed-off count (an engine from before target backoff). */
    public EngineStatus(String service, String state, int activeRuns, long completedRuns, int openPools,
            int pageSize, String schemaVersion, List<String> mappings, String instanceId, long rowsAppliedSinceStart,
            Long trackedTargets, Boolean trackedTargetsEstimate, Long failingTargets, Boolean failingTargetsCapped,
            String oldestFailingSince, Long poisonRows, Boolean poisonRowsCapped, Long pausedTenancies,
            Boolean pausedTenanciesCapped, String internalDatabaseError, String lastError, String lastErrorAt) {
        this(service, state, activeRuns, completedRuns, openPools, pageSize, schemaVersion, mappings, instanceId,
                rowsAppliedSinceStart, trackedTargets, trackedTargetsEstimate, failingTargets, failingTargetsCapped,
                oldestFailingSince, poisonRows, poisonRowsCapped, pausedTenancies, pausedTenanciesCapped,
                internalDatabaseError, lastError, lastErrorAt, null, null);
    }

    /** The health figures a dashboard shows, typed; null when the internal database could not be read. */
    public EngineFigures figures() {
        if (failingTargets == null || poisonRows == null) {
            return null;
        }
        return new EngineFigures(new CappedCount(failingTargets, Boolean.TRUE.equals(failingTargetsCapped)),
                oldestFailingSince, new CappedCount(poisonRows, Boolean.TRUE.equals(poisonRowsCapped)));
    }
}
