package dev.externaldbsync.engine.api;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;

import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
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

import org.jboss.logging.Logger;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.config.TargetConfig;
import dev.externaldbsync.config.TargetConfigError;
import dev.externaldbsync.config.TargetConfigs;
import dev.externaldbsync.config.TenancyDirectory;
import dev.externaldbsync.contract.status.CappedCount;
import dev.externaldbsync.contract.status.EngineDeadLetters;
import dev.externaldbsync.contract.status.MappingCount;
import dev.externaldbsync.contract.status.MappingProgress;
import dev.externaldbsync.contract.status.RowsBehind;
import dev.externaldbsync.contract.status.RowsBehindRequest;
import dev.externaldbsync.contract.status.TargetView;
import dev.externaldbsync.contract.status.TenancyView;
import dev.externaldbsync.engine.EngineConfig;
import dev.externaldbsync.engine.SyncEngine;
import dev.externaldbsync.engine.errors.SqlFailure;
import dev.externaldbsync.engine.read.ChangeReader;
import dev.externaldbsync.engine.run.Resync;
import dev.externaldbsync.engine.store.DeadLetters;
import dev.externaldbsync.engine.store.Pauses;
import dev.externaldbsync.engine.store.ProgressStore;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.service.AdminOnly;
import io.agroal.api.AgroalDataSource;
import io.smallrye.common.annotation.Blocking;

/**
 * The sync engine's admin API, all behind {@link AdminOnly} (bearer {@code ADMIN_TOKEN}, 401 without it):
 * <ul>
 * <li>{@code PUT /api/v1/admin/tenancies/{id}/pause} (optional body {@code {"reason": "…"}}): runs of the tenancy do
 * no target work and answer PAUSED without retry; its changes keep being stamped and wait.</li>
 * <li>{@code DELETE /api/v1/admin/tenancies/{id}/pause}: resume; enqueues the tenancy so it catches up at once.</li>
 * <li>{@code POST /api/v1/admin/tenancies/{id}/targets/{targetId}/resync}: see {@link Resync}.</li>
 * <li>{@code GET /api/v1/admin/dead-letters?tenancy=&limit=&after=}: poison rows, keyset-paged on their primary key
 * ({@code next} is the opaque {@code after} of the following page, null on the last one).</li>
 * <li>{@code GET /api/v1/admin/tenancies?query=<tenancy id or project id>}: {@link TenancyView}s, at most
 * {@value #SEARCH_LIMIT}, URLs redacted.</li>
 * <li>{@code POST /api/v1/admin/rows-behind} ({@link RowsBehindRequest}): {@link RowsBehind} of the given
 * tenancies.</li>
 * </ul>
 * Stateless and thread-safe; every call is a few indexed statements on the internal database.
 */
@Path("/api/v1/admin")
@Produces(MediaType.APPLICATION_JSON)
@AdminOnly
public class AdminResource {

    private static final Logger LOG = Logger.getLogger(AdminResource.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** How long a resync waits for a run of the same (tenancy, target) to release its lock before answering 409. */
    static final Duration RESYNC_LOCK_WAIT = Duration.ofSeconds(30);

    static final int DEFAULT_LIMIT = 100;
    static final int MAX_LIMIT = 1000;

    /** Most tenancies one search by project id returns. */
    static final int SEARCH_LIMIT = 20;

    /** Dead-lettered rows counted per tenancy in a search result. */
    static final int SEARCH_POISON_CAP = 1000;

    /** Most tenancies one rows-behind request may name, and the highest cap per tenancy and mapping. */
    static final int ROWS_BEHIND_MAX_TENANCIES = 100;
    static final int ROWS_BEHIND_MAX_CAP = 10_000;

    /** What "rows behind" means; shown next to the figures. */
    static final String ROWS_BEHIND_DEFINITION = "What the engine still has to apply: per mapping, rows stamped "
            + "above the tenancy's lowest cursor over its targets, summed over the %d given tenancies that have "
            + "targets and are not paused (at most %d per tenancy and mapping). Unstamped rows are not included.";

    private static final String ENQUEUE = "SELECT sync_enqueue_tenancies(ARRAY[?]::uuid[])";

    /** Below every real key: the first page starts here. */
    private static final String[] FIRST = { "00000000-0000-0000-0000-000000000000", "", "", "null" };

    @Inject
    AgroalDataSource internal;

    @Inject
    SyncEngine engine;

    @Inject
    EngineConfig config;

    @PUT
    @Path("/tenancies/{tenancyId}/pause")
    @Consumes(MediaType.WILDCARD)
    @Blocking
    public Map<String, Object> pause(@PathParam("tenancyId") String tenancyId, String body) throws SQLException {
        UUID id = uuid(tenancyId);
        String reason = null;
        if (body != null && !body.isBlank()) {
            try {
                JsonNode r = JSON.readTree(body).get("reason");
                reason = r == null || r.isNull() ? null : r.asText();
            } catch (Exception e) {
                throw new ApiError(Response.Status.BAD_REQUEST, "body must be {\"reason\": \"…\"} or empty");
            }
        }
        Optional<String> pausedAt;
        try (Connection c = internal.getConnection()) {
            pausedAt = Pauses.pause(c, id, reason);
        }
        if (pausedAt.isEmpty()) {
            throw new ApiError(Response.Status.NOT_FOUND, "no such tenancy");
        }
        LOG.infof("Tenancy %s paused", id);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("tenancyId", id.toString());
        out.put("paused", true);
        out.put("pausedAt", pausedAt.get());
        out.put("reason", reason);
        return out;
    }

    @DELETE
    @Path("/tenancies/{tenancyId}/pause")
    @Blocking
    public Map<String, Object> resume(@PathParam("tenancyId") String tenancyId) throws SQLException {
        UUID id = uuid(tenancyId);
        boolean wasPaused;
        try (Connection c = internal.getConnection()) {
            c.setAutoCommit(false);
            try {
                if (TenancyDirectory.byId(c, id).isEmpty()) {
                    c.rollback();
                    throw new ApiError(Response.Status.NOT_FOUND, "no such tenancy");
                }
                wasPaused = Pauses.resume(c, id);
                // Same transaction: no run can see "still paused" after a request enqueued here is claimed.
                try (PreparedStatement ps = c.prepareStatement(ENQUEUE)) {
                    ps.setObject(1, id);
                    ps.execute();
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
        LOG.infof("Tenancy %s resumed", id);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("tenancyId", id.toString());
        out.put("paused", false);
        out.put("wasPaused", wasPaused);
        return out;
    }

    @POST
    @Path("/tenancies/{tenancyId}/targets/{targetId}/resync")
    @Consumes(MediaType.WILDCARD)
    @Blocking
    public Response resync(@PathParam("tenancyId") String tenancyId, @PathParam("targetId") String targetId) {
        UUID id = uuid(tenancyId);
        Resync.Outcome outcome;
        try {
            outcome = engine.resync(id, targetId, RESYNC_LOCK_WAIT);
        } catch (SQLException e) {
            throw new ApiError(Response.Status.BAD_GATEWAY, SqlFailure.describe(e));
        }
        return switch (outcome) {
            case NOT_FOUND -> throw new ApiError(Response.Status.NOT_FOUND,
                    "no such tenancy, or it has no valid target of that id");
            case BUSY -> throw new ApiError(Response.Status.CONFLICT, "a run holds this tenancy and target; try again");
            default -> {
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("tenancyId", id.toString());
                out.put("targetId", targetId);
                out.put("outcome", outcome.name());
                out.put("truncated", outcome == Resync.Outcome.RESET_DEDICATED);
                yield Response.accepted(out).build();
            }
        };
    }

    @GET
    @Path("/dead-letters")
    @Blocking
    public EngineDeadLetters deadLetters(@QueryParam("tenancy") String tenancy, @QueryParam("limit") Integer limit,
            @QueryParam("after") String after) throws SQLException {
        UUID tenancyId = tenancy == null || tenancy.isBlank() ? null : uuid(tenancy);
        int pageSize = limit == null ? DEFAULT_LIMIT : limit;
        if (pageSize < 1 || pageSize > MAX_LIMIT) {
            throw new ApiError(Response.Status.BAD_REQUEST, "limit must be between 1 and " + MAX_LIMIT);
        }
        String[] from = FIRST.clone();
        if (after != null && !after.isBlank()) {
            try {
                JsonNode node = JSON.readTree(Base64.getUrlDecoder().decode(after));
                for (int i = 0; i < 4; i++) {
                    from[i] = node.get(i).asText();
                }
                UUID.fromString(from[0]);
            } catch (Exception e) {
                throw new ApiError(Response.Status.BAD_REQUEST, "after is not a cursor this endpoint returned");
            }
        }
        List<DeadLetters.Entry> read;
        try (Connection c = internal.getConnection()) {
            read = DeadLetters.page(c, tenancyId, from, pageSize + 1);
        }
        List<EngineDeadLetters.Entry> rows = new ArrayList<>();
        String next = null;
        for (DeadLetters.Entry e : read) {
            if (rows.size() == pageSize) {
                DeadLetters.Entry last = read.get(pageSize - 1);
                next = cursor(new String[] { last.tenancyId(), last.targetId(), last.mapping(), last.key() });
                break;
            }
            rows.add(new EngineDeadLetters.Entry(e.tenancyId(), e.targetId(), e.mapping(), e.key(), e.sequenceId(),
                    e.error(), e.firstSeenAt(), e.lastSeenAt()));
        }
        return new EngineDeadLetters(rows, next);
    }

    /**
     * Tenancies matching {@code query}: a tenancy id, else a project id (its tenancies, one per branch, at most
     * {@link #SEARCH_LIMIT}); each with its pause, every configured target (URL redacted) and every target with
     * progress, and its dead-letter count per target. Primary-key and unique-index lookups only.
     */
    @GET
    @Path("/tenancies")
    @Blocking
    public List<TenancyView> tenancies(@QueryParam("query") String query) throws SQLException {
        String q = query == null ? "" : query.strip();
        if (q.isEmpty()) {
            return List.of();
        }
        UUID id = null;
        try {
            id = UUID.fromString(q);
        } catch (IllegalArgumentException e) {
            // not a tenancy id: a project id
        }
        List<TenancyView> found = new ArrayList<>();
        try (Connection c = internal.getConnection()) {
            // Project ids may be UUIDs too: a UUID that names no tenancy is tried as a project id.
            List<TenancyDirectory.Entry> entries = id == null ? List.of() : TenancyDirectory.byId(c, id).stream().toList();
            if (entries.isEmpty()) {
                entries = TenancyDirectory.byProject(c, q, SEARCH_LIMIT);
            }
            for (TenancyDirectory.Entry entry : entries) {
                found.add(view(entry, ProgressStore.ofTenancy(c, entry.tenancyId()),
                        DeadLetters.countPerTarget(c, entry.tenancyId(), SEARCH_POISON_CAP)));
            }
        }
        return found;
    }

    private static TenancyView view(TenancyDirectory.Entry entry, Map<String, List<MappingProgress>> progress,
            Map<String, CappedCount> poison) {
        TargetConfigs configs = entry.targets();
        List<TargetView> targets = new ArrayList<>();
        Set<String> shown = new LinkedHashSet<>();
        for (TargetConfig target : configs.targets()) {
            shown.add(target.id());
            targets.add(target(target.id(), true, target.url().redacted(), null,
                    progress.getOrDefault(target.id(), List.of()), poison));
        }
        for (TargetConfigError error : configs.errors()) {
            shown.add(error.targetId());
            targets.add(target(error.targetId(), true, null, PostgresUrl.redact(error.message()),
                    progress.getOrDefault(error.targetId(), List.of()), poison));
        }
        progress.forEach((targetId, mappings) -> {
            if (!shown.contains(targetId)) {
                targets.add(target(targetId, false, null, null, mappings, poison));
            }
        });
        return new TenancyView(entry.tenancyId().toString(), entry.projectId(), entry.branchId(), entry.paused(),
                entry.pausedAt(), entry.pauseReason(), targets);
    }

    /** A target's latest success and error and its earliest ongoing failure, over its mappings. */
    private static TargetView target(String id, boolean inConfig, String url, String configError,
            List<MappingProgress> mappings, Map<String, CappedCount> poison) {
        String lastSuccess = null;
        String lastErrorAt = null;
        String lastError = null;
        String failingSince = null;
        for (MappingProgress m : mappings) {
            if (m.lastSuccessAt() != null && (lastSuccess == null || m.lastSuccessAt().compareTo(lastSuccess) > 0)) {
                lastSuccess = m.lastSuccessAt();
            }
            if (m.lastErrorAt() != null && (lastErrorAt == null || m.lastErrorAt().compareTo(lastErrorAt) > 0)) {
                lastErrorAt = m.lastErrorAt();
                lastError = m.lastError();
            }
            if (m.failingSince() != null && (failingSince == null || m.failingSince().compareTo(failingSince) < 0)) {
                failingSince = m.failingSince();
            }
        }
        return new TargetView(id, inConfig, url, configError, lastSuccess, lastErrorAt, lastError, failingSince,
                poison.getOrDefault(id, new CappedCount(0, false)), mappings);
    }

    /**
     * Rows behind per mapping (see {@link #ROWS_BEHIND_DEFINITION}) of the given tenancies: for each that has
     * targets and is not paused, each mapping's rows above its lowest mirrored cursor over its configured targets,
     * counted up to {@code cap + 1} through the engine's own page query (an index range scan on one tenancy).
     */
    @POST
    @Path("/rows-behind")
    @Consumes(MediaType.APPLICATION_JSON)
    @Blocking
    public RowsBehind rowsBehind(RowsBehindRequest request) throws SQLException {
        if (request == null) {
            throw new ApiError(Response.Status.BAD_REQUEST, "body must be {\"tenancyIds\": [...], "
                    + "\"capPerTenancyAndMapping\": n}");
        }
        int cap = request.capPerTenancyAndMapping();
        if (request.tenancyIds().size() > ROWS_BEHIND_MAX_TENANCIES) {
            throw new ApiError(Response.Status.BAD_REQUEST, "at most " + ROWS_BEHIND_MAX_TENANCIES
                    + " tenancies per request");
        }
        if (cap < 1 || cap > ROWS_BEHIND_MAX_CAP) {
            throw new ApiError(Response.Status.BAD_REQUEST, "capPerTenancyAndMapping must be between 1 and "
                    + ROWS_BEHIND_MAX_CAP);
        }
        if (request.tenancyIds().stream().anyMatch(java.util.Objects::isNull)) {
            throw new ApiError(Response.Status.BAD_REQUEST, "tenancyIds must be a list of UUIDs");
        }
        Map<String, long[]> totals = new LinkedHashMap<>();
        Set<String> capped = new java.util.HashSet<>();
        Mappings.ALL.forEach(m -> totals.put(m.name(), new long[1]));
        int sampled = 0;
        // Each count is bounded like a run's reads (engine.statement-timeout).
        ChangeReader reader = new ChangeReader((int) Math.max(1, config.statementTimeout().toSeconds()));
        try (Connection c = internal.getConnection()) {
            Map<UUID, TenancyDirectory.Entry> entries = TenancyDirectory.byIds(c,
                    new LinkedHashSet<>(request.tenancyIds()));
            for (TenancyDirectory.Entry entry : entries.values()) {
                List<TargetConfig> targets = entry.targets().targets();
                if (entry.paused() || targets.isEmpty()) {
                    continue;
                }
                sampled++;
                Map<String, Map<String, Long>> cursors = ProgressStore.cursorsOf(c, entry.tenancyId());
                for (Mapping mapping : Mappings.ALL) {
                    Map<String, Long> perTarget = cursors.getOrDefault(mapping.name(), Map.of());
                    long lowest = Long.MAX_VALUE;
                    for (TargetConfig target : targets) {
                        lowest = Math.min(lowest, perTarget.getOrDefault(target.id(), -1L));
                    }
                    long n = reader.countAbove(c, entry.tenancyId(), mapping, lowest, cap);
                    if (n > cap) {
                        capped.add(mapping.name());
                        n = cap;
                    }
                    totals.get(mapping.name())[0] += n;
                }
            }
        }
        List<MappingCount> perMapping = new ArrayList<>();
        totals.forEach((name, total) -> perMapping.add(new MappingCount(name, total[0], capped.contains(name))));
        return new RowsBehind(ROWS_BEHIND_DEFINITION.formatted(sampled, cap), sampled, cap, perMapping);
    }

    private static String cursor(String[] last) {
        ArrayNode node = JSON.createArrayNode();
        for (String part : last) {
            node.add(part);
        }
        return Base64.getUrlEncoder().withoutPadding()
                .encodeToString(node.toString().getBytes(StandardCharsets.UTF_8));
    }

    /** A path or query tenancy id; 400 when it is not a UUID. */
    static UUID uuid(String value) {
        try {
            return UUID.fromString(value);
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new ApiError(Response.Status.BAD_REQUEST, "tenancy must be a UUID");
        }
    }
}
