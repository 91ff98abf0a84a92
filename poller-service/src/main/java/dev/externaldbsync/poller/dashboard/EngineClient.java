package dev.externaldbsync.poller.dashboard;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.config.PostgresUrl;

/**
 * The dashboard's calls to the sync engine over {@code SYNC_ENGINE_URL} (the poller → engine path the network policy
 * already allows): its open status, and the admin actions with the admin bearer token. Short timeouts, so an
 * unreachable engine degrades the page instead of hanging it. Thread-safe.
 */
public final class EngineClient {

    /** An answer of the engine, or why there is none ({@code status} 0). */
    public record Answer(int status, String body, String error) {

        public boolean reachable() {
            return status > 0;
        }
    }

    private static final Duration TIMEOUT = Duration.ofSeconds(3);

    private final URI base;
    private final Optional<String> adminToken;
    private final ObjectMapper mapper;
    private final HttpClient http;

    /** @param base the engine's base URL, or null when {@code SYNC_ENGINE_URL} is not set */
    public EngineClient(URI base, Optional<String> adminToken, ObjectMapper mapper) {
        this.base = base;
        this.adminToken = adminToken;
        this.mapper = mapper;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(TIMEOUT).build();
    }

    public boolean configured() {
        return base != null;
    }

    /** {@code GET /api/v1/status} parsed, or an unreachable answer. */
    public JsonNode status() throws EngineUnavailable {
        Answer answer = send("GET", "/api/v1/status", false);
        if (!answer.reachable()) {
            throw new EngineUnavailable(answer.error());
        }
        if (answer.status() != 200) {
            throw new EngineUnavailable("status answered HTTP " + answer.status());
        }
        try {
            return mapper.readTree(answer.body());
        } catch (IOException e) {
            throw new EngineUnavailable("status is not JSON: " + e.getMessage());
        }
    }

    /** An admin call (bearer {@code ADMIN_TOKEN}) with an empty body; the engine's answer is passed through. */
    public Answer admin(String method, String path) {
        return send(method, path, true);
    }

    /** Encodes one path segment (a target id may contain anything a JSON key can). */
    public static String segment(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private Answer send(String method, String path, boolean admin) {
        if (base == null) {
            return new Answer(0, null, "SYNC_ENGINE_URL is not set");
        }
        String root = base.toString().endsWith("/") ? base.toString().substring(0, base.toString().length() - 1)
                : base.toString();
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(root + path)).timeout(TIMEOUT)
                .header("Accept", "application/json")
                .method(method, HttpRequest.BodyPublishers.noBody());
        if (admin) {
            if (adminToken.isEmpty() || adminToken.get().isBlank()) {
                return new Answer(0, null, "ADMIN_TOKEN is not set");
            }
            request.header("Authorization", "Bearer " + adminToken.get());
        }
        try {
            HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            return new Answer(response.statusCode(), response.body(), null);
        } catch (IOException e) {
            return new Answer(0, null, "sync engine unreachable at " + PostgresUrl.redact(root) + ": "
                    + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : " " + e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Answer(0, null, "interrupted");
        }
    }

    /** The engine could not be asked (down, timeout, not configured, unreadable answer). */
    public static final class EngineUnavailable extends Exception {
        private static final long serialVersionUID = 1L;

        EngineUnavailable(String message) {
            super(message, null, false, false);
        }
    }
}
