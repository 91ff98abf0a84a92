package dev.externaldbsync.poller.dashboard;

import java.util.List;
import java.util.Map;
import java.util.UUID;

import jakarta.inject.Inject;
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

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.contract.status.CappedCount;
import dev.externaldbsync.contract.status.EngineFigures;
import dev.externaldbsync.contract.status.EngineStatus;
import dev.externaldbsync.contract.status.MappingCount;
import dev.externaldbsync.contract.status.MappingProgress;
import dev.externaldbsync.contract.status.PollerLag;
import dev.externaldbsync.contract.status.PollerStatus;
import dev.externaldbsync.contract.status.RowsBehind;
import dev.externaldbsync.contract.status.RowsBehindRequest;
import dev.externaldbsync.contract.status.SequencerLastBatch;
import dev.externaldbsync.contract.status.SequencerLastError;
import dev.externaldbsync.contract.status.SequencerStatus;
import dev.externaldbsync.contract.status.TargetView;
import dev.externaldbsync.contract.status.TenancyView;
import dev.externaldbsync.poller.RequestQueue;
import dev.externaldbsync.service.Fusebox;
import dev.externaldbsync.service.AdminOnly;
import io.quarkus.runtime.annotations.RegisterForReflection;
import io.smallrye.common.annotation.Blocking;

/**
 * The dashboard's JSON, all {@link AdminOnly} (bearer, or Basic from the page; Basic mutations need
 * {@code X-Requested-By}):
 * <pre>
 * GET    /api/v1/admin/dashboard/snapshot[?fresh=true]      the last sample (fresh: one taken after the call)
 * GET    /api/v1/admin/dashboard/tenancies?q=ID|PROJECT     the engine's tenancy search (targets, cursors, pause)
 * POST   /api/v1/admin/dashboard/tenancies/{id}/targets/{targetId}/resync   forwarded to the sync engine
 * PUT    /api/v1/admin/dashboard/tenancies/{id}/pause                       forwarded to the sync engine
 * DELETE /api/v1/admin/dashboard/tenancies/{id}/pause                       forwarded to the sync engine
 * </pre>
 * The snapshot costs no work per call (the sampler's last sample) unless {@code fresh} asks for a new one. The search
 * and the actions are forwarded to the engine (the owner of those tables) and answer with its status and body, or
 * 502 when it cannot be reached.
 */
@Path("/api/v1/admin/dashboard")
@AdminOnly
// Entities go out inside a Response, so native builds cannot infer them: register the records the snapshot holds.
@RegisterForReflection(targets = { DashboardSampler.Snapshot.class, Fusebox.State.class, PollerStatus.class,
        RequestQueue.ParkedRequest.class, PollerLag.class, CappedCount.class, RowsBehind.class,
        RowsBehindRequest.class, MappingCount.class, TenancyView.class, TargetView.class, MappingProgress.class,
        SequencerStatus.class, SequencerLastBatch.class, SequencerLastError.class, EngineStatus.class,
        EngineFigures.class })
@Produces(MediaType.APPLICATION_JSON)
public class DashboardApiResource {

    /** The search result. */
    @RegisterForReflection
    public record Search(String query, List<TenancyView> tenancies) {
    }

    @Inject
    DashboardSampler sampler;

    @GET
    @Path("/snapshot")
    @Blocking
    public Response snapshot(@QueryParam("fresh") boolean fresh) {
        if (!sampler.enabled()) {
            return error(Response.Status.NOT_FOUND, "the dashboard is disabled (poller.dashboard-enabled=false)");
        }
        return Response.ok(sampler.snapshot(fresh))
                .header("Cache-Control", "no-store").build();
    }

    @GET
    @Path("/tenancies")
    @Blocking
    public Response tenancies(@QueryParam("q") String query) {
        if (query == null || query.isBlank() || query.length() > 200) {
            return error(Response.Status.BAD_REQUEST, "q must be a tenancy id or a project id");
        }
        try {
            return Response.ok(new Search(query.strip(), sampler.engine().tenancies(query.strip())))
                    .header("Cache-Control", "no-store").build();
        } catch (ServiceClient.Unavailable e) {
            return error(Response.Status.BAD_GATEWAY, "search failed: " + PostgresUrl.redact(e.getMessage()));
        }
    }

    @POST
    @Path("/tenancies/{tenancyId}/targets/{targetId}/resync")
    @Blocking
    public Response resync(@PathParam("tenancyId") String tenancyId, @PathParam("targetId") String targetId) {
        UUID id = uuid(tenancyId);
        if (id == null) {
            return error(Response.Status.BAD_REQUEST, "tenancy must be a UUID");
        }
        return forward("POST", "/api/v1/admin/tenancies/" + id + "/targets/" + EngineClient.segment(targetId)
                + "/resync");
    }

    @PUT
    @Path("/tenancies/{tenancyId}/pause")
    @Blocking
    public Response pause(@PathParam("tenancyId") String tenancyId) {
        UUID id = uuid(tenancyId);
        return id == null ? error(Response.Status.BAD_REQUEST, "tenancy must be a UUID")
                : forward("PUT", "/api/v1/admin/tenancies/" + id + "/pause");
    }

    @DELETE
    @Path("/tenancies/{tenancyId}/pause")
    @Blocking
    public Response resume(@PathParam("tenancyId") String tenancyId) {
        UUID id = uuid(tenancyId);
        return id == null ? error(Response.Status.BAD_REQUEST, "tenancy must be a UUID")
                : forward("DELETE", "/api/v1/admin/tenancies/" + id + "/pause");
    }

    private Response forward(String method, String path) {
        ServiceClient.Answer answer = sampler.engine().admin(method, path);
        if (!answer.reachable()) {
            return error(Response.Status.BAD_GATEWAY, answer.error());
        }
        String body = answer.body() == null || answer.body().isBlank() ? "{}" : answer.body();
        return Response.status(answer.status()).type(MediaType.APPLICATION_JSON).entity(body).build();
    }

    private static UUID uuid(String value) {
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
