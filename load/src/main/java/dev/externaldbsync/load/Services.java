package dev.externaldbsync.load;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;

/**
 * The three packaged services ({@code <module>/target/quarkus-app/quarkus-run.jar}) as OS processes on free ports,
 * configured only through the operator environment variables, exactly as {@code ./run-local} and the e2e tests run
 * them; logs in {@code logDir}. Not thread-safe: driven by the bench's main thread.
 */
final class Services implements AutoCloseable {

    /** The modules, in start order (engine first: the poller needs its URL). */
    static final List<String> MODULES = List.of("sync-engine-service", "poller-service", "sequencer-service");

    /** Prefix of the services' internal sessions' {@code application_name}, so the bench can find their backends. */
    static final String APPLICATION_NAME_PREFIX = "bench-svc-";

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private final Map<String, Process> processes = new LinkedHashMap<>();
    private final Map<String, Integer> ports = new LinkedHashMap<>();
    private final String adminToken;

    private Services(String adminToken) {
        this.adminToken = adminToken;
    }

    static Path jar(Path repoRoot, String module) {
        return repoRoot.resolve(module).resolve("target/quarkus-app/quarkus-run.jar");
    }

    static Services start(Path repoRoot, String internalUrl, List<String> javaOptions, Path logDir,
            Duration readyTimeout) throws IOException, InterruptedException {
        String secret = "bench-" + java.util.UUID.randomUUID();
        Services services = new Services("bench-admin-" + java.util.UUID.randomUUID());
        Files.createDirectories(logDir);
        try {
            for (String module : MODULES) {
                Path jar = jar(repoRoot, module);
                if (!Files.exists(jar)) {
                    throw new IllegalStateException("missing " + jar + ": build first (load/bench does it)");
                }
                int port = freePort();
                List<String> command = new ArrayList<>();
                command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
                command.addAll(javaOptions);
                command.add("-Dquarkus.datasource.jdbc.additional-jdbc-properties.ApplicationName="
                        + APPLICATION_NAME_PREFIX + module);
                command.add("-jar");
                command.add(jar.toString());
                ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                        .redirectOutput(logDir.resolve(module + ".log").toFile());
                Map<String, String> env = builder.environment();
                // glibc's default of 8 arenas per core holds memory the JVM's limits do not bound; two suffice here.
                env.put("MALLOC_ARENA_MAX", "2");
                env.put("INTERNAL_DATABASE_URL", internalUrl);
                env.put("SYNC_SIGNING_SECRET", secret);
                env.put("ADMIN_TOKEN", services.adminToken);
                // The bench migrated the internal database with its own copy of the migrations; a service built later may
                // carry newer ones and would report them pending (not ready). "all" applies them under the shared lock.
                env.put("SYNC_MIGRATE_AT_START", "all");
                env.put("QUARKUS_HTTP_PORT", Integer.toString(port));
                // The bench's targets share the internal database's local server (loopback, no TLS), which
                // production refuses by default.
                env.put("ENGINE_TARGETS_ALLOW_LOOPBACK", "true");
                env.put("ENGINE_TARGETS_ALLOW_INTERNAL_SERVER", "true");
                env.put("ENGINE_TARGETS_MIN_SSLMODE", "disable");
                if (module.equals("poller-service")) {
                    env.put("SYNC_ENGINE_URL", "http://localhost:" + services.ports.get("sync-engine-service"));
                }
                services.processes.put(module, builder.start());
                services.ports.put(module, port);
            }
            for (String module : MODULES) {
                services.awaitReady(module, readyTimeout, logDir);
            }
            return services;
        } catch (IOException | InterruptedException | RuntimeException e) {
            services.close();
            throw e;
        }
    }

    private void awaitReady(String module, Duration timeout, Path logDir) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            Process p = processes.get(module);
            if (!p.isAlive()) {
                throw new IllegalStateException(module + " exited with " + p.exitValue() + ", see "
                        + logDir.resolve(module + ".log"));
            }
            try {
                HttpResponse<Void> r = HTTP.send(HttpRequest.newBuilder(uri(module, "/q/health/ready"))
                        .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException notListeningYet) {
                // retried until the deadline
            }
            TimeUnit.MILLISECONDS.sleep(200);
        }
        throw new IllegalStateException(module + " not ready within " + timeout.toSeconds() + " s, see "
                + logDir.resolve(module + ".log"));
    }

    /** Flips both global switches through the admin API (the fusebox is one row shared by every service). */
    void setPipelineEnabled(boolean enabled) throws IOException, InterruptedException {
        setFusebox(enabled, enabled);
    }

    /** Flips the two global switches through the sequencer's admin API, as an operator would. */
    void setFusebox(boolean sequencerEnabled, boolean pollerEnabled) throws IOException, InterruptedException {
        String body = "{\"sequencerEnabled\": " + sequencerEnabled + ", \"pollerEnabled\": " + pollerEnabled + "}";
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(uri("sequencer-service", "/api/v1/admin/fusebox"))
                .timeout(Duration.ofSeconds(10)).header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + adminToken)
                .PUT(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IllegalStateException("fusebox PUT answered " + r.statusCode() + ": " + r.body());
        }
    }

    /** Every service still running (a crash mid-phase must fail the bench, not time it out). */
    void checkAlive() {
        processes.forEach((module, p) -> {
            if (!p.isAlive()) {
                throw new IllegalStateException(module + " exited with " + p.exitValue());
            }
        });
    }

    /** The services' process ids, by module. */
    Map<String, Long> pids() {
        Map<String, Long> pids = new LinkedHashMap<>();
        processes.forEach((module, p) -> pids.put(module, p.pid()));
        return pids;
    }

    /** Peak RSS in KiB per module so far ({@code VmHWM}). */
    Map<String, OptionalLong> peakRssKib() {
        Map<String, OptionalLong> peaks = new LinkedHashMap<>();
        processes.forEach((module, p) -> peaks.put(module, ProcStatus.peakRssKib(p.pid())));
        return peaks;
    }

    private URI uri(String module, String path) {
        return URI.create("http://localhost:" + ports.get(module) + path);
    }

    @Override
    public void close() {
        processes.values().forEach(Process::destroy); // SIGTERM: each service drains, then exits
        for (Process p : processes.values()) {
            try {
                if (!p.waitFor(40, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            }
        }
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            socket.setReuseAddress(true);
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
