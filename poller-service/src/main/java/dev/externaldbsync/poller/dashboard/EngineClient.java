package dev.externaldbsync.poller.dashboard;

import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.contract.status.CappedCount;
import dev.externaldbsync.contract.status.EngineFigures;
import dev.externaldbsync.contract.status.EngineStatus;
import dev.externaldbsync.contract.status.ErrorText;
import dev.externaldbsync.contract.status.RowsBehind;
import dev.externaldbsync.contract.status.RowsBehindRequest;
import dev.externaldbsync.contract.status.TenancyView;

/**
 * The dashboard's calls to the sync engine over {@code SYNC_ENGINE_URL} (the poller → engine path the network policy
 * already allows): its open status, rows behind and the tenancy search (admin), and the forwarded admin actions.
 * Everything the dashboard shows of the engine's own tables comes through here. Thread-safe.
 */
public final class EngineClient {

    /** What the dashboard reads of the engine's {@code GET /api/v1/status}. */
    record Status(String state, Long activeRuns, String instanceId, Long rowsAppliedSinceStart, String lastError,
            String lastErrorAt, CappedCount failingTargets, String oldestFailingSince, CappedCount poisonRows) {
    }

    private final ServiceClient http;

    /** @param base the engine's base URL, or null when {@code SYNC_ENGINE_URL} is not set */
    public EngineClient(URI base, Optional<String> adminToken, ObjectMapper mapper) {
        this.http = new ServiceClient("sync engine", "SYNC_ENGINE_URL", base, adminToken, mapper);
    }

    /** {@code GET /api/v1/status}, the engine's typed {@link EngineStatus}: the one place that reads it. */
    Status status() throws ServiceClient.Unavailable {
        EngineStatus s = http.getOpen("/api/v1/status", http.type(EngineStatus.class));
        EngineFigures figures = s.figures();
        return new Status(s.state(), (long) s.activeRuns(), s.instanceId(), s.rowsAppliedSinceStart(),
                s.lastError() == null ? null : ErrorText.bounded(PostgresUrl.redact(s.lastError())), s.lastErrorAt(),
                figures == null ? null : figures.failingTargets(),
                figures == null ? null : figures.oldestFailingSince(),
                figures == null ? null : figures.poisonRows());
    }

    /** {@code POST /api/v1/admin/rows-behind}: rows the engine still has to apply for these tenancies. */
    RowsBehind rowsBehind(RowsBehindRequest request) throws ServiceClient.Unavailable {
        return http.post("/api/v1/admin/rows-behind", request, RowsBehind.class);
    }

    /** {@code GET /api/v1/admin/tenancies?query=}: a tenancy by id, or a project's tenancies, with their targets. */
    List<TenancyView> tenancies(String query) throws ServiceClient.Unavailable {
        return http.get("/api/v1/admin/tenancies?query=" + URLEncoder.encode(query, StandardCharsets.UTF_8), true,
                http.mapper().getTypeFactory().constructCollectionType(List.class, TenancyView.class));
    }

    /** An admin call with an empty body; the engine's answer is passed through. */
    ServiceClient.Answer admin(String method, String path) {
        return http.send(method, path, true, null);
    }

    /** Encodes one path segment (a target id may contain anything a JSON key can). */
    static String segment(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
