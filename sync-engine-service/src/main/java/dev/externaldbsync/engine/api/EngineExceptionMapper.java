package dev.externaldbsync.engine.api;

import java.sql.SQLException;

import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.engine.errors.SqlFailure;

/**
 * The one error mapping of the engine's status and admin APIs: a refused request ({@link ApiError}) answers its
 * status, an internal-database failure 500, both as {@code {"error": …}} with any connection-string secret redacted.
 */
@Provider
public class EngineExceptionMapper implements ExceptionMapper<Exception> {

    @Override
    public Response toResponse(Exception e) {
        if (e instanceof ApiError error) {
            return error.response();
        }
        if (e instanceof SQLException sql) {
            return ApiError.body(Response.Status.INTERNAL_SERVER_ERROR, SqlFailure.describe(sql));
        }
        if (e instanceof WebApplicationException web) {
            return web.getResponse();
        }
        return ApiError.body(Response.Status.INTERNAL_SERVER_ERROR, "unexpected: "
                + PostgresUrl.redact(String.valueOf(e.getMessage())));
    }
}
