package dev.externaldbsync.poller.dashboard;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.LinkedHashMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
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
import dev.externaldbsync.contract.status.MappingCount;
import dev.externaldbsync.contract.status.RowsBehind;
import dev.externaldbsync.contract.status.RowsBehindRequest;
import dev.externaldbsync.contract.status.TenancyView;

/**
 * A real HTTP stand-in for the sync engine's routes the dashboard and the poller call: {@code POST /api/v1/sync}
 * (every tenancy SYNCED), the open {@code GET /api/v1/status} (scripted {@code rowsAppliedSinceStart}, failing targets
 * and poison rows), and the admin routes (checked for the admin bearer token, recorded): rows behind and the tenancy
 * search answer scripted contract records, the actions a small JSON body. Thread-safe.
 */
final class EngineStandIn implements AutoCloseable {

    /** One admin call as received. */
    record AdminCall(String method, String path, String authorization) {
    }

    static final String ADMIN_TOKEN = "test-admin-token";

    final AtomicLong rowsApplied = new AtomicLong();
    final AtomicLong failingTargets = new AtomicLong();
    final AtomicLong poisonRows = new AtomicLong();
    final List<AdminCall> adminCalls = new CopyOnWriteArrayList<>();
    /** The tenancy ids of every rows-behind request, in order. */
    final List<List<UUID>> rowsBehindAsked = new CopyOnWriteArrayList<>();
    /** Rows behind per mapping for each tenancy asked about; absent tenancies have none. */
    final Map<UUID, Map<String, Long>> behind = new ConcurrentHashMap<>();
    /** The tenancy search's answers by query. */
    final Map<String, List<TenancyView>> tenancies = new ConcurrentHashMap<>();
    volatile boolean statusAvailable = true;

    private final ObjectMapper mapper = new ObjectMapper().findAndRegisterModules();
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
                "failingTargets", failingTargets.get(), "failingTargetsCapped", false,
                "oldestFailingSince", "2026-01-01 00:00:00+00", "poisonRows", poisonRows.get(),
                "poisonRowsCapped", false));
    }

    private void admin(HttpExchange exchange) throws IOException {
        String auth = exchange.getRequestHeaders().getFirst("Authorization");
        String path = exchange.getRequestURI().getRawPath();
        adminCalls.add(new AdminCall(exchange.getRequestMethod(), path, auth));
        if (!("Bearer " + ADMIN_TOKEN).equals(auth)) {
            respond(exchange, 401, Map.of("error", "missing bearer token"));
            return;
        }
        if (path.equals("/api/v1/admin/rows-behind")) {
            RowsBehindRequest request = mapper.readValue(exchange.getRequestBody().readAllBytes(),
                    RowsBehindRequest.class);
            rowsBehindAsked.add(request.tenancyIds());
            Map<String, Long> total = new LinkedHashMap<>();
            int sampled = 0;
            for (UUID id : request.tenancyIds()) {
                Map<String, Long> rows = behind.get(id);
                if (rows != null) {
                    sampled++;
                    rows.forEach((mapping, n) -> total.merge(mapping, n, Long::sum));
                }
            }
            respond(exchange, 200, new RowsBehind("Rows stamped above the tenancy's lowest cursor (stand-in).",
                    sampled, request.capPerTenancyAndMapping(), total.entrySet().stream()
                            .map(e -> new MappingCount(e.getKey(), e.getValue(), false)).toList()));
        } else if (path.equals("/api/v1/admin/tenancies")) {
            String raw = exchange.getRequestURI().getRawQuery();
            String query = raw == null || !raw.startsWith("query=") ? ""
                    : URLDecoder.decode(raw.substring("query=".length()), StandardCharsets.UTF_8);
            respond(exchange, 200, tenancies.getOrDefault(query, List.of()));
        } else if (path.endsWith("/resync")) {
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
