package dev.externaldbsync.service;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Map;

import jakarta.annotation.Priority;
import jakarta.inject.Inject;

import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.Provider;

/**
 * Guards {@link AdminOnly} endpoints with the bearer token from {@code ADMIN_TOKEN}, compared in constant time.
 * Answers 401 with a JSON reason; the token itself is never logged or echoed.
 */
@Provider
@AdminOnly
@Priority(Priorities.AUTHENTICATION)
public class AdminAuthFilter implements ContainerRequestFilter {

    private static final String BEARER = "Bearer ";

    // Resolved per request: Quarkus REST may build providers during static init, before runtime config exists.
    @Inject
    jakarta.inject.Provider<AdminConfig> config;

    @Override
    public void filter(ContainerRequestContext request) {
        String reason = check(request.getHeaderString(HttpHeaders.AUTHORIZATION));
        if (reason != null) {
            request.abortWith(Response.status(Response.Status.UNAUTHORIZED)
                    .header(HttpHeaders.WWW_AUTHENTICATE, "Bearer realm=\"external-db-sync admin\"")
                    .type(MediaType.APPLICATION_JSON)
                    .entity(Map.of("error", reason))
                    .build());
        }
    }

    private String check(String authorization) {
        AdminConfig admin = config.get();
        if (admin.token().isEmpty() || admin.token().get().isBlank()) {
            return "admin API disabled: ADMIN_TOKEN is not configured";
        }
        if (authorization == null || !authorization.startsWith(BEARER)) {
            return "missing bearer token";
        }
        byte[] presented = authorization.substring(BEARER.length()).strip().getBytes(StandardCharsets.UTF_8);
        byte[] expected = admin.token().get().getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(presented, expected) ? null : "invalid bearer token";
    }
}
