package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.post;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.UUID;

import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.contract.RequestSigner;
import dev.externaldbsync.contract.SyncContract;
import dev.externaldbsync.testing.InternalDatabaseResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.response.Response;

/** The sync endpoint refuses unsigned and oversized requests before buffering their bodies. */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class SyncBodyLimitTest {

    /** The default {@code sync.max-tenancies-per-request} (1000) sizes the limit at 64 KB + 1 KB. */
    private static final int LIMIT = 1024 + 64 * 1000;

    @TestHTTPResource("/api/v1/sync")
    URI sync;

    @ConfigProperty(name = "sync.signing-secret")
    String secret;

    private static String ids(int count) {
        StringBuilder body = new StringBuilder("{\"tenancyIds\": [");
        for (int i = 0; i < count; i++) {
            body.append(i == 0 ? "" : ", ").append('"').append(UUID.randomUUID()).append('"');
        }
        return body.append("]}").toString();
    }

    @Test
    void anUnsignedRequestIsRefusedOnItsHeadersWhateverItsSize() {
        byte[] big = new byte[5 * 1024 * 1024];
        given().contentType("application/json").body(big).post(SyncContract.SYNC_PATH).then().statusCode(401)
                .body("error", org.hamcrest.Matchers.equalTo("signature missing"));
        given().contentType("application/json").header(SyncContract.TIMESTAMP_HEADER, "soon")
                .header(SyncContract.SIGNATURE_HEADER, "v1=00").body(big).post(SyncContract.SYNC_PATH).then()
                .statusCode(401).body("error", org.hamcrest.Matchers.equalTo("signature malformed"));
    }

    @Test
    void aWellFormedButStaleSignatureIsRefusedBeforeTheBodyIsRead() {
        byte[] big = new byte[5 * 1024 * 1024];
        RequestSigner.Signature stale = new RequestSigner(secret,
                Clock.offset(Clock.systemUTC(), Duration.ofMinutes(-10)), Duration.ofMinutes(5)).sign(big);
        given().contentType("application/json").header(SyncContract.TIMESTAMP_HEADER, stale.timestamp())
                .header(SyncContract.SIGNATURE_HEADER, stale.signature()).body(big).post(SyncContract.SYNC_PATH)
                .then().statusCode(401).body("error", org.hamcrest.Matchers.equalTo("signature stale"));
    }

    @Test
    void aSignedBodyBeyondTheLimitIs413AndOneWithinItIsServed() {
        String tooMany = ids(LIMIT / 38);
        assertThat(tooMany.length()).isGreaterThan(LIMIT);
        Response refused = post(tooMany, Clock.systemUTC());
        assertThat(refused.statusCode()).isEqualTo(413);
        assertThat(refused.jsonPath().getString("error")).contains("sync.max-tenancies-per-request");

        Response served = post(ids(1000), Clock.systemUTC());
        assertThat(served.statusCode()).isEqualTo(200);
        assertThat(served.jsonPath().getList("results")).hasSize(1000);
    }

    @Test
    void aChunkedBodyWithoutALengthIsReadOnlyUpToTheLimit() throws Exception {
        byte[] huge = new byte[8 * 1024 * 1024];
        RequestSigner.Signature signature = new RequestSigner(secret, Clock.systemUTC(), Duration.ofMinutes(5))
                .sign(huge);
        HttpRequest request = HttpRequest.newBuilder(sync).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json")
                .header(SyncContract.TIMESTAMP_HEADER, signature.timestamp())
                .header(SyncContract.SIGNATURE_HEADER, signature.signature())
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(huge))).build();
        HttpResponse<String> response = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()
                .send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertThat(response.statusCode()).isEqualTo(413);
        assertThat(response.body()).contains("body larger than " + LIMIT + " bytes");
    }
}
