package dev.externaldbsync.contract.status;

import java.util.List;

/**
 * The sync engine's per-tenancy status ({@code GET /api/v1/status/tenancies/{id}}, admin only): pause state and, per
 * target with progress or dead letters, every mapping's progress and the first dead-lettered rows.
 */
public record EngineTenancyStatus(String tenancyId, boolean paused, List<EngineTargetStatus> targets) {

    public EngineTenancyStatus {
        targets = targets == null ? List.of() : List.copyOf(targets);
    }
}
