package dev.externaldbsync.contract;

import java.util.List;
import java.util.UUID;

/**
 * The result for one tenancy of a sync call.
 *
 * @param tenancyId the tenancy
 * @param outcome   {@link Outcome#SYNCED} when every target synced; otherwise the first problem's kind
 * @param retry     true when at least one target should be retried; the poller keeps the request then
 * @param targets   one result per configured target
 * @param error     a tenancy-level error (e.g. the internal database failed), else null
 */
public record TenancyResult(UUID tenancyId, Outcome outcome, boolean retry, List<TargetResult> targets,
        String error) {

    public TenancyResult {
        targets = targets == null ? List.of() : List.copyOf(targets);
    }
}
