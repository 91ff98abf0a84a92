package dev.externaldbsync.engine;

import static io.restassured.RestAssured.given;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.stream.Collectors;

import dev.externaldbsync.contract.RequestSigner;
import dev.externaldbsync.contract.SyncContract;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.TestDatabase;
import io.restassured.path.json.JsonPath;
import io.restassured.response.Response;

/** Test helpers: stamp like the sequencer, and sign and POST sync requests like the poller. */
final class EngineTestSupport {

    static final String SECRET = "test-signing-secret-0123456789";

    private EngineTestSupport() {
    }

    /**
     * Stamps every unstamped change-log entry as the sequencer does: one transaction, the sequencer's advisory lock
     * before the first {@code nextval}.
     */
    static void stamp(TestDatabase internal) {
        try (Connection c = internal.connect(); Statement st = c.createStatement()) {
            c.setAutoCommit(false);
            st.execute("SELECT pg_advisory_xact_lock(1)");
            st.executeUpdate("""
                    UPDATE "SyncChange" SET "sequenceId" = nextval('global_seq_id')
                    WHERE "id" IN (SELECT "id" FROM "SyncChange" WHERE "sequenceId" IS NULL ORDER BY "id")""");
            c.commit();
        } catch (SQLException e) {
            throw new IllegalStateException("stamping failed: " + e.getMessage(), e);
        }
    }

    /**
     * {@code tenancy|mapping} of every mapping with stamped change-log entries of the given tenancies, sorted: the
     * cursor rows (and progress rows) a sync leaves when all their data came through capture, since a mapping without
     * data gets none.
     */
    static List<String> withEntries(TestDatabase internal, UUID... tenancies) {
        List<String> found = new java.util.ArrayList<>();
        for (Mapping mapping : Mappings.ALL) {
            found.addAll(rows(internal, """
                    SELECT DISTINCT "tenancyId"::text || '|' || ?::text FROM "SyncChange"
                    WHERE "tenancyId" = ANY(?::uuid[]) AND "tableName" = ? AND "sequenceId" IS NOT NULL""",
                    mapping.name(), java.util.Arrays.stream(tenancies).map(UUID::toString).toArray(String[]::new),
                    mapping.tombstoneTable()));
        }
        return found.stream().sorted().toList();
    }

    /** {@code tenancy|mapping} of every cursor row in {@code target}, sorted. */
    static List<String> cursorRows(TestDatabase target) {
        return rows(target, "SELECT tenancy_id::text || '|' || mapping_name FROM _stack_sync_metadata").stream()
                .sorted().toList();
    }

    /**
     * The rows of one query as {@code col|col|…} strings ({@code null} for SQL NULL), each value in its PostgreSQL
     * text form when the query casts it so.
     */
    static List<String> rows(TestDatabase db, String sql, Object... params) {
        return db.queryRows(sql, params).stream()
                .map(r -> r.stream().map(String::valueOf).collect(Collectors.joining("|"))).toList();
    }

    /** The single row of a query, see {@link #rows}. */
    static String row(TestDatabase db, String sql, Object... params) {
        List<String> rows = rows(db, sql, params);
        if (rows.size() != 1) {
            throw new AssertionError("expected one row, got " + rows + " from " + sql);
        }
        return rows.get(0);
    }

    /**
     * The verifier-style comparison: for every mapping, the target table equals the mapping's projection of the
     * tenancy, column text forms row for row, in key order (code point order of the key's text, on both sides).
     */
    static void assertMirrors(TestDatabase internal, UUID tenancy, TestDatabase target) {
        for (Mapping mapping : Mappings.ALL) {
            String columns = mapping.columns().stream().map(c -> "x." + c.quoted() + "::text")
                    .collect(Collectors.joining(", "));
            String order = mapping.keyColumns().stream().map(k -> "x.\"" + k + "\"::text COLLATE \"C\"")
                    .collect(Collectors.joining(", "));
            List<String> expected = rows(internal, "SELECT " + columns + " FROM (" + mapping.projectionSql()
                    + ") AS x ORDER BY " + order, tenancy);
            List<String> actual = rows(target, "SELECT " + columns + " FROM " + mapping.quotedTable() + " AS x ORDER BY "
                    + order);
            org.assertj.core.api.Assertions.assertThat(actual).as(mapping.name()).containsExactlyElementsOf(expected);
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
