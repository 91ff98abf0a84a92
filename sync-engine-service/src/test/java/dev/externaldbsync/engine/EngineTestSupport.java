package dev.externaldbsync.engine;

import static io.restassured.RestAssured.given;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.UUID;
import java.util.stream.Collectors;

import dev.externaldbsync.contract.RequestSigner;
import dev.externaldbsync.contract.SyncContract;
import dev.externaldbsync.schema.SourceTable;
import dev.externaldbsync.testing.TestDatabase;
import io.restassured.path.json.JsonPath;
import io.restassured.response.Response;

/** Test helpers: stamp like the sequencer, and sign and POST sync requests like the poller. */
final class EngineTestSupport {

    static final String SECRET = "test-signing-secret-0123456789";

    private EngineTestSupport() {
    }

    /**
     * Stamps every marked row exactly as the sequencer does: one transaction, the sequencer's advisory lock, then
     * each source table in catalog order (DeletedRow last), notifications suppressed.
     */
    static void stamp(TestDatabase internal) {
        try (Connection c = internal.connect(); Statement st = c.createStatement()) {
            c.setAutoCommit(false);
            st.execute("SELECT pg_advisory_xact_lock(1)");
            st.execute("SET LOCAL external_db_sync.sequencer = 'on'");
            for (SourceTable table : SourceTable.values()) {
                st.executeUpdate("UPDATE " + table.quotedName()
                        + " SET \"sequenceId\" = nextval('global_seq_id'), \"shouldUpdateSequenceId\" = false"
                        + " WHERE \"shouldUpdateSequenceId\"");
            }
            c.commit();
        } catch (SQLException e) {
            throw new IllegalStateException("stamping failed: " + e.getMessage(), e);
        }
    }

    static String body(UUID... tenancies) {
        return Arrays.stream(tenancies).map(t -> "\"" + t + "\"")
                .collect(Collectors.joining(", ", "{\"tenancyIds\": [", "]}"));
    }

    /** Signs the body with the shared secret at the given clock, POSTs it and returns the raw response. */
    static Response post(String body, Clock clock) {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        RequestSigner.Signature signature = new RequestSigner(SECRET, clock, Duration.ofMinutes(5)).sign(bytes);
        return given().contentType("application/json")
                .header(SyncContract.TIMESTAMP_HEADER, signature.timestamp())
                .header(SyncContract.SIGNATURE_HEADER, signature.signature())
                .body(bytes)
                .post(SyncContract.SYNC_PATH);
    }

    /** Signs and POSTs a sync of the tenancies; asserts 200 and returns the JSON. */
    static JsonPath sync(UUID... tenancies) {
        Response response = post(body(tenancies), Clock.systemUTC());
        if (response.statusCode() != 200) {
            throw new AssertionError("sync answered " + response.statusCode() + ": " + response.asString());
        }
        return response.jsonPath();
    }
}
