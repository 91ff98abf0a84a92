package dev.externaldbsync.poller;

import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;

import dev.externaldbsync.contract.status.ErrorText;
import dev.externaldbsync.contract.status.PollerStatus;
import dev.externaldbsync.service.AdminAuthFilter;
import dev.externaldbsync.service.AdminConfig;

/**
 * {@code GET /api/v1/status}: what this poller replica is doing and the queue it works on (counts for all replicas,
 * refreshed every {@code poller.stats-interval}, never queried per call). Open like health for the counts; its
 * {@code lastError} quotes the engine's answers (target hosts, databases, tenancy ids), so without the admin token it
 * carries only the error's class ({@link ErrorText#classOf}).
 */
@Path("/api/v1/status")
public class StatusResource {

    @Inject
    PollerService service;

    @Inject
    AdminConfig admin;

    @GET
    @Produces(MediaType.APPLICATION_JSON)
    public PollerStatus status(@HeaderParam(HttpHeaders.AUTHORIZATION) String authorization) {
        PollerStatus s = service.status();
        if (s.lastError() == null || AdminAuthFilter.accepts(admin, authorization)) {
            return s;
        }
        return s.withLastError(ErrorText.classOf(s.lastError()));
    }
}
