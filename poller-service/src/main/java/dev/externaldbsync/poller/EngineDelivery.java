package dev.externaldbsync.poller;

import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.contract.RequestSigner;
import dev.externaldbsync.contract.SyncContract;
import dev.externaldbsync.contract.SyncRequest;
import dev.externaldbsync.contract.SyncResponse;

/**
 * The delivery of one batch of tenancies to the sync engine: the signed {@code POST} of the wire contract, and the
 * engine's answer classified as one of three {@link Result}s. Knows nothing of the queue; the {@link Poller} records
 * what each result means for the requests. Thread-safe (one HTTP/1.1 client shared by the delivery threads).
 */
final class EngineDelivery {

    /** What one POST came back with. */
    sealed interface Result {
    }

    /** HTTP 200 with a readable body: per-tenancy results. */
    record Answered(SyncResponse response) implements Result {
    }

    /** HTTP 400: the engine refused the request itself as invalid; retrying it cannot help. */
    record Rejected(String error) implements Result {
    }

    /** The engine as a whole failed (no connection or none in time, 401, 5xx, unreadable answer): retry later. */
    record EngineFailed(String error) implements Result {
    }

    /**
     * No answer within {@code poller.request-timeout}, or no complete one by {@code poller.connect-timeout} plus
     * that: the engine is slow, not down (it answers within its own answer budget, below this timeout, unless
     * something is badly wrong); the requests are retried without an attempt and without pausing other claims.
     */
    record Slow(String error) implements Result {
    }

    private static final int SNIPPET = 300;

    private final PollerSettings settings;
    private final RequestSigner signer;
    private final ObjectMapper mapper;
    private final PollerMetrics metrics;
    private final HttpClient http;
    /** The most a whole exchange may take: connecting, then the answer's headers and its body. */
    private final Duration answerDeadline;

    EngineDelivery(PollerSettings settings, RequestSigner signer, ObjectMapper mapper, PollerMetrics metrics) {
        this.settings = settings;
        this.signer = signer;
        this.mapper = mapper;
        this.metrics = metrics;
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(settings.config().connectTimeout())
                .build();
        this.answerDeadline = settings.config().connectTimeout().plus(settings.config().requestTimeout());
    }

    /** POSTs {@code tenancyIds} signed and classifies the answer; interrupted only by a shutdown past its grace. */
    Result deliver(List<UUID> tenancyIds) throws InterruptedException, IOException {
        byte[] body = mapper.writeValueAsBytes(new SyncRequest(tenancyIds));
        RequestSigner.Signature signature = signer.sign(body);
        HttpRequest request = HttpRequest.newBuilder(settings.syncUri())
                .timeout(settings.config().requestTimeout())
                .header("Content-Type", "application/json")
                .header(SyncContract.TIMESTAMP_HEADER, signature.timestamp())
                .header(SyncContract.SIGNATURE_HEADER, signature.signature())
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
        HttpResponse<byte[]> response;
        metrics.postStarted();
        long started = System.nanoTime();
        CompletableFuture<HttpResponse<byte[]>> exchange =
                http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray());
        try {
            // The request's own timeout ends when the headers arrive; this one covers the body too, so an answer
            // whose connection dies halfway cannot keep its claim, renewed by the heartbeat, forever.
            response = exchange.get(answerDeadline.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return new Slow("timeout: no complete answer from the sync engine within " + answerDeadline);
        } catch (ExecutionException e) {
            return failed(e.getCause());
        } finally {
            exchange.cancel(true);
            metrics.postFinished(System.nanoTime() - started);
        }
        return classify(response);
    }

    private Result failed(Throwable cause) throws IOException {
        if (cause instanceof HttpConnectTimeoutException) {
            // A subclass of the timeout below, but an engine that accepts no connection is unreachable, not slow: it
            // is charged an attempt and pauses the other claims, as a refused connection does.
            return new EngineFailed("connect timeout: the sync engine accepted no connection within "
                    + settings.config().connectTimeout());
        }
        if (cause instanceof HttpTimeoutException) {
            return new Slow("timeout: no answer from the sync engine within " + settings.config().requestTimeout());
        }
        if (cause instanceof IOException) {
            return new EngineFailed("connection error: " + cause.getClass().getSimpleName()
                    + (cause.getMessage() == null ? "" : ": " + cause.getMessage()));
        }
        throw new IOException("the POST to the sync engine failed", cause);
    }

    private Result classify(HttpResponse<byte[]> response) {
        int status = response.statusCode();
        if (status == 200) {
            try {
                return new Answered(mapper.readValue(response.body(), SyncResponse.class));
            } catch (IOException e) {
                return new EngineFailed("HTTP 200 with an unreadable body: " + e.getMessage());
            }
        }
        if (status == 400) {
            return new Rejected("HTTP 400 (request rejected as invalid, not retried): " + snippet(response.body()));
        }
        if (status == 401) {
            return new EngineFailed("HTTP 401: the engine rejected the signature (is SYNC_SIGNING_SECRET the same on "
                    + "the poller and the engine, and are the clocks in sync?)");
        }
        return new EngineFailed("HTTP " + status + ": " + snippet(response.body()));
    }

    private static String snippet(byte[] body) {
        if (body == null || body.length == 0) {
            return "(empty body)";
        }
        String text = new String(body, 0, Math.min(body.length, SNIPPET * 4), StandardCharsets.UTF_8).strip();
        return text.length() <= SNIPPET ? text : text.substring(0, SNIPPET) + "…";
    }
}
