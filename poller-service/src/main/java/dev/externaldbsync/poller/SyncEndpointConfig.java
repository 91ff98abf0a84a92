package dev.externaldbsync.poller;

import java.util.Optional;

import io.smallrye.config.ConfigMapping;

/**
 * Where the poller delivers, from the operator interface: {@code SYNC_ENGINE_URL} and {@code SYNC_SIGNING_SECRET}.
 * Shares the {@code sync} prefix with service-common's {@code CommonConfig} (SmallRye allows several mappings under
 * one prefix). Both are required for delivery; without them the poller stays stopped and says why in its status.
 */
@ConfigMapping(prefix = "sync")
public interface SyncEndpointConfig {

    /** Base URL of the sync engine, e.g. {@code http://sync-engine:8083}; {@code /api/v1/sync} is appended. */
    Optional<String> engineUrl();

    /**
     * The HMAC secret shared with the sync engine (a Kubernetes Secret; at least 16 bytes). Never logged.
     */
    Optional<String> signingSecret();
}
