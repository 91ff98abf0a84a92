package dev.externaldbsync.e2e;

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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.awaitility.Awaitility;

/**
 * One packaged service ({@code <module>/target/quarkus-app/quarkus-run.jar}) running as an OS process, configured only
 * through the operator environment variables, its output in {@code e2e-tests/target/e2e-logs/}.
 */
final class ServiceProcess {

    enum Kind {
        SEQUENCER("sequencer-service"), POLLER("poller-service"), ENGINE("sync-engine-service");

        final String module;

        Kind(String module) {
            this.module = module;
        }
    }

    private static final AtomicInteger STARTS = new AtomicInteger();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();

    final Kind kind;
    final String name;
    final int port;
    private final Map<String, String> env;
    private Process process;
    private Path log;

    private ServiceProcess(Kind kind, String name, int port, Map<String, String> env) {
        this.kind = kind;
        this.name = name;
        this.port = port;
        this.env = Map.copyOf(env);
    }

    static ServiceProcess start(Kind kind, String name, Map<String, String> env) {
        ServiceProcess service = new ServiceProcess(kind, name, freePort(), env);
        service.launch();
        return service;
    }

    static Path repoRoot() {
        String root = System.getProperty("e2e.repo.root");
        return root != null ? Path.of(root) : Path.of("").toAbsolutePath().getParent();
    }

    private void launch() {
        Path jar = repoRoot().resolve(kind.module).resolve("target/quarkus-app/quarkus-run.jar");
        if (!Files.exists(jar)) {
            throw new IllegalStateException("Package the services first: missing " + jar);
        }
        try {
            Path logs = repoRoot().resolve("e2e-tests/target/e2e-logs");
            Files.createDirectories(logs);
            log = logs.resolve(name + "-" + STARTS.incrementAndGet() + ".log");
            // The images' memory settings (see k8s/README.md, "Memory"), so the suite runs what production runs.
            List<String> command = new ArrayList<>(List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xms64m", "-Xmx160m", "-XX:+UseSerialGC", "-XX:MaxMetaspaceSize=128m",
                    "-XX:ReservedCodeCacheSize=64m", "-XX:MaxDirectMemorySize=64m", "-XX:TieredStopAtLevel=1",
                    "-XX:+ExitOnOutOfMemoryError"));
            if (kind.module.equals("sync-engine-service")) {
                command.add("-Xms96m");
            }
            command.addAll(List.of("-jar", jar.toString()));
            ProcessBuilder builder = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile());
            Map<String, String> processEnv = builder.environment();
            processEnv.put("MALLOC_ARENA_MAX", "2");
            processEnv.putAll(env);
            processEnv.put("QUARKUS_HTTP_PORT", Integer.toString(port));
            process = builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot start " + name, e);
        }
    }

    void awaitReady(Duration timeout) {
        Awaitility.await(name + " ready (log: " + log + ")").atMost(timeout).pollInterval(Duration.ofMillis(200))
                .until(() -> {
                    if (!process.isAlive()) {
                        throw new IllegalStateException(name + " exited with " + process.exitValue() + ", see " + log);
                    }
                    return get("/q/health/ready").statusCode() == 200;
                });
    }

    HttpResponse<String> get(String path) {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            return new FailedResponse(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    HttpResponse<String> put(String path, String json, String bearerToken) {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                    .timeout(Duration.ofSeconds(10)).header("Content-Type", "application/json")
                    .header("Authorization", "Bearer " + bearerToken)
                    .PUT(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    String url() {
        return "http://localhost:" + port;
    }

    /** SIGTERM, then waits; returns the exit code, or throws if it did not exit within the timeout. */
    int terminate(Duration timeout) {
        process.destroy();
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new AssertionError(name + " did not exit within " + timeout + " of SIGTERM, see " + log);
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** SIGKILL: the process gets no chance to clean up. */
    void kill() {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Starts the same service again, same port and environment. */
    void restart() {
        if (process.isAlive()) {
            throw new IllegalStateException(name + " is still running");
        }
        launch();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    Path log() {
        return log;
    }

    void stopQuietly() {
        if (process != null && process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
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

    static Map<String, String> env(Object... keyValues) {
        Map<String, String> env = new HashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            env.put((String) keyValues[i], String.valueOf(keyValues[i + 1]));
        }
        return env;
    }

    /** A "response" for a connection that failed, so readiness polling can treat both alike. */
    private record FailedResponse(IOException error) implements HttpResponse<String> {
        @Override public int statusCode() { return -1; }
        @Override public HttpRequest request() { return null; }
        @Override public java.util.Optional<HttpResponse<String>> previousResponse() { return java.util.Optional.empty(); }
        @Override public java.net.http.HttpHeaders headers() { return java.net.http.HttpHeaders.of(Map.of(), (a, b) -> true); }
        @Override public String body() { return error.toString(); }
        @Override public java.util.Optional<javax.net.ssl.SSLSession> sslSession() { return java.util.Optional.empty(); }
        @Override public URI uri() { return null; }
        @Override public HttpClient.Version version() { return HttpClient.Version.HTTP_1_1; }
    }
}
