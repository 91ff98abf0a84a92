package dev.externaldbsync.poller;

import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

import dev.externaldbsync.contract.status.PollerStatus;

/**
 * {@code GET /api/v1/status}: what this poller replica is doing and the queue it works on (counts for all replicas,
 * refreshed every {@code poller.stats-interval}, never queried per call). Open like health: it shows no tenant data.
 */
@Path("/api/v1/status")
public class StatusResource {

    @Inject
    PollerService service;

    @GET
    @Produces(MediaType.APPLICATION_JSON)
    public PollerStatus status() {
        return service.status();
    }
}
