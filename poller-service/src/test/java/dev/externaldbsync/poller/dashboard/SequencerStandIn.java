package dev.externaldbsync.poller.dashboard;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import dev.externaldbsync.contract.status.CappedCount;
import dev.externaldbsync.contract.status.SequencerStatus;

/**
 * A real HTTP stand-in for the sequencer's open {@code GET /api/v1/status}: a scripted {@link SequencerStatus}
 * (stamps issued, rows waiting per table), or a scripted outage. Thread-safe.
 */
final class SequencerStandIn implements AutoCloseable {

    final AtomicLong stampsIssued = new AtomicLong(1000);
    final Map<String, CappedCount> waiting = new java.util.concurrent.ConcurrentHashMap<>();
    volatile boolean available = true;

    private final ObjectMapper mapper = new ObjectMapper().findAndRegisterModules();
    private final HttpServer server;
    private final ExecutorService executor = Executors.newFixedThreadPool(2);

    SequencerStandIn() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(executor);
        server.createContext("/api/v1/status", this::status);
        server.start();
    }

    URI baseUri() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    private void status(HttpExchange exchange) throws IOException {
        byte[] bytes;
        int code;
        if (available) {
            Map<String, String> text = new LinkedHashMap<>();
            waiting.forEach((table, count) -> text.put(table, count.value() + (count.capped() ? "+" : "")));
            bytes = mapper.writeValueAsBytes(new SequencerStatus("sequencer-stand-in", false, true, 20, text,
                    Map.copyOf(waiting), stampsIssued.get(), null, 0, 0, null));
            code = 200;
        } else {
            bytes = "{\"error\":\"scripted outage\"}".getBytes();
            code = 503;
        }
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(code, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
