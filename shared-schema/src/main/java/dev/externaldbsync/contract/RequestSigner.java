package dev.externaldbsync.contract;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Signs and verifies sync requests: HMAC-SHA256 over {@code "v1:" + timestamp + ":" + exact body bytes}, see
 * {@link SyncContract}. The timestamp bounds replay: a signature older or newer than the tolerance is stale.
 * <p>
 * The secret never leaves this object ({@link #toString()} does not show it). Thread-safe: a {@link Mac} is made per
 * call.
 */
public final class RequestSigner {

    /** Shorter secrets are refused: HMAC is only as strong as its key. */
    public static final int MIN_SECRET_BYTES = 16;

    private static final String ALGORITHM = "HmacSHA256";

    /** The headers to send with a body. */
    public record Signature(String timestamp, String signature) {
    }

    /** The result of checking a request; only {@link #VALID} may proceed. */
    public enum Verification {
        VALID, MISSING, MALFORMED, STALE, MISMATCH
    }

    private final SecretKeySpec key;
    private final Clock clock;
    private final Duration tolerance;

    /**
     * @param secret    the shared secret (from configuration, never code)
     * @param clock     the clock that timestamps and judges staleness
     * @param tolerance how far a request's timestamp may be from now, either way
     */
    public RequestSigner(String secret, Clock clock, Duration tolerance) {
        if (secret == null || secret.getBytes(StandardCharsets.UTF_8).length < MIN_SECRET_BYTES) {
            throw new IllegalArgumentException(
                    "SYNC_SIGNING_SECRET must be set and at least " + MIN_SECRET_BYTES + " bytes long");
        }
        this.key = new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), ALGORITHM);
        this.clock = clock;
        this.tolerance = tolerance;
    }

    public Signature sign(byte[] body) {
        String timestamp = Long.toString(clock.instant().getEpochSecond());
        return new Signature(timestamp, SyncContract.SIGNATURE_VERSION + "=" + hmacHex(timestamp, body));
    }

    public Verification verify(String timestampHeader, String signatureHeader, byte[] body) {
        if (timestampHeader == null || signatureHeader == null || timestampHeader.isBlank()
                || signatureHeader.isBlank()) {
            return Verification.MISSING;
        }
        long timestamp;
        try {
            timestamp = Long.parseLong(timestampHeader.strip());
        } catch (NumberFormatException e) {
            return Verification.MALFORMED;
        }
        String prefix = SyncContract.SIGNATURE_VERSION + "=";
        String signature = signatureHeader.strip();
        if (!signature.startsWith(prefix)) {
            return Verification.MALFORMED;
        }
        byte[] presented;
        try {
            presented = HexFormat.of().parseHex(signature.substring(prefix.length()));
        } catch (IllegalArgumentException e) {
            return Verification.MALFORMED;
        }
        // Compare first, in constant time, so that a wrong signature and a stale one cost the same.
        byte[] expected = HexFormat.of().parseHex(hmacHex(timestampHeader.strip(), body));
        boolean matches = MessageDigest.isEqual(expected, presented);
        long skew = Math.abs(clock.instant().getEpochSecond() - timestamp);
        if (!matches) {
            return Verification.MISMATCH;
        }
        return skew > tolerance.toSeconds() ? Verification.STALE : Verification.VALID;
    }

    private String hmacHex(String timestamp, byte[] body) {
        try {
            Mac mac = Mac.getInstance(ALGORITHM);
            mac.init(key);
            mac.update((SyncContract.SIGNATURE_VERSION + ":" + timestamp + ":").getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(mac.doFinal(body));
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("HMAC-SHA256 unavailable", e);
        }
    }

    @Override
    public String toString() {
        return "RequestSigner[HMAC-SHA256, tolerance=" + tolerance + "]";
    }
}
