package dev.externaldbsync.engine;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.service.AdminConfig;
import dev.externaldbsync.service.AdminOnly;
import io.agroal.api.AgroalDataSource;
import io.smallrye.common.annotation.Blocking;

/**
 * The engine's status, from memory and the internal progress mirror only (never opens an external database), each
 * figure an index range stopped at a cap or a table statistic, so a call stays cheap with millions of tenancies
 * (counts say when they are capped or estimated).
 * {@code GET /api/v1/status}: global figures, open. Per-tenancy detail (cursor per mapping, last success, last
 * error, poison rows) is tenant data: {@code GET /api/v1/status/tenancies/{id}} is {@link AdminOnly}, and
 * {@code GET /api/v1/status?tenancy=ID} answers the same after the same bearer check (JAX-RS cannot bind a filter to
 * a query parameter, so that variant checks the token itself).
 */
@Path("/api/v1/status")
@Produces(MediaType.APPLICATION_JSON)
public class StatusResource {

    /** Counts above this are reported as capped ("…Capped": true): the count reads at most this many entries. */
    static final int COUNT_CAP = 10_000;

    /** (tenancy, target)s counted exactly up to this many; above, the estimate from the table statistics. */
    static final int TRACKED_EXACT_CAP = 1_000;

    /*
     * Every figure is an index range that stops at its cap, or a statistic: no statement reads a table that grows
     * with the tenancies (11,000,000 mirror rows at 1,000,000 tenancies). Measured with StatusAtScaleBenchmark
     * (e2e-tests). Tracked targets: the primary key's leading columns, distinct, stopped after the cap (about 11
     * entries per target); beyond, n_live_tup / mappings from the cumulative statistics. Failing targets: the partial
     * index of failing rows ("SyncEngineProgress_failing_target_idx", V45), empty when all is well. Oldest failure:
     * the first entry of the partial index on "failingSince". Poison rows and paused tenancies: their primary keys,
     * stopped at the cap.
     */
    private static final String GLOBAL = """
            SELECT (SELECT count(*) FROM (SELECT DISTINCT "tenancyId", "targetId" FROM "SyncEngineProgress"
                                          ORDER BY 1, 2 LIMIT %1$d) AS t),
                   (SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = '"SyncEngineProgress"'::regclass),
                   (SELECT count(*) FROM (SELECT DISTINCT "tenancyId", "targetId" FROM "SyncEngineProgress"
                                          WHERE "failingSince" IS NOT NULL ORDER BY 1, 2 LIMIT %2$d) AS f),
                   (SELECT min("failingSince") FROM "SyncEngineProgress" WHERE "failingSince" IS NOT NULL)::text,
                   (SELECT count(*) FROM (SELECT 1 FROM "SyncEnginePoisonRow" LIMIT %2$d) AS p),
                   (SELECT count(*) FROM (SELECT 1 FROM "ExternalDbSyncTenancyPause" LIMIT %2$d) AS z)"""
            .formatted(TRACKED_EXACT_CAP + 1, COUNT_CAP + 1);

    private static final String PAUSED = """
            SELECT EXISTS (SELECT 1 FROM "ExternalDbSyncTenancyPause" WHERE "tenancyId" = ?)""";

    private static final String PROGRESS = """
            SELECT "targetId", "mappingName", "cursor", "rowsApplied", "lastSuccessAt"::text, "lastErrorAt"::text,
                   "lastError", "failingSince"::text
            FROM "SyncEngineProgress" WHERE "tenancyId" = ? ORDER BY "targetId", "mappingName\"""";

    private static final String POISON = """
            SELECT "targetId", "mappingName", "rowKey"::text, "sequenceId", "error", "firstSeenAt"::text,
                   "lastSeenAt"::text
            FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ? ORDER BY "targetId", "mappingName", "sequenceId"
            LIMIT 100""";

    @Inject
    SyncEngine engine;

    @Inject
    TargetPools pools;

    @Inject
    EngineConfig config;

    @Inject
    AdminConfig admin;

    @Inject
    AgroalDataSource internal;

    @GET
    @Blocking
    public Response status(@QueryParam("tenancy") String tenancy,
            @HeaderParam(HttpHeaders.AUTHORIZATION) String authorization) {
        if (tenancy != null && !tenancy.isBlank()) {
            if (!isAdmin(authorization)) {
                return Response.status(Response.Status.UNAUTHORIZED).type(MediaType.APPLICATION_JSON)
                        .entity(Map.of("error", "per-tenancy status needs the admin bearer token")).build();
            }
            return tenancy(tenancy);
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("service", "sync-engine");
        body.put("state", engine.isShuttingDown() ? "shutting-down" : "running");
        body.put("activeRuns", engine.activeRuns());
        body.put("completedRuns", engine.completedRuns());
        body.put("openPools", pools.openPools());
        body.put("pageSize", config.pageSize());
        body.put("schemaVersion", Mappings.SCHEMA_VERSION);
        body.put("mappings", Mappings.ALL.stream().map(m -> m.name()).toList());
        body.put("instanceId", INSTANCE_ID);
        body.put("rowsAppliedSinceStart", engine.rowsAppliedSinceStart());
        try (Connection c = internal.getConnection(); PreparedStatement ps = c.prepareStatement(GLOBAL);
                ResultSet rs = ps.executeQuery()) {
            rs.next();
            long tracked = rs.getLong(1);
            boolean exact = tracked <= TRACKED_EXACT_CAP;
            long estimate = Math.round(rs.getLong(2) / (double) Mappings.ALL.size());
            body.put("trackedTargets", exact ? tracked : Math.max(estimate, tracked));
            body.put("trackedTargetsEstimate", !exact);
            capped(body, "failingTargets", rs.getLong(3));
            body.put("oldestFailingSince", rs.getString(4));
            capped(body, "poisonRows", rs.getLong(5));
            capped(body, "pausedTenancies", rs.getLong(6));
        } catch (SQLException e) {
            body.put("internalDatabaseError", SyncEngine.describe(e));
        }
        body.put("lastError", engine.lastError() == null ? null : PostgresUrl.redact(engine.lastError()));
        body.put("lastErrorAt", engine.lastErrorAt() == null ? null : engine.lastErrorAt().toString());
        return Response.ok(body).build();
    }

    @GET
    @Path("/tenancies/{tenancyId}")
    @AdminOnly
    @Blocking
    public Response tenancy(@PathParam("tenancyId") String tenancyId) {
        UUID id;
        try {
            id = UUID.fromString(tenancyId);
        } catch (IllegalArgumentException e) {
            return Response.status(Response.Status.BAD_REQUEST).type(MediaType.APPLICATION_JSON)
                    .entity(Map.of("error", "tenancy must be a UUID")).build();
        }
        Map<String, Map<String, Object>> targets = new LinkedHashMap<>();
        boolean paused;
        try (Connection c = internal.getConnection()) {
            try (PreparedStatement ps = c.prepareStatement(PAUSED)) {
                ps.setObject(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    paused = rs.next() && rs.getBoolean(1);
                }
            }
            try (PreparedStatement ps = c.prepareStatement(PROGRESS)) {
                ps.setObject(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        Map<String, Object> mapping = new LinkedHashMap<>();
                        mapping.put("mapping", rs.getString(2));
                        mapping.put("cursor", rs.getLong(3));
                        mapping.put("rowsApplied", rs.getLong(4));
                        mapping.put("lastSuccessAt", rs.getString(5));
                        mapping.put("lastErrorAt", rs.getString(6));
                        mapping.put("lastError", rs.getString(7) == null ? null : PostgresUrl.redact(rs.getString(7)));
                        mapping.put("failingSince", rs.getString(8));
                        target(targets, rs.getString(1)).get("mappings").add(mapping);
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement(POISON)) {
                ps.setObject(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        Map<String, Object> poison = new LinkedHashMap<>();
                        poison.put("mapping", rs.getString(2));
                        poison.put("key", rs.getString(3));
                        poison.put("sequenceId", rs.getLong(4));
                        poison.put("error", PostgresUrl.redact(rs.getString(5)));
                        poison.put("firstSeenAt", rs.getString(6));
                        poison.put("lastSeenAt", rs.getString(7));
                        target(targets, rs.getString(1)).get("poisonRows").add(poison);
                    }
                }
            }
        } catch (SQLException e) {
            return Response.serverError().type(MediaType.APPLICATION_JSON)
                    .entity(Map.of("error", SyncEngine.describe(e))).build();
        }
        List<Map<String, Object>> list = new ArrayList<>();
        targets.forEach((targetId, parts) -> {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("targetId", targetId);
            t.putAll(parts);
            list.add(t);
        });
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("tenancyId", id.toString());
        body.put("paused", paused);
        body.put("targets", list);
        return Response.ok(body).build();
    }

    /** A count read up to {@link #COUNT_CAP}: {@code name} is the cap when {@code nameCapped} is true ("at least"). */
    private static void capped(Map<String, Object> body, String name, long count) {
        body.put(name, Math.min(count, COUNT_CAP));
        body.put(name + "Capped", count > COUNT_CAP);
    }

    /** This replica: the host name (the pod name in Kubernetes). */
    static final String INSTANCE_ID = hostName();

    private static String hostName() {
        String env = System.getenv("HOSTNAME");
        if (env != null && !env.isBlank()) {
            return env;
        }
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }

    @SuppressWarnings({ "unchecked", "rawtypes" })
    private static Map<String, List> target(Map<String, Map<String, Object>> targets, String targetId) {
        return (Map) targets.computeIfAbsent(targetId, k -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("mappings", new ArrayList<>());
            m.put("poisonRows", new ArrayList<>());
            return m;
        });
    }

    private boolean isAdmin(String authorization) {
        String token = admin.token().orElse("");
        if (token.isBlank() || authorization == null || !authorization.startsWith("Bearer ")) {
            return false;
        }
        return MessageDigest.isEqual(authorization.substring("Bearer ".length()).strip().getBytes(StandardCharsets.UTF_8),
                token.getBytes(StandardCharsets.UTF_8));
    }
}
