package dev.externaldbsync.poller.dashboard;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.SyncRequest;
import dev.externaldbsync.contract.SyncResponse;
import dev.externaldbsync.contract.TenancyResult;

/**
 * A real HTTP stand-in for the sync engine's routes the dashboard and the poller call: {@code POST /api/v1/sync}
 * (every tenancy SYNCED), the open {@code GET /api/v1/status} (with a scripted {@code rowsAppliedSinceStart}), and the
 * admin routes (checked for the admin bearer token, recorded). Thread-safe.
 */
final class EngineStandIn implements AutoCloseable {

    /** One admin call as received. */
    record AdminCall(String method, String path, String authorization) {
    }

    static final String ADMIN_TOKEN = "test-admin-token";

    final AtomicLong rowsApplied = new AtomicLong();
    final List<AdminCall> adminCalls = new CopyOnWriteArrayList<>();
    volatile boolean statusAvailable = true;

    private final ObjectMapper mapper = new ObjectMapper();
    private final HttpServer server;
    private final ExecutorService executor = Executors.newFixedThreadPool(8);

    EngineStandIn() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(executor);
        server.createContext("/api/v1/sync", this::sync);
        server.createContext("/api/v1/status", this::status);
        server.createContext("/api/v1/admin/", this::admin);
        server.start();
    }

    URI baseUri() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    private void sync(HttpExchange exchange) throws IOException {
        SyncRequest request = mapper.readValue(exchange.getRequestBody().readAllBytes(), SyncRequest.class);
        respond(exchange, 200, new SyncResponse(request.tenancyIds().stream()
                .map(id -> new TenancyResult(id, Outcome.SYNCED, false, List.of(), null)).toList()));
    }

    private void status(HttpExchange exchange) throws IOException {
        if (!statusAvailable) {
            respond(exchange, 503, Map.of("error", "scripted outage"));
            return;
        }
        respond(exchange, 200, Map.of("service", "sync-engine", "state", "running", "activeRuns", 0,
                "instanceId", "stand-in-1", "rowsAppliedSinceStart", rowsApplied.get(),
                "failingTargets", 0, "poisonRows", 0));
    }

    private void admin(HttpExchange exchange) throws IOException {
        String auth = exchange.getRequestHeaders().getFirst("Authorization");
        String path = exchange.getRequestURI().getRawPath();
        adminCalls.add(new AdminCall(exchange.getRequestMethod(), path, auth));
        if (!("Bearer " + ADMIN_TOKEN).equals(auth)) {
            respond(exchange, 401, Map.of("error", "missing bearer token"));
            return;
        }
        if (path.endsWith("/resync")) {
            respond(exchange, 202, Map.of("outcome", "RESET_SHARED", "path", path));
        } else {
            respond(exchange, 200, Map.of("paused", "PUT".equals(exchange.getRequestMethod())));
        }
    }

    private void respond(HttpExchange exchange, int status, Object body) throws IOException {
        byte[] bytes = mapper.writeValueAsBytes(body);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }

    static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
