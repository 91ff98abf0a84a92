package dev.externaldbsync.poller;

import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.jboss.logging.Logger;

import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.TargetResult;
import dev.externaldbsync.contract.TenancyResult;

/**
 * What an {@link EngineDelivery.Result} means for each request of the batch, recorded in the {@link RequestQueue}:
 * done requests are deleted, the ones the engine asks to retry (or left out of its answer) and every request of a
 * failed POST back off with an attempt counted, and a rejected POST parks its requests at once. Only the tenancy
 * that failed is charged: one the engine did not finish in time (UNFINISHED, BUSY) or skipped (BACKED_OFF:
 * re-queued for when the target is tried again), and every request of a POST that timed out, is re-queued without
 * an attempt. Each method returns the error to show in
 * the poller's status, or null. Thread-safe (the queue and the metrics are).
 */
final class DeliveryOutcomes {

    private static final Logger LOG = Logger.getLogger(DeliveryOutcomes.class);

    private final RequestQueue queue;
    private final PollerSettings settings;
    private final PollerMetrics metrics;
    private final Clock clock;

    DeliveryOutcomes(RequestQueue queue, PollerSettings settings, PollerMetrics metrics, Clock clock) {
        this.queue = queue;
        this.settings = settings;
        this.metrics = metrics;
        this.clock = clock;
    }

    /** The engine answered with per-tenancy results. */
    String answered(List<RequestQueue.Claim> batch, List<TenancyResult> answer) throws SQLException {
        Map<UUID, TenancyResult> results = new HashMap<>();
        for (TenancyResult result : answer) {
            if (result != null && result.tenancyId() != null) {
                results.put(result.tenancyId(), result);
            }
        }
        List<RequestQueue.Claim> done = new ArrayList<>();
        List<RequestQueue.Failure> retry = new ArrayList<>();
        List<RequestQueue.Deferral> unfinished = new ArrayList<>();
        Instant answeredAt = null;
        for (RequestQueue.Claim claim : batch) {
            TenancyResult result = results.get(claim.tenancyId());
            if (result == null) {
                retry.add(new RequestQueue.Failure(claim, "the engine's answer has no result for this tenancy"));
            } else if (result.retry() && notItsFault(result)) {
                unfinished.add(new RequestQueue.Deferral(claim, describe(result), deferral(result)));
            } else if (result.retry()) {
                retry.add(new RequestQueue.Failure(claim, describe(result)));
            } else {
                done.add(claim);
                if (result.outcome() == Outcome.SYNCED) {
                    answeredAt = answeredAt == null ? clock.instant() : answeredAt;
                    metrics.synced(claim.createdAt(), answeredAt);
                }
            }
        }
        metrics.delivered(queue.complete(done));
        queue.retryLater(unfinished);
        if (retry.isEmpty()) {
            return null;
        }
        backOff(retry);
        return "engine asked to retry " + retry.size() + " tenancies; e.g. " + retry.get(0).error();
    }

    /**
     * The POST got no answer in time: the engine is slow, not down, and no tenancy of the request is known to have
     * failed, so none is charged an attempt; each is retried after the first backoff delay.
     */
    String slow(List<RequestQueue.Claim> batch, String error) throws SQLException {
        queue.retryLater(batch.stream()
                .map(c -> new RequestQueue.Deferral(c, error, settings.backoff().delay(1))).toList());
        return error;
    }

    /**
     * When a tenancy re-queued without an attempt is due again: after the first backoff delay, or when the last of
     * its backed-off targets is tried again (a retry before then would only be skipped again).
     */
    private Duration deferral(TenancyResult result) {
        Duration delay = settings.backoff().delay(1);
        for (TargetResult target : result.targets()) {
            if (target.outcome() == Outcome.BACKED_OFF && target.retryAfterMillis() != null) {
                Duration until = Duration.ofMillis(target.retryAfterMillis());
                delay = until.compareTo(delay) > 0 ? until : delay;
            }
        }
        return delay;
    }

    /**
     * A retry the tenancy is not to blame for now: every target asking for one is UNFINISHED (the engine's answer
     * budget or the run deadline came first), BUSY (another run holds it, bounded by its own deadline) or
     * BACKED_OFF (not tried at all: the attempt was counted when it failed). Such a tenancy is re-queued without an
     * attempt; a FAILED target, or a tenancy-level error, counts one.
     */
    static boolean notItsFault(TenancyResult result) {
        if (result.error() != null || result.targets().isEmpty()) {
            return false;
        }
        boolean any = false;
        for (TargetResult target : result.targets()) {
            if (!target.retry()) {
                continue;
            }
            if (target.outcome() != Outcome.UNFINISHED && target.outcome() != Outcome.BUSY
                    && target.outcome() != Outcome.BACKED_OFF) {
                return false;
            }
            any = true;
        }
        return any;
    }

    /** The engine refused the request itself as invalid: retrying cannot help, so every request is parked. */
    String rejected(List<RequestQueue.Claim> batch, String error) throws SQLException {
        int parked = queue.park(batch, error);
        metrics.parked(parked);
        metrics.failed(batch.size());
        LOG.warnf("Poller %s parked %d requests at once: %s", settings.instanceId(), parked, error);
        return error;
    }

    /** The POST failed as a whole: every request backs off. */
    String failed(List<RequestQueue.Claim> batch, String error) throws SQLException {
        backOff(batch.stream().map(c -> new RequestQueue.Failure(c, error)).toList());
        return error;
    }

    private void backOff(List<RequestQueue.Failure> failures) throws SQLException {
        int maxAttempts = settings.config().maxAttempts();
        RequestQueue.FailResult result = queue.fail(failures, settings.backoff(), maxAttempts);
        metrics.failed(failures.size());
        metrics.parked(result.parked());
        if (result.parked() > 0) {
            LOG.warnf("Poller %s parked %d requests after %d attempts; last error: %s", settings.instanceId(),
                    result.parked(), maxAttempts, failures.get(0).error());
        }
    }

    private static String describe(TenancyResult result) {
        StringBuilder s = new StringBuilder(String.valueOf(result.outcome()));
        if (result.error() != null) {
            s.append(": ").append(result.error());
        }
        for (TargetResult target : result.targets()) {
            if (target.retry() || target.error() != null) {
                s.append("; target ").append(target.targetId()).append(' ').append(target.outcome());
                if (target.error() != null) {
                    s.append(": ").append(target.error());
                }
            }
        }
        return s.toString();
    }
}
