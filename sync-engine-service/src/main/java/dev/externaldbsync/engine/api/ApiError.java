package dev.externaldbsync.engine.api;

import java.util.Map;

import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

/** A request the API refuses, with the status and the message the caller gets as {@code {"error": …}}. */
public final class ApiError extends RuntimeException {

    private final Response.Status status;

    public ApiError(Response.Status status, String message) {
        super(message, null, false, false);
        this.status = status;
    }

    Response response() {
        return body(status, getMessage());
    }

    static Response body(Response.Status status, String message) {
        return Response.status(status).type(MediaType.APPLICATION_JSON).entity(Map.of("error", message)).build();
    }
}
