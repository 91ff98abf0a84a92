package dev.externaldbsync.engine.api;

import java.sql.Connection;
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

import dev.externaldbsync.contract.status.CappedCount;
import dev.externaldbsync.contract.status.EnginePoisonRow;
import dev.externaldbsync.contract.status.EngineStatus;
import dev.externaldbsync.contract.status.EngineTargetStatus;
import dev.externaldbsync.contract.status.EngineTenancyStatus;
import dev.externaldbsync.contract.status.ErrorText;
import dev.externaldbsync.contract.status.MappingProgress;
import dev.externaldbsync.engine.EngineConfig;
import dev.externaldbsync.engine.SyncEngine;
import dev.externaldbsync.engine.errors.SqlFailure;
import dev.externaldbsync.engine.store.DeadLetters;
import dev.externaldbsync.engine.store.Pauses;
import dev.externaldbsync.engine.store.ProgressStore;
import dev.externaldbsync.engine.target.TargetPools;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.service.AdminAuthFilter;
import dev.externaldbsync.service.AdminConfig;
import dev.externaldbsync.service.AdminOnly;
import dev.externaldbsync.service.InstanceId;
import io.agroal.api.AgroalDataSource;
import io.smallrye.common.annotation.Blocking;

/**
 * The engine's status, from memory and the internal progress mirror only (never opens an external database), each
 * figure an index range stopped at a cap or a table statistic, so a call stays cheap with millions of tenancies
 * (counts say when they are capped or estimated).
 * {@code GET /api/v1/status}: global figures ({@link EngineStatus}), open; without the admin token its error fields
 * carry only the error's class ({@link ErrorText#classOf}), because a text names target hosts, users, databases and
 * URL parameters; with the token, the redacted, bounded texts. Per-tenancy detail
 * ({@link EngineTenancyStatus}: cursor per mapping, last success, last error, poison rows) is tenant data:
 * {@code GET /api/v1/status/tenancies/{id}} is {@link AdminOnly}, and {@code GET /api/v1/status?tenancy=ID} answers
 * the same after the same bearer check (JAX-RS cannot bind a filter to a query parameter, so that variant checks the
 * token itself).
 */
@Path("/api/v1/status")
@Produces(MediaType.APPLICATION_JSON)
public class StatusResource {

    /** Counts above this are reported as capped ("…Capped": true): the count reads at most this many entries. */
    static final int COUNT_CAP = 10_000;

    /** (tenancy, target)s counted exactly up to this many; above, the estimate from the table statistics. */
    static final int TRACKED_EXACT_CAP = 1_000;

    /** Dead-lettered rows listed per tenancy. */
    static final int POISON_LISTED = 100;

    /** This replica: the host name (the pod name in Kubernetes). */
    static final String INSTANCE_ID = InstanceId.host();

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
            @HeaderParam(HttpHeaders.AUTHORIZATION) String authorization) throws SQLException {
        if (tenancy != null && !tenancy.isBlank()) {
            if (!AdminAuthFilter.accepts(admin, authorization)) {
                throw new ApiError(Response.Status.UNAUTHORIZED, "per-tenancy status needs the admin bearer token");
            }
            return tenancy(tenancy);
        }
        return Response.ok(global(AdminAuthFilter.accepts(admin, authorization))).build();
    }

    /** @param texts whether the caller may read error texts (holds the admin token); else only their classes */
    EngineStatus global(boolean texts) {
        Long tracked = null;
        Boolean estimate = null;
        CappedCount failing = null;
        String oldest = null;
        CappedCount poison = null;
        CappedCount paused = null;
        CappedCount backedOff = null;
        String internalError = null;
        try (Connection c = internal.getConnection()) {
            ProgressStore.Figures figures = ProgressStore.figures(c, TRACKED_EXACT_CAP, COUNT_CAP);
            tracked = figures.tracked();
            estimate = !figures.trackedExact();
            failing = CappedCount.of(figures.failingCounted(), COUNT_CAP);
            oldest = figures.oldestFailingSince();
            poison = DeadLetters.count(c, COUNT_CAP);
            paused = Pauses.count(c, COUNT_CAP);
            backedOff = CappedCount.of(ProgressStore.backedOff(c, COUNT_CAP), COUNT_CAP);
        } catch (SQLException e) {
            internalError = texts ? SqlFailure.describe(e) : "internal-database";
        }
        return new EngineStatus("sync-engine", engine.isShuttingDown() ? "shutting-down" : "running",
                engine.activeRuns(), engine.completedRuns(), pools.openPools(), config.pageSize(),
                Mappings.SCHEMA_VERSION, Mappings.ALL.stream().map(Mapping::name).toList(), INSTANCE_ID,
                engine.rowsAppliedSinceStart(), tracked, estimate, failing == null ? null : failing.value(),
                failing == null ? null : failing.capped(), oldest, poison == null ? null : poison.value(),
                poison == null ? null : poison.capped(), paused == null ? null : paused.value(),
                paused == null ? null : paused.capped(), internalError,
                engine.lastError() == null ? null
                        : texts ? SqlFailure.redactBounded(engine.lastError()) : ErrorText.classOf(engine.lastError()),
                engine.lastErrorAt() == null ? null : engine.lastErrorAt().toString(),
                backedOff == null ? null : backedOff.value(), backedOff == null ? null : backedOff.capped());
    }

    @GET
    @Path("/tenancies/{tenancyId}")
    @AdminOnly
    @Blocking
    public Response tenancy(@PathParam("tenancyId") String tenancyId) throws SQLException {
        UUID id = AdminResource.uuid(tenancyId);
        Map<String, List<MappingProgress>> progress;
        List<DeadLetters.Entry> poison;
        boolean paused;
        try (Connection c = internal.getConnection()) {
            paused = Pauses.isPaused(c, id);
            progress = ProgressStore.ofTenancy(c, id);
            poison = DeadLetters.ofTenancy(c, id, POISON_LISTED);
        }
        Map<String, List<EnginePoisonRow>> poisonByTarget = new LinkedHashMap<>();
        for (DeadLetters.Entry e : poison) {
            progress.putIfAbsent(e.targetId(), new ArrayList<>());
            poisonByTarget.computeIfAbsent(e.targetId(), k -> new ArrayList<>()).add(new EnginePoisonRow(e.mapping(),
                    e.key(), e.sequenceId(), e.error(), e.firstSeenAt(), e.lastSeenAt()));
        }
        List<EngineTargetStatus> targets = new ArrayList<>();
        progress.forEach((targetId, mappings) -> targets.add(new EngineTargetStatus(targetId, mappings,
                poisonByTarget.getOrDefault(targetId, List.of()))));
        return Response.ok(new EngineTenancyStatus(id.toString(), paused, targets)).build();
    }
}
