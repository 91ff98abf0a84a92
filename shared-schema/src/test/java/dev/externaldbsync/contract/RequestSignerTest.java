package dev.externaldbsync.contract;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.contract.RequestSigner.Signature;
import dev.externaldbsync.contract.RequestSigner.Verification;

class RequestSignerTest {

    private static final String SECRET = "0123456789abcdef-shared-secret";
    private static final Instant NOW = Instant.parse("2026-11-21T10:00:00Z");
    private static final byte[] BODY = "{\"tenancyIds\":[\"5b0c…\"]}".getBytes(StandardCharsets.UTF_8);

    private final RequestSigner signer = signerAt(NOW, SECRET);

    @Test
    void aSignedBodyVerifies() {
        Signature signature = signer.sign(BODY);

        assertThat(signature.timestamp()).isEqualTo(Long.toString(NOW.getEpochSecond()));
        assertThat(signature.signature()).startsWith("v1=").hasSize(3 + 64);
        assertThat(signer.verify(signature.timestamp(), signature.signature(), BODY)).isEqualTo(Verification.VALID);
    }

    @Test
    void aTamperedBodyDoesNotVerify() {
        Signature signature = signer.sign(BODY);
        byte[] tampered = BODY.clone();
        tampered[3] ^= 1;

        assertThat(signer.verify(signature.timestamp(), signature.signature(), tampered))
                .isEqualTo(Verification.MISMATCH);
    }

    @Test
    void aSignatureMadeWithAnotherKeyDoesNotVerify() {
        Signature foreign = signerAt(NOW, "another-secret-of-enough-length").sign(BODY);

        assertThat(signer.verify(foreign.timestamp(), foreign.signature(), BODY)).isEqualTo(Verification.MISMATCH);
    }

    @Test
    void aTimestampOutsideTheToleranceIsStaleEitherWay() {
        Signature old = signerAt(NOW.minusSeconds(301), SECRET).sign(BODY);
        Signature future = signerAt(NOW.plusSeconds(301), SECRET).sign(BODY);
        Signature edge = signerAt(NOW.minusSeconds(300), SECRET).sign(BODY);

        assertThat(signer.verify(old.timestamp(), old.signature(), BODY)).isEqualTo(Verification.STALE);
        assertThat(signer.verify(future.timestamp(), future.signature(), BODY)).isEqualTo(Verification.STALE);
        assertThat(signer.verify(edge.timestamp(), edge.signature(), BODY)).isEqualTo(Verification.VALID);
    }

    @Test
    void theTimestampIsPartOfTheSignature() {
        Signature signature = signer.sign(BODY);
        String otherTimestamp = Long.toString(NOW.getEpochSecond() - 1);

        assertThat(signer.verify(otherTimestamp, signature.signature(), BODY)).isEqualTo(Verification.MISMATCH);
    }

    @Test
    void missingAndMalformedHeadersAreRefused() {
        Signature signature = signer.sign(BODY);

        assertThat(signer.verify(null, signature.signature(), BODY)).isEqualTo(Verification.MISSING);
        assertThat(signer.verify(signature.timestamp(), "", BODY)).isEqualTo(Verification.MISSING);
        assertThat(signer.verify("yesterday", signature.signature(), BODY)).isEqualTo(Verification.MALFORMED);
        assertThat(signer.verify(signature.timestamp(), "v2=00", BODY)).isEqualTo(Verification.MALFORMED);
        assertThat(signer.verify(signature.timestamp(), "v1=zz", BODY)).isEqualTo(Verification.MALFORMED);
    }

    @Test
    void shortSecretsAreRefusedAndTheSecretIsNeverPrinted() {
        assertThatThrownBy(() -> signerAt(NOW, "short")).hasMessageContaining("at least 16 bytes")
                .hasMessageNotContaining("short\"");
        assertThat(signer.toString()).doesNotContain(SECRET);
    }

    private static RequestSigner signerAt(Instant instant, String secret) {
        return new RequestSigner(secret, Clock.fixed(instant, ZoneOffset.UTC), Duration.ofMinutes(5));
    }
}
