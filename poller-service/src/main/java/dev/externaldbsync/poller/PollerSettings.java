package dev.externaldbsync.poller;

import java.net.URI;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import dev.externaldbsync.contract.SyncContract;
import io.quarkus.runtime.configuration.DurationConverter;
import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfig;
import io.smallrye.config.SmallRyeConfigBuilder;

/**
 * What a {@link Poller} runs with: the {@link PollerConfig} mapping itself (its keys, defaults and documentation stay
 * in one place), plus what comes from elsewhere — the engine's base URL ({@code SYNC_ENGINE_URL}) and this replica's
 * name. Immutable.
 * <p>
 * Tests and benchmarks, which run replicas without Quarkus, build the same mapping from a map of keys
 * ({@link #forTests}, the {@code with…} methods; {@link #defaults} are the production defaults), so they cannot drift
 * from what the application reads.
 */
public final class PollerSettings {

    private final URI engineUrl;
    private final String instanceId;
    private final PollerConfig config;
    /** The keys this was built from when not read by Quarkus (tests); null otherwise. */
    private final Map<String, String> keys;

    private PollerSettings(URI engineUrl, String instanceId, PollerConfig config, Map<String, String> keys) {
        if (config.tenanciesPerRequest() < 1 || config.maxInFlight() < 1 || config.maxAttempts() < 1) {
            throw new IllegalArgumentException(
                    "poller.tenancies-per-request, poller.max-in-flight and poller.max-attempts must be at least 1");
        }
        if (config.lease().toMillis() < 300) {
            throw new IllegalArgumentException("poller.lease must be at least 300ms; got " + config.lease());
        }
        this.engineUrl = engineUrl;
        this.instanceId = instanceId;
        this.config = config;
        this.keys = keys;
        backoff(); // validates the backoff keys now rather than at the first failure
    }

    /** The application's settings: the mapping Quarkus read. */
    public static PollerSettings of(PollerConfig config, URI engineUrl, String instanceId) {
        return new PollerSettings(engineUrl, instanceId, config, null);
    }

    /** The production defaults of {@link PollerConfig}. */
    public static PollerSettings defaults(URI engineUrl, String instanceId) {
        return fromKeys(engineUrl, instanceId, Map.of());
    }

    /** Small, fast values for tests; override what a test is about with the {@code with…} methods. */
    public static PollerSettings forTests(URI engineUrl, String instanceId) {
        return fromKeys(engineUrl, instanceId, Map.ofEntries(
                Map.entry("tenancies-per-request", "20"), Map.entry("max-in-flight", "4"),
                Map.entry("lease", "2s"), Map.entry("request-timeout", "10s"), Map.entry("connect-timeout", "2s"),
                Map.entry("backoff-base", "100ms"), Map.entry("backoff-max", "1s"), Map.entry("backoff-jitter", "0.5"),
                Map.entry("max-attempts", "10"), Map.entry("fallback-poll", "200ms"),
                Map.entry("fusebox-check-interval", "100ms"), Map.entry("stats-interval", "200ms"),
                Map.entry("shutdown-grace", "5s")));
    }

    public PollerSettings withBackoff(RequestQueue.Backoff value) {
        return with(Map.of("backoff-base", value.base().toString(), "backoff-max", value.max().toString(),
                "backoff-jitter", Double.toString(value.jitter())));
    }

    public PollerSettings withMaxAttempts(int value) {
        return with(Map.of("max-attempts", Integer.toString(value)));
    }

    public PollerSettings withLease(Duration value) {
        return with(Map.of("lease", value.toString()));
    }

    public PollerSettings withRequestTimeout(Duration value) {
        return with(Map.of("request-timeout", value.toString()));
    }

    public PollerSettings withConnectTimeout(Duration value) {
        return with(Map.of("connect-timeout", value.toString()));
    }

    public PollerSettings withShutdownGrace(Duration value) {
        return with(Map.of("shutdown-grace", value.toString()));
    }

    public PollerSettings withFallbackPoll(Duration value) {
        return with(Map.of("fallback-poll", value.toString()));
    }

    public PollerSettings withBatching(int perRequest, int inFlight) {
        return with(Map.of("tenancies-per-request", Integer.toString(perRequest),
                "max-in-flight", Integer.toString(inFlight)));
    }

    public PollerConfig config() {
        return config;
    }

    /** Base URL of the sync engine; the contract path is appended by {@link #syncUri()}. */
    public URI engineUrl() {
        return engineUrl;
    }

    /** This replica's name in {@code "claimedBy"}. */
    public String instanceId() {
        return instanceId;
    }

    /** Retry delays per request, and the global pause after the engine fails. */
    public RequestQueue.Backoff backoff() {
        return new RequestQueue.Backoff(config.backoffBase(), config.backoffMax(), config.backoffJitter());
    }

    /** The full URL of the sync endpoint. */
    public URI syncUri() {
        String base = engineUrl.toString();
        return URI.create((base.endsWith("/") ? base.substring(0, base.length() - 1) : base) + SyncContract.SYNC_PATH);
    }

    private PollerSettings with(Map<String, String> changed) {
        if (keys == null) {
            throw new IllegalStateException("settings read by the application are not rebuilt; use forTests");
        }
        Map<String, String> merged = new HashMap<>(keys);
        merged.putAll(changed);
        return fromKeys(engineUrl, instanceId, merged);
    }

    private static PollerSettings fromKeys(URI engineUrl, String instanceId, Map<String, String> keys) {
        Map<String, String> prefixed = new HashMap<>();
        keys.forEach((key, value) -> prefixed.put("poller." + key, value));
        SmallRyeConfig config = new SmallRyeConfigBuilder()
                .withMapping(PollerConfig.class)
                .withConverter(Duration.class, 100, new DurationConverter())
                .withSources(new PropertiesConfigSource(prefixed, "poller settings", 100))
                .build();
        return new PollerSettings(engineUrl, instanceId, config.getConfigMapping(PollerConfig.class), Map.copyOf(keys));
    }
}
