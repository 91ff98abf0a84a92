package dev.externaldbsync.poller.dashboard;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;

import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.config.PostgresUrl;

/**
 * JSON over HTTP to one other service of the pipeline (the sequencer or the sync engine), the only way the dashboard
 * learns what another service knows: it runs no SQL on another service's tables. Admin calls carry the shared
 * {@code ADMIN_TOKEN} as a bearer token. Short timeouts, so an unreachable service degrades the page instead of
 * hanging it. Thread-safe.
 */
final class ServiceClient {

    /** An answer of the service, or why there is none ({@code status} 0). */
    record Answer(int status, String body, String error) {

        boolean reachable() {
            return status > 0;
        }
    }

    /** The service could not be asked, or did not answer as expected; the message says which, redacted. */
    static final class Unavailable extends Exception {
        private static final long serialVersionUID = 1L;

        Unavailable(String message) {
            super(message, null, false, false);
        }
    }

    private static final Duration TIMEOUT = Duration.ofSeconds(3);

    private final String name;
    private final String setting;
    private final URI base;
    private final Optional<String> adminToken;
    private final ObjectMapper mapper;
    private final HttpClient http;

    /**
     * @param name    how messages call the service ("sync engine")
     * @param setting the environment variable that sets {@code base}, named when it is missing
     * @param base    the service's base URL, or null when not configured
     */
    ServiceClient(String name, String setting, URI base, Optional<String> adminToken, ObjectMapper mapper) {
        this.name = name;
        this.setting = setting;
        this.base = base;
        this.adminToken = adminToken;
        this.mapper = mapper;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(TIMEOUT).build();
    }

    /** A base URL from configuration; null when unset, blank or not a URL (the page then says it is not set). */
    static URI baseUri(Optional<String> configured) {
        try {
            return configured.filter(u -> !u.isBlank()).map(u -> URI.create(u.strip())).orElse(null);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** {@code GET path} answered 200 and read as {@code type}. */
    <T> T get(String path, boolean admin, JavaType type) throws Unavailable {
        return read(path, send("GET", path, admin, null), type);
    }

    /**
     * {@code GET path} of an open route that shows more to the operator (status: error texts instead of classes),
     * with the admin token when one is set, without it otherwise.
     */
    <T> T getOpen(String path, JavaType type) throws Unavailable {
        boolean token = adminToken.isPresent() && !adminToken.get().isBlank();
        return read(path, send("GET", path, token, null), type);
    }

    /** {@code POST path} of {@code body} as JSON (an admin call) answered 200 and read as {@code type}. */
    <T> T post(String path, Object body, Class<T> type) throws Unavailable {
        byte[] json;
        try {
            json = mapper.writeValueAsBytes(body);
        } catch (IOException e) {
            throw new Unavailable("cannot write the request to the " + name + ": " + e.getMessage());
        }
        return read(path, send("POST", path, true, json), mapper.constructType(type));
    }

    JavaType type(Class<?> type) {
        return mapper.constructType(type);
    }

    ObjectMapper mapper() {
        return mapper;
    }

    /** Sends without interpreting the answer (the dashboard forwards admin actions as the service answered). */
    Answer send(String method, String path, boolean admin, byte[] json) {
        if (base == null) {
            return new Answer(0, null, setting + " is not set");
        }
        String root = base.toString().endsWith("/") ? base.toString().substring(0, base.toString().length() - 1)
                : base.toString();
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(root + path)).timeout(TIMEOUT)
                .header("Accept", "application/json")
                .method(method, json == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(json));
        if (json != null) {
            request.header("Content-Type", "application/json");
        }
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
            return new Answer(0, null, name + " unreachable at " + PostgresUrl.redact(root) + ": "
                    + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : " " + e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Answer(0, null, "interrupted");
        }
    }

    private <T> T read(String path, Answer answer, JavaType type) throws Unavailable {
        if (!answer.reachable()) {
            throw new Unavailable(answer.error());
        }
        if (answer.status() != 200) {
            throw new Unavailable(name + " answered " + path + " with HTTP " + answer.status());
        }
        try {
            return mapper.readValue(answer.body(), type);
        } catch (IOException e) {
            throw new Unavailable(name + "'s answer to " + path + " is not what the dashboard reads: "
                    + e.getClass().getSimpleName());
        }
    }
}
