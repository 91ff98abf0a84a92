package dev.externaldbsync.contract;

import java.util.Map;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * The result for one target of one tenancy.
 *
 * @param targetId    the key under {@code dbSync.externalDatabases}
 * @param outcome     what happened
 * @param retry       whether delivering the request again can make progress
 * @param appliedRows rows applied per mapping in this call (upserts plus deletes)
 * @param error       what failed, with any password redacted; null on success
 * @param retryAfterMillis for {@link Outcome#BACKED_OFF}: how long until the target is tried again (a retry before
 *                    then is skipped again); absent otherwise
 */
public record TargetResult(String targetId, Outcome outcome, boolean retry, Map<String, Long> appliedRows,
        String error, @JsonInclude(JsonInclude.Include.NON_NULL) Long retryAfterMillis) {

    public TargetResult {
        appliedRows = appliedRows == null ? Map.of() : Map.copyOf(appliedRows);
    }

    /** A result without a retry time (every outcome but {@link Outcome#BACKED_OFF}). */
    public TargetResult(String targetId, Outcome outcome, boolean retry, Map<String, Long> appliedRows,
            String error) {
        this(targetId, outcome, retry, appliedRows, error, null);
    }
}
