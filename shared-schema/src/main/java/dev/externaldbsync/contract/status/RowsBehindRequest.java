package dev.externaldbsync.contract.status;

import java.util.List;
import java.util.UUID;

/**
 * Body of the engine's {@code POST /api/v1/admin/rows-behind}: which tenancies to count (the caller, the dashboard,
 * picks the longest-waiting ones from its own queue) and the cap per tenancy and mapping. The engine bounds both.
 */
public record RowsBehindRequest(List<UUID> tenancyIds, int capPerTenancyAndMapping) {

    public RowsBehindRequest {
        tenancyIds = tenancyIds == null ? List.of() : List.copyOf(tenancyIds);
    }
}
