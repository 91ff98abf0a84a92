package dev.externaldbsync.contract.status;

import java.time.Instant;

/**
 * Stack Auth's own in-app sync seen still writing {@code "OutgoingRequest"} next to these services: requests and
 * claims that no service of ours made, counted since this poller started, the last sighting, and what to do.
 */
public record UpstreamSyncSighting(long foreignRequests, long foreignClaims, Instant lastSeenAt, String message) {
}
