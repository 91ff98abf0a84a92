package dev.externaldbsync.contract;

import java.util.Map;

/**
 * The result for one target of one tenancy.
 *
 * @param targetId    the key under {@code dbSync.externalDatabases}
 * @param outcome     what happened
 * @param retry       whether delivering the request again can make progress
 * @param appliedRows rows applied per mapping in this call (upserts plus deletes)
 * @param error       what failed, with any password redacted; null on success
 */
public record TargetResult(String targetId, Outcome outcome, boolean retry, Map<String, Long> appliedRows,
        String error) {

    public TargetResult {
        appliedRows = appliedRows == null ? Map.of() : Map.copyOf(appliedRows);
    }
}
