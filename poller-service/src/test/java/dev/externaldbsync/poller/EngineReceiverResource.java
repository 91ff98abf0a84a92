package dev.externaldbsync.poller;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

/**
 * Starts a {@link SyncReceiver} for a {@code @QuarkusTest} and points the application at it through the operator
 * settings ({@code sync.engine-url}, {@code sync.signing-secret}), with small poller timings.
 */
public class EngineReceiverResource implements QuarkusTestResourceLifecycleManager {

    static volatile SyncReceiver receiver;

    @Override
    public Map<String, String> start() {
        try {
            receiver = new SyncReceiver();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Map.of(
                "sync.engine-url", receiver.baseUri().toString(),
                "sync.signing-secret", SyncReceiver.SECRET,
                "poller.max-attempts", "2",
                "poller.backoff-base", "50ms",
                "poller.backoff-max", "200ms",
                "poller.fallback-poll", "200ms",
                "poller.fusebox-check-interval", "100ms",
                "poller.stats-interval", "200ms",
                "poller.lease", "5s",
                "poller.shutdown-grace", "2s");
    }

    @Override
    public void stop() {
        if (receiver != null) {
            receiver.close();
        }
    }
}
