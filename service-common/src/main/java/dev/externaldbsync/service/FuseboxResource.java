package dev.externaldbsync.service;

import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.core.MediaType;

/**
 * The fusebox over HTTP, on every service (any replica may be asked):
 * <pre>
 * GET /api/v1/admin/fusebox                                   → {"sequencerEnabled": true, "pollerEnabled": true}
 * PUT /api/v1/admin/fusebox {"sequencerEnabled": false}       → the state after the change (absent keys unchanged)
 * </pre>
 */
@Path("/api/v1/admin/fusebox")
@AdminOnly
@Produces(MediaType.APPLICATION_JSON)
public class FuseboxResource {

    /** A partial update: null leaves a switch unchanged. */
    public record Change(Boolean sequencerEnabled, Boolean pollerEnabled) {
    }

    @Inject
    Fusebox fusebox;

    @GET
    public Fusebox.State get() {
        return fusebox.read();
    }

    @PUT
    @Consumes(MediaType.APPLICATION_JSON)
    public Fusebox.State put(Change change) {
        return fusebox.update(change.sequencerEnabled(), change.pollerEnabled());
    }
}
