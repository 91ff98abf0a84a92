package dev.externaldbsync.contract.status;

import java.time.Instant;

/**
 * Body of the poller's {@code GET /api/v1/status}: one replica's delivery loop and the queue it works on (queue counts
 * are for all replicas, refreshed every {@code poller.stats-interval}). Holds no tenant data, so the route is open.
 *
 * @param instanceId              this replica's name in the queue's {@code "claimedBy"}; null when not running
 * @param running                 the delivery loop runs in this process
 * @param paused                  the fusebox switch of the poller is off
 * @param pending                 requests waiting for a first or next attempt (all replicas)
 * @param inFlight                requests claimed with a live lease (all replicas)
 * @param backingOff              requests waiting for their next attempt after a failure
 * @param parked                  requests parked for an operator
 * @param oldestPendingAgeSeconds age of the oldest pending request, null when none
 * @param deliveriesPerSecond     requests this replica completed per second, over the last seconds
 * @param postsInFlight           POSTs to the sync engine in flight from this replica
 * @param engineRetryAt           while the engine as a whole is failing: when claiming resumes
 * @param lastError               the last failure this replica recovered from (or why it does not run)
 * @param endToEndLag             enqueue to SYNCED answer, for what this replica delivered in the last minute
 * @param deliveredSinceStart     requests this replica completed since it started
 * @param upstreamSync            Stack Auth's in-app sync seen writing this queue since this replica started; null
 *                                while never seen (README, "Switching from Stack Auth's in-app sync")
 */
public record PollerStatus(String instanceId, boolean running, boolean paused, long pending, long inFlight,
        long backingOff, long parked, Double oldestPendingAgeSeconds, double deliveriesPerSecond, long postsInFlight,
        Instant engineRetryAt, String lastError, Instant lastErrorAt, PollerLag endToEndLag,
        long deliveredSinceStart, UpstreamSyncSighting upstreamSync) {

    /** The same status with {@code lastError} replaced (the open route shows an error's class, not its text). */
    public PollerStatus withLastError(String error) {
        return new PollerStatus(instanceId, running, paused, pending, inFlight, backingOff, parked,
                oldestPendingAgeSeconds, deliveriesPerSecond, postsInFlight, engineRetryAt, error, lastErrorAt,
                endToEndLag, deliveredSinceStart, upstreamSync);
    }
}
