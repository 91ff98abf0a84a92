package dev.externaldbsync.poller.dashboard;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

/**
 * Starts an {@link EngineStandIn} and a {@link SequencerStandIn} and points the poller (and its dashboard) at them,
 * with fast sampling.
 */
public class EngineStandInResource implements QuarkusTestResourceLifecycleManager {

    static volatile EngineStandIn engine;
    static volatile SequencerStandIn sequencer;

    @Override
    public Map<String, String> start() {
        try {
            engine = new EngineStandIn();
            sequencer = new SequencerStandIn();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Map.of(
                "sync.engine-url", engine.baseUri().toString(),
                "poller.sequencer-url", sequencer.baseUri().toString(),
                "sync.signing-secret", "test-signing-secret-0123456789",
                "poller.fallback-poll", "200ms",
                "poller.fusebox-check-interval", "100ms",
                "poller.stats-interval", "200ms",
                "poller.dashboard-sample-interval", "250ms",
                "poller.dashboard-history", "1m");
    }

    @Override
    public void stop() {
        if (engine != null) {
            engine.close();
        }
        if (sequencer != null) {
            sequencer.close();
        }
    }
}
