package dev.externaldbsync.contract;

import java.util.List;

/** The body of a {@code 200} answer to {@code POST /api/v1/sync}: one result per requested tenancy. */
public record SyncResponse(List<TenancyResult> results) {

    public SyncResponse {
        results = results == null ? List.of() : List.copyOf(results);
    }
}
