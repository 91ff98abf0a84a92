package dev.externaldbsync.engine;

import java.time.Duration;
import java.util.Optional;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/** How {@code POST /api/v1/sync} requests are authenticated (shared with the poller). */
@ConfigMapping(prefix = "sync")
public interface SigningConfig {

    /**
     * {@code SYNC_SIGNING_SECRET}: the HMAC-SHA256 secret shared with the poller (a Kubernetes Secret), at least 16
     * bytes. Unset means every sync request is refused with 401 (fail closed).
     */
    Optional<String> signingSecret();

    /** {@code SYNC_SIGNING_TOLERANCE}: how far a request's timestamp may be from now before it is stale. */
    @WithDefault("300s")
    Duration signingTolerance();

    /**
     * {@code SYNC_MAX_TENANCIES_PER_REQUEST}: the most tenancy ids a sync request may carry; it sizes the body limit
     * ({@link dev.externaldbsync.engine.api.SyncRequestGate#maxBodyBytes}), so keep it at least the poller's
     * {@code poller.tenancies-per-request}. A larger body is refused with 413 before it is buffered.
     */
    @WithDefault("1000")
    int maxTenanciesPerRequest();
}
