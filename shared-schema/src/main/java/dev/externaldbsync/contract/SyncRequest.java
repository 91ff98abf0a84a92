package dev.externaldbsync.contract;

import java.util.List;
import java.util.UUID;

/** The body of {@code POST /api/v1/sync}: the tenancies to sync now. */
public record SyncRequest(List<UUID> tenancyIds) {

    public SyncRequest {
        tenancyIds = tenancyIds == null ? List.of() : List.copyOf(tenancyIds);
    }
}
