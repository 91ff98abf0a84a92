package dev.externaldbsync.engine.api;

import dev.externaldbsync.contract.SyncRequest;
import dev.externaldbsync.contract.SyncResponse;
import dev.externaldbsync.contract.TargetResult;
import dev.externaldbsync.contract.TenancyResult;
import dev.externaldbsync.contract.status.CappedCount;
import dev.externaldbsync.contract.status.EngineDeadLetters;
import dev.externaldbsync.contract.status.EngineFigures;
import dev.externaldbsync.contract.status.EnginePoisonRow;
import dev.externaldbsync.contract.status.EngineStatus;
import dev.externaldbsync.contract.status.EngineTargetStatus;
import dev.externaldbsync.contract.status.EngineTenancyStatus;
import dev.externaldbsync.contract.status.MappingCount;
import dev.externaldbsync.contract.status.MappingProgress;
import dev.externaldbsync.contract.status.RowsBehind;
import dev.externaldbsync.contract.status.RowsBehindRequest;
import dev.externaldbsync.contract.status.TargetView;
import dev.externaldbsync.contract.status.TenancyView;
import io.quarkus.runtime.annotations.RegisterForReflection;

/** The records the engine's REST API reads and writes, kept for Jackson in a native image. */
@RegisterForReflection(targets = { SyncRequest.class, SyncResponse.class, TenancyResult.class, TargetResult.class,
        EngineStatus.class, EngineFigures.class, EngineTenancyStatus.class, EngineTargetStatus.class,
        EnginePoisonRow.class, EngineDeadLetters.class, EngineDeadLetters.Entry.class, MappingProgress.class,
        CappedCount.class, RowsBehindRequest.class, RowsBehind.class, MappingCount.class, TenancyView.class,
        TargetView.class })
final class EngineReflection {

    private EngineReflection() {
    }
}
