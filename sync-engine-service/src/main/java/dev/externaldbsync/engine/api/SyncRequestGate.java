package dev.externaldbsync.engine.api;

import java.io.IOException;
import java.io.InputStream;
import java.time.Clock;
import java.util.HexFormat;
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

import dev.externaldbsync.contract.SyncContract;
import dev.externaldbsync.engine.SigningConfig;

/**
 * What {@code POST /api/v1/sync} checks before it reads a byte of the body: the signature headers are present and
 * well formed and the timestamp is fresh (401 otherwise, with the reason the full check would give), and a declared
 * {@code Content-Length} is within {@link #maxBodyBytes} (413). The HMAC itself needs the body, so
 * {@link SyncResource} verifies it after reading at most {@link #maxBodyBytes} through {@link #readBounded}: an
 * unsigned or oversized request is never buffered whole, whatever its framing.
 */
@Provider
@SignedSync
@Priority(Priorities.AUTHENTICATION)
public class SyncRequestGate implements ContainerRequestFilter {

    /** Bytes allowed per tenancy id: a quoted UUID is 38, the rest is margin for separators and whitespace. */
    static final int BYTES_PER_TENANCY = 64;

    /** Bytes allowed for the body's envelope ({@code {"tenancyIds": [ … ]}}) and any whitespace around it. */
    static final int ENVELOPE_BYTES = 1024;

    private static final int SIGNATURE_HEX_CHARS = 64;

    // Resolved per request: Quarkus REST may build providers during static init, before runtime config exists.
    @Inject
    jakarta.inject.Provider<SigningConfig> signing;

    @Inject
    jakarta.inject.Provider<Clock> clock;

    /** The largest body a legitimate request needs: {@code sync.max-tenancies-per-request} ids and the envelope. */
    public static long maxBodyBytes(SigningConfig signing) {
        return ENVELOPE_BYTES + (long) BYTES_PER_TENANCY * Math.max(1, signing.maxTenanciesPerRequest());
    }

    @Override
    public void filter(ContainerRequestContext request) {
        SigningConfig config = signing.get();
        String refusal = headerRefusal(request.getHeaderString(SyncContract.TIMESTAMP_HEADER),
                request.getHeaderString(SyncContract.SIGNATURE_HEADER),
                clock.get().instant().getEpochSecond(), config.signingTolerance().toSeconds());
        if (refusal != null) {
            request.abortWith(error(Response.Status.UNAUTHORIZED, refusal));
            return;
        }
        String length = request.getHeaderString(HttpHeaders.CONTENT_LENGTH);
        if (length != null) {
            long declared;
            try {
                declared = Long.parseLong(length.strip());
            } catch (NumberFormatException e) {
                request.abortWith(error(Response.Status.BAD_REQUEST, "malformed Content-Length"));
                return;
            }
            if (declared > maxBodyBytes(config)) {
                request.abortWith(tooLarge(config));
            }
        }
    }

    /**
     * Why the signature headers alone already fail (the same words as the full check: "signature missing",
     * "signature malformed", "signature stale"), or null when they are worth reading the body for.
     */
    static String headerRefusal(String timestamp, String signature, long nowEpochSecond, long toleranceSeconds) {
        if (timestamp == null || signature == null || timestamp.isBlank() || signature.isBlank()) {
            return "signature missing";
        }
        long at;
        try {
            at = Long.parseLong(timestamp.strip());
        } catch (NumberFormatException e) {
            return "signature malformed";
        }
        String prefix = SyncContract.SIGNATURE_VERSION + "=";
        String value = signature.strip();
        if (!value.startsWith(prefix) || value.length() != prefix.length() + SIGNATURE_HEX_CHARS
                || !isHex(value.substring(prefix.length()))) {
            return "signature malformed";
        }
        // Compared as bounds, not as |now - at|, so an absurd timestamp cannot overflow into "fresh".
        if (at < nowEpochSecond - toleranceSeconds || at > nowEpochSecond + toleranceSeconds) {
            return "signature stale";
        }
        return null;
    }

    /**
     * The body, read up to {@code max} bytes; null when it is longer (the rest is never read into memory).
     */
    static byte[] readBounded(InputStream body, long max) throws IOException {
        if (body == null) {
            return new byte[0];
        }
        byte[] read = body.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, max + 1));
        return read.length > max ? null : read;
    }

    static Response tooLarge(SigningConfig config) {
        return error(Response.Status.REQUEST_ENTITY_TOO_LARGE, "body larger than " + maxBodyBytes(config)
                + " bytes (sync.max-tenancies-per-request=" + config.maxTenanciesPerRequest() + ")");
    }

    static Response error(Response.Status status, String message) {
        return Response.status(status).type(MediaType.APPLICATION_JSON).entity(Map.of("error", message)).build();
    }

    private static boolean isHex(String s) {
        try {
            HexFormat.of().parseHex(s);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
