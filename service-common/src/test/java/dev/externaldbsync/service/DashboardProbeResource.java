package dev.externaldbsync.service;

import java.util.Map;

import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

/** A test-only admin route under the dashboard's API prefix, to see which challenge and CSRF rules apply there. */
@Path("/api/v1/admin/dashboard/probe")
@AdminOnly
@Produces(MediaType.APPLICATION_JSON)
public class DashboardProbeResource {

    @GET
    public Map<String, String> get() {
        return Map.of("probe", "read");
    }

    @POST
    public Map<String, String> post() {
        return Map.of("probe", "written");
    }
}
