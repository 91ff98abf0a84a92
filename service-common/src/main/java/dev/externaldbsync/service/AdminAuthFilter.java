package dev.externaldbsync.service;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
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
 * Guards {@link AdminOnly} endpoints with the token from {@code ADMIN_TOKEN}, compared in constant time. Accepted:
 * <ul>
 * <li>{@code Authorization: Bearer <token>} (scripts, curl, other services);
 * <li>{@code Authorization: Basic base64(<any user>:<token>)}: a browser cannot attach a bearer header to a page
 * navigation, so the operators' dashboard relies on the browser's own Basic prompt. 401 answers on the dashboard's
 * routes (and to requests that carry {@link #DASHBOARD_HEADER}) therefore challenge with
 * {@code WWW-Authenticate: Basic realm="external-db-sync"}; every other route keeps the bearer challenge.
 * </ul>
 * CSRF: a browser resends cached Basic credentials on cross-site requests too, so a request authenticated by Basic
 * with any method other than GET or HEAD must carry a non-blank {@link #DASHBOARD_HEADER}; a cross-site form cannot
 * send a custom header, and a cross-site script would need a CORS preflight, which no service ever grants. Bearer
 * callers are unaffected (a browser never sends a bearer token on its own). Without the header: 403.
 * <p>
 * Answers 401 with a JSON reason; the token itself is never logged or echoed. Stateless and thread-safe.
 */
@Provider
@AdminOnly
@Priority(Priorities.AUTHENTICATION)
public class AdminAuthFilter implements ContainerRequestFilter {

    /** The header the dashboard sends on every call; required for state-changing requests authenticated by Basic. */
    public static final String DASHBOARD_HEADER = "X-Requested-By";

    /** The value the dashboard sends in {@link #DASHBOARD_HEADER} (any non-blank value is accepted). */
    public static final String DASHBOARD_HEADER_VALUE = "external-db-sync-dashboard";

    /** The realm of the Basic challenge, shown by the browser's sign-in prompt. */
    public static final String BASIC_REALM = "external-db-sync";

    private static final String BEARER = "Bearer ";
    private static final String BASIC = "Basic ";

    private enum Scheme {
        BEARER, BASIC
    }

    /** The outcome of checking the Authorization header: a scheme when accepted, else the reason. */
    private record Check(Scheme scheme, String reason) {
    }

    // Resolved per request: Quarkus REST may build providers during static init, before runtime config exists.
    @Inject
    jakarta.inject.Provider<AdminConfig> config;

    @Override
    public void filter(ContainerRequestContext request) {
        Check check = check(request.getHeaderString(HttpHeaders.AUTHORIZATION));
        if (check.reason() != null) {
            request.abortWith(Response.status(Response.Status.UNAUTHORIZED)
                    .header(HttpHeaders.WWW_AUTHENTICATE, wantsBasic(request)
                            ? "Basic realm=\"" + BASIC_REALM + "\", charset=\"UTF-8\""
                            : "Bearer realm=\"external-db-sync admin\"")
                    .type(MediaType.APPLICATION_JSON)
                    .entity(Map.of("error", check.reason()))
                    .build());
            return;
        }
        if (check.scheme() == Scheme.BASIC && !isSafe(request.getMethod())) {
            String marker = request.getHeaderString(DASHBOARD_HEADER);
            if (marker == null || marker.isBlank()) {
                request.abortWith(Response.status(Response.Status.FORBIDDEN)
                        .type(MediaType.APPLICATION_JSON)
                        .entity(Map.of("error", "a " + request.getMethod() + " authenticated by Basic needs the header "
                                + DASHBOARD_HEADER + " (cross-site request protection)"))
                        .build());
            }
        }
    }

    private static boolean isSafe(String method) {
        return "GET".equals(method) || "HEAD".equals(method);
    }

    /** The dashboard's page, its assets and its API, or any call made by the dashboard's script. */
    private static boolean wantsBasic(ContainerRequestContext request) {
        String path = request.getUriInfo().getPath();
        String p = path.startsWith("/") ? path.substring(1) : path;
        return p.equals("dashboard") || p.startsWith("dashboard/") || p.startsWith("api/v1/admin/dashboard")
                || request.getHeaderString(DASHBOARD_HEADER) != null;
    }

    /**
     * Whether {@code authorization} carries the admin token (bearer, or Basic with the token as password): for a
     * resource that answers everyone but shows more to the operator, so the check stays this one.
     */
    public static boolean accepts(AdminConfig admin, String authorization) {
        return check(admin, authorization).reason() == null;
    }

    private Check check(String authorization) {
        return check(config.get(), authorization);
    }

    private static Check check(AdminConfig admin, String authorization) {
        if (admin.token().isEmpty() || admin.token().get().isBlank()) {
            return new Check(null, "admin API disabled: ADMIN_TOKEN is not configured");
        }
        byte[] expected = admin.token().get().getBytes(StandardCharsets.UTF_8);
        if (authorization != null && authorization.regionMatches(true, 0, BASIC, 0, BASIC.length())) {
            byte[] password = basicPassword(authorization.substring(BASIC.length()).strip());
            if (password == null) {
                return new Check(null, "malformed basic credentials");
            }
            return MessageDigest.isEqual(password, expected) ? new Check(Scheme.BASIC, null)
                    : new Check(null, "invalid credentials (the password is the admin token)");
        }
        if (authorization == null || !authorization.startsWith(BEARER)) {
            return new Check(null, "missing bearer token");
        }
        byte[] presented = authorization.substring(BEARER.length()).strip().getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(presented, expected) ? new Check(Scheme.BEARER, null)
                : new Check(null, "invalid bearer token");
    }

    /** The password part of {@code base64(user:password)}; null when it is not valid base64 or has no colon. */
    private static byte[] basicPassword(String encoded) {
        byte[] decoded;
        try {
            decoded = Base64.getDecoder().decode(encoded);
        } catch (IllegalArgumentException e) {
            return null;
        }
        for (int i = 0; i < decoded.length; i++) {
            if (decoded[i] == ':') {
                byte[] password = new byte[decoded.length - i - 1];
                System.arraycopy(decoded, i + 1, password, 0, password.length);
                return password;
            }
        }
        return null;
    }
}
