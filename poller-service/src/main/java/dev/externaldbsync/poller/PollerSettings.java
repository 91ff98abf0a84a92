package dev.externaldbsync.poller;

import java.net.URI;
import java.time.Duration;

/**
 * Everything a {@link Poller} needs to know, resolved from {@link PollerConfig} and {@link SyncEndpointConfig} (or
 * built directly by tests). Immutable.
 *
 * @param engineUrl            base URL of the sync engine ({@code SYNC_ENGINE_URL}); the contract path is appended
 * @param instanceId           this replica's name in {@code "claimedBy"}
 * @param tenanciesPerRequest  most tenancies in one POST
 * @param maxInFlight          most POSTs in flight at once
 * @param lease                how long a claim is held before another replica may take it (extended by heartbeat)
 * @param requestTimeout       how long one POST may take
 * @param connectTimeout       how long connecting to the engine may take
 * @param backoff              retry delays per request, and the global pause after the engine fails
 * @param maxAttempts          failed attempts after which a request is parked
 * @param fallbackPoll         how often the loop looks for work without a notification
 * @param fuseboxCheckInterval how often the loop re-reads the fusebox
 * @param statsInterval        how often the queue gauges are refreshed
 * @param shutdownGrace        how long a shutdown waits for in-flight POSTs before releasing their claims
 */
public record PollerSettings(URI engineUrl, String instanceId, int tenanciesPerRequest, int maxInFlight,
        Duration lease, Duration requestTimeout, Duration connectTimeout, RequestQueue.Backoff backoff,
        int maxAttempts, Duration fallbackPoll, Duration fuseboxCheckInterval, Duration statsInterval,
        Duration shutdownGrace) {

    public PollerSettings {
        if (tenanciesPerRequest < 1 || maxInFlight < 1 || maxAttempts < 1) {
            throw new IllegalArgumentException(
                    "poller.tenancies-per-request, poller.max-in-flight and poller.max-attempts must be at least 1");
        }
        if (lease.toMillis() < 300) {
            throw new IllegalArgumentException("poller.lease must be at least 300ms; got " + lease);
        }
    }

    /** Small, fast values for tests; override what a test is about with the {@code with…} methods. */
    public static PollerSettings forTests(URI engineUrl, String instanceId) {
        return new PollerSettings(engineUrl, instanceId, 20, 4, Duration.ofSeconds(2), Duration.ofSeconds(10),
                Duration.ofSeconds(2), new RequestQueue.Backoff(Duration.ofMillis(100), Duration.ofSeconds(1), 0.5),
                10, Duration.ofMillis(200), Duration.ofMillis(100), Duration.ofMillis(200), Duration.ofSeconds(5));
    }

    public PollerSettings withBackoff(RequestQueue.Backoff value) {
        return new PollerSettings(engineUrl, instanceId, tenanciesPerRequest, maxInFlight, lease, requestTimeout,
                connectTimeout, value, maxAttempts, fallbackPoll, fuseboxCheckInterval, statsInterval, shutdownGrace);
    }

    public PollerSettings withMaxAttempts(int value) {
        return new PollerSettings(engineUrl, instanceId, tenanciesPerRequest, maxInFlight, lease, requestTimeout,
                connectTimeout, backoff, value, fallbackPoll, fuseboxCheckInterval, statsInterval, shutdownGrace);
    }

    public PollerSettings withLease(Duration value) {
        return new PollerSettings(engineUrl, instanceId, tenanciesPerRequest, maxInFlight, value, requestTimeout,
                connectTimeout, backoff, maxAttempts, fallbackPoll, fuseboxCheckInterval, statsInterval, shutdownGrace);
    }

    public PollerSettings withShutdownGrace(Duration value) {
        return new PollerSettings(engineUrl, instanceId, tenanciesPerRequest, maxInFlight, lease, requestTimeout,
                connectTimeout, backoff, maxAttempts, fallbackPoll, fuseboxCheckInterval, statsInterval, value);
    }

    public PollerSettings withFallbackPoll(Duration value) {
        return new PollerSettings(engineUrl, instanceId, tenanciesPerRequest, maxInFlight, lease, requestTimeout,
                connectTimeout, backoff, maxAttempts, value, fuseboxCheckInterval, statsInterval, shutdownGrace);
    }

    public PollerSettings withBatching(int perRequest, int inFlight) {
        return new PollerSettings(engineUrl, instanceId, perRequest, inFlight, lease, requestTimeout,
                connectTimeout, backoff, maxAttempts, fallbackPoll, fuseboxCheckInterval, statsInterval, shutdownGrace);
    }

    /** The full URL of the sync endpoint. */
    public URI syncUri() {
        String base = engineUrl.toString();
        return URI.create((base.endsWith("/") ? base.substring(0, base.length() - 1) : base)
                + dev.externaldbsync.contract.SyncContract.SYNC_PATH);
    }
}
