package dev.externaldbsync.poller;

import java.net.URI;
import java.time.Clock;
import java.time.Duration;

import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

import org.jboss.logging.Logger;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.contract.RequestSigner;
import dev.externaldbsync.contract.SyncRequest;
import dev.externaldbsync.contract.SyncResponse;
import dev.externaldbsync.contract.TargetResult;
import dev.externaldbsync.contract.TenancyResult;
import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.status.PollerLag;
import dev.externaldbsync.contract.status.PollerStatus;
import dev.externaldbsync.service.Fusebox;
import dev.externaldbsync.service.InstanceId;
import dev.externaldbsync.service.InternalDatabaseConfig;
import io.agroal.api.AgroalDataSource;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.runtime.annotations.RegisterForReflection;

/**
 * Runs this replica's {@link Poller} for the application's lifetime: starts it after migrations (default observer
 * priority, later than {@code SchemaMigrationOnStart}), stops it gracefully on shutdown (no new claims, in-flight
 * POSTs finish or are released). Without {@code SYNC_ENGINE_URL} and {@code SYNC_SIGNING_SECRET} (or without
 * {@code INTERNAL_DATABASE_URL}) nothing is delivered, and {@link #status()} says why.
 */
@Singleton
// The contract records are (de)serialized by our own ObjectMapper, not by a REST endpoint: register them for native.
@RegisterForReflection(targets = { SyncRequest.class, SyncResponse.class, TenancyResult.class, TargetResult.class,
        Outcome.class, PollerStatus.class, PollerLag.class })
public class PollerService {

    private static final Logger LOG = Logger.getLogger(PollerService.class);

    @Inject
    AgroalDataSource dataSource;

    @Inject
    Clock clock;

    @Inject
    PollerConfig config;

    @Inject
    SyncEndpointConfig endpoint;

    @Inject
    InternalDatabaseConfig database;

    @Inject
    Fusebox fusebox;

    @Inject
    ObjectMapper mapper;

    @Inject
    MeterRegistry registry;

    private volatile Poller poller;
    private volatile String configurationError;

    @Produces
    @Singleton
    RequestQueue requestQueue() {
        return new RequestQueue(dataSource, clock);
    }

    void onStart(@Observes StartupEvent event, RequestQueue queue) {
        configurationError = checkConfiguration();
        if (configurationError != null) {
            LOG.error("Poller not started: " + configurationError);
            return;
        }
        PollerSettings settings = settings();
        RequestSigner signer = new RequestSigner(endpoint.signingSecret().orElseThrow(), clock, Duration.ofMinutes(5));
        Poller p = new Poller(queue, dataSource, clock, settings, signer, mapper,
                () -> fusebox.current().pollerEnabled(), registry);
        p.start();
        poller = p;
    }

    void onFuseboxChanged(@Observes Fusebox.Changed changed) {
        Poller p = poller;
        if (p != null) {
            p.fuseboxChanged();
        }
    }

    void onStop(@Observes ShutdownEvent event) {
        Poller p = poller;
        if (p != null) {
            p.stop();
        }
    }

    /** This replica's poller status; when it is not running for lack of configuration, the reason is the error. */
    public PollerStatus status() {
        Poller p = poller;
        return p != null ? p.status() : Poller.notRunning(configurationError);
    }

    /** Wakes the local loop (after an operator requeued requests; other replicas get the NOTIFY). */
    public void wake() {
        Poller p = poller;
        if (p != null) {
            p.wake();
        }
    }

    private String checkConfiguration() {
        if (database.url().isEmpty()) {
            return "INTERNAL_DATABASE_URL is not set";
        }
        if (endpoint.engineUrl().isEmpty() || endpoint.engineUrl().get().isBlank()) {
            return "SYNC_ENGINE_URL is not set";
        }
        try {
            URI uri = URI.create(endpoint.engineUrl().get().strip());
            if (uri.getScheme() == null || !uri.getScheme().startsWith("http") || uri.getHost() == null) {
                return "SYNC_ENGINE_URL must be an http(s) URL like http://sync-engine:8083";
            }
        } catch (IllegalArgumentException e) {
            return "SYNC_ENGINE_URL is not a valid URL";
        }
        String secret = endpoint.signingSecret().orElse("");
        if (secret.getBytes(java.nio.charset.StandardCharsets.UTF_8).length < RequestSigner.MIN_SECRET_BYTES) {
            return "SYNC_SIGNING_SECRET must be set and at least " + RequestSigner.MIN_SECRET_BYTES + " bytes long";
        }
        return null;
    }

    private PollerSettings settings() {
        return PollerSettings.of(config, URI.create(endpoint.engineUrl().orElseThrow().strip()),
                config.instanceId().orElseGet(InstanceId::unique));
    }
}
