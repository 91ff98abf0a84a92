package dev.externaldbsync.engine;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import org.jboss.logging.Logger;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.service.AdminOnly;
import io.agroal.api.AgroalDataSource;
import io.smallrye.common.annotation.Blocking;

/**
 * The sync engine's admin API, all behind {@link AdminOnly} (bearer {@code ADMIN_TOKEN}, 401 without it):
 * <ul>
 * <li>{@code PUT /api/v1/admin/tenancies/{id}/pause} (optional body {@code {"reason": "…"}}): runs of the tenancy do
 * no target work and answer PAUSED without retry; its changes keep being stamped and wait.</li>
 * <li>{@code DELETE /api/v1/admin/tenancies/{id}/pause}: resume; enqueues the tenancy so it catches up at once.</li>
 * <li>{@code POST /api/v1/admin/tenancies/{id}/targets/{targetId}/resync}: see {@link SyncEngine#resync}.</li>
 * <li>{@code GET /api/v1/admin/dead-letters?tenancy=&limit=&after=}: poison rows, keyset-paged on their primary key
 * ({@code next} is the opaque {@code after} of the following page, null on the last one).</li>
 * </ul>
 * Stateless and thread-safe; every call is a few indexed statements on the internal database.
 */
@Path("/api/v1/admin")
@Produces(MediaType.APPLICATION_JSON)
@AdminOnly
public class AdminResource {

    private static final Logger LOG = Logger.getLogger(AdminResource.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** How long a resync waits for a run of the same (tenancy, target) to release its lock before answering 409. */
    static final Duration RESYNC_LOCK_WAIT = Duration.ofSeconds(30);

    static final int DEFAULT_LIMIT = 100;
    static final int MAX_LIMIT = 1000;

    private static final String PAUSE = """
            INSERT INTO "ExternalDbSyncTenancyPause" ("tenancyId", "pausedAt", "reason")
            SELECT t."id", CURRENT_TIMESTAMP, ? FROM "Tenancy" t WHERE t."id" = ?
            ON CONFLICT ("tenancyId") DO UPDATE SET "reason" = EXCLUDED."reason"
            RETURNING "pausedAt"::text""";

    private static final String RESUME = """
            DELETE FROM "ExternalDbSyncTenancyPause" WHERE "tenancyId" = ?""";

    private static final String TENANCY_EXISTS = """
            SELECT 1 FROM "Tenancy" WHERE "id" = ?""";

    private static final String ENQUEUE = "SELECT sync_enqueue_tenancies(ARRAY[?]::uuid[])";

    // Row-value comparison on the primary key's columns in its order: one index range scan per page.
    private static final String DEAD_LETTERS = """
            SELECT "tenancyId"::text, "targetId", "mappingName", "rowKey"::text, "sequenceId", "error",
                   "firstSeenAt"::text, "lastSeenAt"::text
            FROM "SyncEnginePoisonRow"
            WHERE (?::uuid IS NULL OR "tenancyId" = ?::uuid)
              AND ("tenancyId", "targetId", "mappingName", "rowKey") > (?::uuid, ?, ?, ?::jsonb)
            ORDER BY "tenancyId", "targetId", "mappingName", "rowKey"
            LIMIT ?""";

    /** Below every real key: the first page starts here. */
    private static final String[] FIRST = { "00000000-0000-0000-0000-000000000000", "", "", "null" };

    @Inject
    AgroalDataSource internal;

    @Inject
    SyncEngine engine;

    @PUT
    @Path("/tenancies/{tenancyId}/pause")
    @Consumes(MediaType.WILDCARD)
    @Blocking
    public Response pause(@PathParam("tenancyId") String tenancyId, String body) {
        UUID id = parseUuid(tenancyId);
        if (id == null) {
            return error(Response.Status.BAD_REQUEST, "tenancy must be a UUID");
        }
        String reason = null;
        if (body != null && !body.isBlank()) {
            try {
                JsonNode node = JSON.readTree(body);
                JsonNode r = node.get("reason");
                reason = r == null || r.isNull() ? null : r.asText();
            } catch (Exception e) {
                return error(Response.Status.BAD_REQUEST, "body must be {\"reason\": \"…\"} or empty");
            }
        }
        try (Connection c = internal.getConnection(); PreparedStatement ps = c.prepareStatement(PAUSE)) {
            ps.setString(1, reason);
            ps.setObject(2, id);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return error(Response.Status.NOT_FOUND, "no such tenancy");
                }
                LOG.infof("Tenancy %s paused", id);
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("tenancyId", id.toString());
                out.put("paused", true);
                out.put("pausedAt", rs.getString(1));
                out.put("reason", reason);
                return Response.ok(out).build();
            }
        } catch (SQLException e) {
            return error(Response.Status.INTERNAL_SERVER_ERROR, SyncEngine.describe(e));
        }
    }

    @DELETE
    @Path("/tenancies/{tenancyId}/pause")
    @Blocking
    public Response resume(@PathParam("tenancyId") String tenancyId) {
        UUID id = parseUuid(tenancyId);
        if (id == null) {
            return error(Response.Status.BAD_REQUEST, "tenancy must be a UUID");
        }
        try (Connection c = internal.getConnection()) {
            c.setAutoCommit(false);
            try {
                boolean exists;
                try (PreparedStatement ps = c.prepareStatement(TENANCY_EXISTS)) {
                    ps.setObject(1, id);
                    try (ResultSet rs = ps.executeQuery()) {
                        exists = rs.next();
                    }
                }
                if (!exists) {
                    c.rollback();
                    return error(Response.Status.NOT_FOUND, "no such tenancy");
                }
                int removed;
                try (PreparedStatement ps = c.prepareStatement(RESUME)) {
                    ps.setObject(1, id);
                    removed = ps.executeUpdate();
                }
                // Same transaction: no run can see "still paused" after a request enqueued here is claimed.
                try (PreparedStatement ps = c.prepareStatement(ENQUEUE)) {
                    ps.setObject(1, id);
                    ps.execute();
                }
                c.commit();
                LOG.infof("Tenancy %s resumed", id);
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("tenancyId", id.toString());
                out.put("paused", false);
                out.put("wasPaused", removed > 0);
                return Response.ok(out).build();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        } catch (SQLException e) {
            return error(Response.Status.INTERNAL_SERVER_ERROR, SyncEngine.describe(e));
        }
    }

    @POST
    @Path("/tenancies/{tenancyId}/targets/{targetId}/resync")
    @Consumes(MediaType.WILDCARD)
    @Blocking
    public Response resync(@PathParam("tenancyId") String tenancyId, @PathParam("targetId") String targetId) {
        UUID id = parseUuid(tenancyId);
        if (id == null) {
            return error(Response.Status.BAD_REQUEST, "tenancy must be a UUID");
        }
        SyncEngine.ResyncOutcome outcome;
        try {
            outcome = engine.resync(id, targetId, RESYNC_LOCK_WAIT);
        } catch (SQLException e) {
            return error(Response.Status.BAD_GATEWAY, SyncEngine.describe(e));
        }
        return switch (outcome) {
        case NOT_FOUND -> error(Response.Status.NOT_FOUND, "no such tenancy, or it has no valid target of that id");
        case BUSY -> error(Response.Status.CONFLICT, "a run holds this tenancy and target; try again");
        default -> {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("tenancyId", id.toString());
            out.put("targetId", targetId);
            out.put("outcome", outcome.name());
            out.put("truncated", outcome == SyncEngine.ResyncOutcome.RESET_DEDICATED);
            yield Response.accepted(out).build();
        }
        };
    }

    @GET
    @Path("/dead-letters")
    @Blocking
    public Response deadLetters(@QueryParam("tenancy") String tenancy, @QueryParam("limit") Integer limit,
            @QueryParam("after") String after) {
        UUID tenancyId = null;
        if (tenancy != null && !tenancy.isBlank()) {
            tenancyId = parseUuid(tenancy);
            if (tenancyId == null) {
                return error(Response.Status.BAD_REQUEST, "tenancy must be a UUID");
            }
        }
        int pageSize = limit == null ? DEFAULT_LIMIT : limit;
        if (pageSize < 1 || pageSize > MAX_LIMIT) {
            return error(Response.Status.BAD_REQUEST, "limit must be between 1 and " + MAX_LIMIT);
        }
        String[] from = FIRST.clone();
        if (after != null && !after.isBlank()) {
            try {
                JsonNode node = JSON.readTree(Base64.getUrlDecoder().decode(after));
                for (int i = 0; i < 4; i++) {
                    from[i] = node.get(i).asText();
                }
                UUID.fromString(from[0]);
            } catch (Exception e) {
                return error(Response.Status.BAD_REQUEST, "after is not a cursor this endpoint returned");
            }
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        String next = null;
        try (Connection c = internal.getConnection(); PreparedStatement ps = c.prepareStatement(DEAD_LETTERS)) {
            ps.setObject(1, tenancyId);
            ps.setObject(2, tenancyId);
            ps.setString(3, from[0]);
            ps.setString(4, from[1]);
            ps.setString(5, from[2]);
            ps.setString(6, from[3]);
            ps.setInt(7, pageSize + 1);
            try (ResultSet rs = ps.executeQuery()) {
                String[] last = null;
                while (rs.next()) {
                    if (rows.size() == pageSize) {
                        next = cursor(last);
                        break;
                    }
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("tenancyId", rs.getString(1));
                    row.put("targetId", rs.getString(2));
                    row.put("mapping", rs.getString(3));
                    row.put("key", rs.getString(4));
                    row.put("sequenceId", rs.getLong(5));
                    row.put("error", PostgresUrl.redact(rs.getString(6)));
                    row.put("firstSeenAt", rs.getString(7));
                    row.put("lastSeenAt", rs.getString(8));
                    rows.add(row);
                    last = new String[] { rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4) };
                }
            }
        } catch (SQLException e) {
            return error(Response.Status.INTERNAL_SERVER_ERROR, SyncEngine.describe(e));
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("deadLetters", rows);
        out.put("next", next);
        return Response.ok(out).build();
    }

    private static String cursor(String[] last) {
        ArrayNode node = JSON.createArrayNode();
        for (String part : last) {
            node.add(part);
        }
        return Base64.getUrlEncoder().withoutPadding()
                .encodeToString(node.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static UUID parseUuid(String value) {
        try {
            return UUID.fromString(value);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static Response error(Response.Status status, String message) {
        return Response.status(status).type(MediaType.APPLICATION_JSON).entity(Map.of("error", message)).build();
    }
}
