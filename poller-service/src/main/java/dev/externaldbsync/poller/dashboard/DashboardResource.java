package dev.externaldbsync.poller.dashboard;

import java.io.IOException;
import java.io.InputStream;
import java.util.Map;

import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;

import dev.externaldbsync.service.AdminOnly;

/**
 * The operators' dashboard page and its three assets, read from the classpath ({@code dashboard/}), behind the admin
 * token like the admin API (a browser signs in with the Basic prompt: any user name, the token as password; see
 * {@code AdminAuthFilter}). Not under {@code META-INF/resources}, which Quarkus would serve without the filter.
 * <pre>
 * GET /dashboard             the page
 * GET /dashboard/app.js      its script (an ES module), app.css its style sheet
 * </pre>
 * Every answer forbids framing and sets a strict content security policy (same-origin scripts, styles and fetches
 * only), so the page cannot be embedded for click-jacking nor load anything from elsewhere.
 */
@Path("/dashboard")
@AdminOnly
public class DashboardResource {

    private static final Map<String, String> ASSETS = Map.of(
            "index.html", "text/html; charset=utf-8",
            "app.js", "text/javascript; charset=utf-8",
            "app.css", "text/css; charset=utf-8");

    static final String CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    @Inject
    DashboardSampler sampler;

    @GET
    public Response page(@Context UriInfo uri) {
        if (uri.getPath().endsWith("/")) {
            // The page's URLs are relative to /dashboard (so a path prefix in front of the service keeps working).
            return Response.status(Response.Status.SEE_OTHER).header("Location", "../dashboard").build();
        }
        return asset("index.html");
    }

    @GET
    @Path("/{asset}")
    public Response asset(@PathParam("asset") String asset) {
        String type = ASSETS.get(asset);
        if (type == null || !sampler.enabled()) {
            return Response.status(Response.Status.NOT_FOUND).build();
        }
        byte[] body;
        try (InputStream in = DashboardResource.class.getClassLoader().getResourceAsStream("dashboard/" + asset)) {
            if (in == null) {
                return Response.status(Response.Status.NOT_FOUND).build();
            }
            body = in.readAllBytes();
        } catch (IOException e) {
            return Response.serverError().build();
        }
        return Response.ok(body).type(type)
                .header("Cache-Control", "no-cache")
                .header("Content-Security-Policy", CSP)
                .header("X-Content-Type-Options", "nosniff")
                .header("X-Frame-Options", "DENY")
                .header("Referrer-Policy", "no-referrer")
                .build();
    }
}
