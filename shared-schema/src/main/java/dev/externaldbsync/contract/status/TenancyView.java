package dev.externaldbsync.contract.status;

import java.util.List;

/**
 * A tenancy as the engine's admin search ({@code GET /api/v1/admin/tenancies?query=<tenancy or project id>})
 * returns it: identity, pause state and every target.
 */
public record TenancyView(String tenancyId, String projectId, String branchId, boolean paused, String pausedAt,
        String pauseReason, List<TargetView> targets) {

    public TenancyView {
        targets = targets == null ? List.of() : List.copyOf(targets);
    }
}
