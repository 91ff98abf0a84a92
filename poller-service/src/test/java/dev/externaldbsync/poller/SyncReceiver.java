package dev.externaldbsync.poller;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.RequestSigner;
import dev.externaldbsync.contract.SyncContract;
import dev.externaldbsync.contract.SyncRequest;
import dev.externaldbsync.contract.SyncResponse;
import dev.externaldbsync.contract.TenancyResult;

/**
 * A real HTTP stand-in for the sync engine, on a free port: verifies every request's signature with the contract's
 * {@link RequestSigner} (an invalid one gets 401, like the engine), records what arrived and when, tracks how many
 * requests are in progress per tenancy, and answers as the test scripts it. Thread-safe.
 */
final class SyncReceiver implements AutoCloseable {

    static final String SECRET = "test-signing-secret-0123456789";

    /** One request as received. */
    record Delivery(int number, List<UUID> tenancyIds, RequestSigner.Verification verification, Instant receivedAt,
            Instant answeredAt, int status) {
    }

    /** The answer to one request. */
    record Reply(int status, Object body) {

        static Reply ok(SyncResponse response) {
            return new Reply(200, response);
        }

        static Reply status(int status) {
            return new Reply(status, Map.of("error", "scripted " + status));
        }
    }

    /** Scripted behaviour: called for each validly signed request (1-based number), may block. */
    @FunctionalInterface
    interface Script {
        Reply answer(int number, SyncRequest request) throws Exception;
    }

    static Reply allSynced(SyncRequest request) {
        return Reply.ok(new SyncResponse(request.tenancyIds().stream()
                .map(id -> new TenancyResult(id, Outcome.SYNCED, false, List.of(), null)).toList()));
    }

    private final ObjectMapper mapper = new ObjectMapper();
    private final RequestSigner verifier = new RequestSigner(SECRET, Clock.systemUTC(), Duration.ofMinutes(5));
    private final HttpServer server;
    private final ExecutorService executor = Executors.newFixedThreadPool(32);
    private final List<Delivery> deliveries = new CopyOnWriteArrayList<>();
    private final Map<UUID, AtomicInteger> activePerTenancy = new ConcurrentHashMap<>();
    private final Map<UUID, AtomicInteger> deliveredPerTenancy = new ConcurrentHashMap<>();
    private final AtomicInteger maxConcurrentPerTenancy = new AtomicInteger();
    private final AtomicInteger numbers = new AtomicInteger();
    private final AtomicLong requests = new AtomicLong();
    private volatile Script script = (n, r) -> allSynced(r);

    SyncReceiver() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 256);
        server.createContext(SyncContract.SYNC_PATH, this::handle);
        server.setExecutor(executor);
        server.start();
    }

    URI baseUri() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    void script(Script value) {
        this.script = value;
    }

    List<Delivery> deliveries() {
        return List.copyOf(deliveries);
    }

    /** Requests received so far, including rejected and scripted failures. */
    long requestCount() {
        return requests.get();
    }

    /** Tenancies answered with success at least once. */
    int tenanciesDelivered() {
        return deliveredPerTenancy.size();
    }

    /** Highest number of requests ever in progress at once for one tenancy. */
    int maxConcurrentPerTenancy() {
        return maxConcurrentPerTenancy.get();
    }

    private void handle(HttpExchange exchange) throws IOException {
        requests.incrementAndGet();
        Instant received = Instant.now();
        byte[] body;
        try (InputStream in = exchange.getRequestBody()) {
            body = in.readAllBytes();
        }
        RequestSigner.Verification verification = verifier.verify(
                exchange.getRequestHeaders().getFirst(SyncContract.TIMESTAMP_HEADER),
                exchange.getRequestHeaders().getFirst(SyncContract.SIGNATURE_HEADER), body);
        if (verification != RequestSigner.Verification.VALID) {
            deliveries.add(new Delivery(numbers.incrementAndGet(), List.of(), verification, received, Instant.now(),
                    401));
            respond(exchange, 401, Map.of("error", "signature " + verification));
            return;
        }
        SyncRequest request = mapper.readValue(body, SyncRequest.class);
        int number = numbers.incrementAndGet();
        for (UUID id : request.tenancyIds()) {
            int active = activePerTenancy.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
            maxConcurrentPerTenancy.accumulateAndGet(active, Math::max);
        }
        Reply reply;
        try {
            reply = script.answer(number, request);
        } catch (Exception e) {
            reply = new Reply(500, Map.of("error", "script failed: " + e));
        }
        for (UUID id : request.tenancyIds()) {
            activePerTenancy.get(id).decrementAndGet();
            if (reply.status() == 200) {
                deliveredPerTenancy.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
            }
        }
        deliveries.add(new Delivery(number, request.tenancyIds(), verification, received, Instant.now(),
                reply.status()));
        respond(exchange, reply.status(), reply.body());
    }

    private void respond(HttpExchange exchange, int status, Object body) throws IOException {
        byte[] bytes = mapper.writeValueAsBytes(body);
        exchange.getResponseHeaders().add("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    /** Deliveries that name the tenancy, in arrival order. */
    List<Delivery> deliveriesOf(UUID tenancyId) {
        List<Delivery> result = new ArrayList<>();
        for (Delivery d : deliveries) {
            if (d.tenancyIds().contains(tenancyId)) {
                result.add(d);
            }
        }
        result.sort((a, b) -> Integer.compare(a.number(), b.number()));
        return result;
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
