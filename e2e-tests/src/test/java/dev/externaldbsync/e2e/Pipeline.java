package dev.externaldbsync.e2e;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import dev.externaldbsync.e2e.ServiceProcess.Kind;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * The product as an operator runs it: a migrated internal database and N sequencers, pollers and sync engines as
 * separate processes. Poller i delivers to engine i mod N (as a Kubernetes Service would spread them).
 */
final class Pipeline implements AutoCloseable {

    static final String ADMIN_TOKEN = "e2e-admin-token";
    private static final Duration READY = Duration.ofSeconds(90);

    final TestDatabase internal;
    final StackAuthFixtures fixtures;
    final List<ServiceProcess> sequencers = new ArrayList<>();
    final List<ServiceProcess> pollers = new ArrayList<>();
    final List<ServiceProcess> engines = new ArrayList<>();
    private final String secret = "e2e-signing-secret-" + UUID.randomUUID();

    private Pipeline(TestDatabase internal) {
        this.internal = internal;
        this.fixtures = new StackAuthFixtures(internal);
    }

    static Pipeline start(int sequencerCount, int pollerCount, int engineCount, Map<String, String> extraEnv) {
        TestDatabase internal = TestPostgres.createDatabase("e2e_internal");
        SchemaMigrations.migrate(internal.dataSource(), MigrateMode.ALL);
        Pipeline pipeline = new Pipeline(internal);
        try {
            for (int i = 0; i < engineCount; i++) {
                pipeline.engines.add(ServiceProcess.start(Kind.ENGINE, "engine-" + i, pipeline.env(null, extraEnv)));
            }
            for (int i = 0; i < sequencerCount; i++) {
                pipeline.sequencers.add(ServiceProcess.start(Kind.SEQUENCER, "sequencer-" + i, pipeline.env(null, extraEnv)));
            }
            for (int i = 0; i < pollerCount; i++) {
                ServiceProcess engine = pipeline.engines.get(i % engineCount);
                Map<String, String> env = pipeline.env(engine, extraEnv);
                if (!pipeline.sequencers.isEmpty()) {
                    // The dashboard's sequencer figures come from the sequencer's status.
                    env.putIfAbsent("POLLER_SEQUENCER_URL", pipeline.sequencers.get(0).url());
                }
                pipeline.pollers.add(ServiceProcess.start(Kind.POLLER, "poller-" + i, env));
            }
            pipeline.all().forEach(service -> service.awaitReady(READY));
            return pipeline;
        } catch (RuntimeException | Error e) {
            pipeline.close();
            throw e;
        }
    }

    static Pipeline start(int sequencers, int pollers, int engines) {
        return start(sequencers, pollers, engines, Map.of());
    }

    /**
     * What every engine of the suite needs: targets are databases on the internal database's embedded server
     * (loopback, no TLS), all three of which production refuses by default.
     */
    static final Map<String, String> LOCAL_TARGETS = Map.of("ENGINE_TARGETS_ALLOW_LOOPBACK", "true",
            "ENGINE_TARGETS_ALLOW_INTERNAL_SERVER", "true", "ENGINE_TARGETS_MIN_SSLMODE", "disable");

    private Map<String, String> env(ServiceProcess engine, Map<String, String> extraEnv) {
        Map<String, String> env = ServiceProcess.env(
                "INTERNAL_DATABASE_URL", internal.postgresUrl(),
                "SYNC_SIGNING_SECRET", secret,
                "ADMIN_TOKEN", ADMIN_TOKEN,
                "SYNC_MIGRATE_AT_START", "none");
        env.putAll(LOCAL_TARGETS);
        if (engine != null) {
            env.put("SYNC_ENGINE_URL", engine.url());
        }
        env.putAll(extraEnv);
        return env;
    }

    List<ServiceProcess> all() {
        List<ServiceProcess> all = new ArrayList<>(engines);
        all.addAll(pollers);
        all.addAll(sequencers);
        return all;
    }

    /** Signs a sync request exactly as the poller does (for tests that play a misbehaving or racing poller). */
    java.net.http.HttpResponse<String> postSync(ServiceProcess engine, List<UUID> tenancyIds) {
        byte[] body = ("{\"tenancyIds\": [" + String.join(", ", tenancyIds.stream().map(id -> "\"" + id + "\"").toList())
                + "]}").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        var signature = new dev.externaldbsync.contract.RequestSigner(secret, java.time.Clock.systemUTC(),
                Duration.ofMinutes(5)).sign(body);
        try {
            return java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest
                    .newBuilder(java.net.URI.create(engine.url() + dev.externaldbsync.contract.SyncContract.SYNC_PATH))
                    .timeout(Duration.ofMinutes(2)).header("Content-Type", "application/json")
                    .header(dev.externaldbsync.contract.SyncContract.TIMESTAMP_HEADER, signature.timestamp())
                    .header(dev.externaldbsync.contract.SyncContract.SIGNATURE_HEADER, signature.signature())
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Flips the global sequencer switch through the admin API, as an operator would. */
    void setSequencerEnabled(boolean enabled) {
        var response = sequencers.get(0).put("/api/v1/admin/fusebox", "{\"sequencerEnabled\": " + enabled + "}",
                ADMIN_TOKEN);
        if (response.statusCode() != 200) {
            throw new AssertionError("fusebox PUT answered " + response.statusCode() + ": " + response.body());
        }
    }

    /** Flips the global poller switch through the admin API, as an operator would. */
    void setPollerEnabled(boolean enabled) {
        var response = sequencers.get(0).put("/api/v1/admin/fusebox", "{\"pollerEnabled\": " + enabled + "}",
                ADMIN_TOKEN);
        if (response.statusCode() != 200) {
            throw new AssertionError("fusebox PUT answered " + response.statusCode() + ": " + response.body());
        }
    }

    /** Waits until every change-log entry is stamped and no request is pending or in flight: the pipeline is idle. */
    void awaitQuiescent(Duration timeout) {
        org.awaitility.Awaitility.await("pipeline quiescent").atMost(timeout).pollInterval(Duration.ofMillis(100))
                .until(() -> internal.queryLong("""
                        SELECT (SELECT count(*) FROM "SyncChange" WHERE "sequenceId" IS NULL)
                             + (SELECT count(*) FROM "OutgoingRequest")""") == 0);
    }

    TestDatabase newExternal() {
        return TestPostgres.createDatabase("e2e_external");
    }

    @Override
    public void close() {
        all().forEach(ServiceProcess::stopQuietly);
    }
}
