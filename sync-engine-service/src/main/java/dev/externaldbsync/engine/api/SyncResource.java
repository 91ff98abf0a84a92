package dev.externaldbsync.engine.api;

import java.io.IOException;
import java.io.InputStream;
import java.time.Clock;
import java.util.Map;

import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import org.jboss.logging.Logger;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.contract.RequestSigner;
import dev.externaldbsync.contract.SyncContract;
import dev.externaldbsync.contract.SyncRequest;
import dev.externaldbsync.engine.SigningConfig;
import dev.externaldbsync.engine.SyncEngine;
import dev.externaldbsync.engine.errors.RunAbort;
import io.smallrye.common.annotation.Blocking;

/**
 * {@code POST /api/v1/sync} (see {@link SyncContract}): {@link SyncRequestGate} refuses missing, malformed or stale
 * signature headers and a declared oversized body before the body is read; this resource then reads at most
 * {@link SyncRequestGate#maxBodyBytes} (413 beyond) and verifies the signature over the exact body bytes before
 * anything else (401 and no work otherwise), then syncs every named tenancy and answers per tenancy and target.
 * 400 for a body that is not a sync request, 503 while shutting down. Runs on a worker thread (blocking JDBC).
 */
@Path(SyncContract.SYNC_PATH)
public class SyncResource {

    private static final Logger LOG = Logger.getLogger(SyncResource.class);

    @Inject
    SyncEngine engine;

    @Inject
    SigningConfig signing;

    @Inject
    Clock clock;

    @Inject
    ObjectMapper json;

    private RequestSigner signer;

    @PostConstruct
    void init() {
        try {
            signer = new RequestSigner(signing.signingSecret().orElse(null), clock, signing.signingTolerance());
        } catch (IllegalArgumentException e) {
            LOG.warn("SYNC_SIGNING_SECRET is missing or too short: every sync request will be refused");
        }
    }

    @POST
    @Blocking
    @SignedSync
    @Consumes(MediaType.WILDCARD)
    @Produces(MediaType.APPLICATION_JSON)
    public Response sync(@HeaderParam(SyncContract.TIMESTAMP_HEADER) String timestamp,
            @HeaderParam(SyncContract.SIGNATURE_HEADER) String signature, InputStream stream) throws IOException {
        if (engine.isShuttingDown()) {
            return error(Response.Status.SERVICE_UNAVAILABLE, RunAbort.SHUTTING_DOWN);
        }
        if (signer == null) {
            return error(Response.Status.UNAUTHORIZED, "signing secret not configured");
        }
        // A chunked body declares no length: the gate could not refuse it, so the read itself is bounded.
        byte[] body = SyncRequestGate.readBounded(stream, SyncRequestGate.maxBodyBytes(signing));
        if (body == null) {
            return SyncRequestGate.tooLarge(signing);
        }
        RequestSigner.Verification verification = signer.verify(timestamp, signature, body);
        if (verification != RequestSigner.Verification.VALID) {
            return error(Response.Status.UNAUTHORIZED, "signature " + verification.name().toLowerCase());
        }
        SyncRequest request;
        try {
            request = json.readValue(body, SyncRequest.class);
        } catch (IOException | RuntimeException e) {
            return error(Response.Status.BAD_REQUEST, "body is not a sync request");
        }
        if (request == null || request.tenancyIds().stream().anyMatch(java.util.Objects::isNull)) {
            return error(Response.Status.BAD_REQUEST, "tenancyIds must be a list of UUIDs");
        }
        return Response.ok(engine.sync(request.tenancyIds())).build();
    }

    private static Response error(Response.Status status, String message) {
        return Response.status(status).type(MediaType.APPLICATION_JSON).entity(Map.of("error", message)).build();
    }
}
