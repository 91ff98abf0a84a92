package dev.externaldbsync.poller;

import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import jakarta.inject.Inject;
import jakarta.ws.rs.DefaultValue;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import dev.externaldbsync.service.AdminOnly;

/**
 * Operator actions on parked requests (bearer {@code ADMIN_TOKEN}):
 * <pre>
 * GET  /api/v1/admin/requests/parked?after=&lt;id&gt;&amp;limit=100   → {"requests": [...], "nextAfter": id|null}
 * POST /api/v1/admin/requests/{id}/requeue                      → {"requeued": 1} or 404
 * POST /api/v1/admin/requests/requeue-parked                    → {"requeued": n}
 * </pre>
 * A requeued request is due at once on every replica, with its attempt count reset.
 */
@Path("/api/v1/admin/requests")
@AdminOnly
@Produces(MediaType.APPLICATION_JSON)
public class AdminRequestsResource {

    /** One page of parked requests; pass {@code nextAfter} as {@code after} for the next page (null: last page). */
    public record ParkedPage(List<RequestQueue.ParkedRequest> requests, UUID nextAfter) {
    }

    static final int MAX_PAGE = 1000;

    @Inject
    RequestQueue queue;

    @Inject
    PollerService service;

    @GET
    @Path("/parked")
    public ParkedPage parked(@QueryParam("after") UUID after, @QueryParam("limit") @DefaultValue("100") int limit)
            throws SQLException {
        int size = Math.max(1, Math.min(limit, MAX_PAGE));
        List<RequestQueue.ParkedRequest> page = queue.parked(after, size);
        return new ParkedPage(page, page.size() == size ? page.get(page.size() - 1).id() : null);
    }

    @POST
    @Path("/{id}/requeue")
    public Response requeue(@PathParam("id") UUID id) throws SQLException {
        if (!queue.requeue(id)) {
            return Response.status(Response.Status.NOT_FOUND)
                    .entity(Map.of("error", "no parked request with id " + id)).build();
        }
        service.wake();
        return Response.ok(Map.of("requeued", 1)).build();
    }

    @POST
    @Path("/requeue-parked")
    public Map<String, Long> requeueParked() throws SQLException {
        long n = queue.requeueAllParked();
        service.wake();
        return Map.of("requeued", n);
    }
}
