package dev.externaldbsync.poller.dashboard;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import javax.sql.DataSource;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.config.TargetConfig;
import dev.externaldbsync.config.TargetConfigError;
import dev.externaldbsync.config.TargetConfigParser;
import dev.externaldbsync.config.TargetConfigs;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.schema.SourceTable;
import io.quarkus.runtime.annotations.RegisterForReflection;

/**
 * Every read the dashboard makes of the internal database. Each is bounded at mission scale (1,000,000 tenancies,
 * ~11M progress rows, 1M queued requests): primary-key or partial-index lookups, and counts capped with
 * {@code SELECT count(*) FROM (SELECT 1 … LIMIT cap + 1)}, never a scan of a whole table. Stateless and thread-safe;
 * every method takes its own connection.
 */
public final class DashboardQueries {

    /** A count taken with a cap: {@code capped} means "at least {@code value}". */
    @RegisterForReflection
    public record Count(long value, boolean capped) {

        static Count of(long counted, long cap) {
            return counted > cap ? new Count(cap, true) : new Count(counted, false);
        }
    }

    /** Marked (not yet stamped) rows of one source table. */
    @RegisterForReflection
    public record TableCount(String table, long rows, boolean capped) {
    }

    /** Rows not yet applied, for one mapping (see {@link #ROWS_BEHIND_DEFINITION}). */
    @RegisterForReflection
    public record MappingCount(String mapping, long rows, boolean capped) {
    }

    /** Rows behind per mapping over the sampled tenancies. */
    @RegisterForReflection
    public record RowsBehind(String definition, int tenanciesSampled, int capPerTenancyAndMapping,
            List<MappingCount> perMapping) {
    }

    /** Engine health figures from its progress mirror. */
    @RegisterForReflection
    public record EngineFigures(Count failingTargets, String oldestFailingSince, Count poisonRows) {
    }

    /** One mapping's progress on one target. Errors are redacted. */
    @RegisterForReflection
    public record MappingProgress(String mapping, long cursor, long rowsApplied, String lastSuccessAt,
            String lastErrorAt, String lastError, String failingSince) {
    }

    /**
     * One target of a tenancy: from its config (URL redacted) and the engine's progress mirror. {@code inConfig} is
     * false for a target that has progress but is no longer configured; {@code configError} is set for an unusable
     * entry.
     */
    @RegisterForReflection
    public record TargetView(String targetId, boolean inConfig, String url, String configError,
            String lastSuccessAt, String lastErrorAt, String lastError, String failingSince, Count poisonRows,
            List<MappingProgress> mappings) {
    }

    /** A tenancy as the search shows it. */
    @RegisterForReflection
    public record TenancyView(String tenancyId, String projectId, String branchId, boolean paused, String pausedAt,
            String pauseReason, List<TargetView> targets) {
    }

    /** What the page says "rows behind" means; the page prints it next to the figures. */
    public static final String ROWS_BEHIND_DEFINITION = "What the engine still has to apply: per mapping, rows "
            + "stamped above the tenancy's lowest cursor over its targets, summed over the %d longest-waiting queued "
            + "tenancies (at most %d per tenancy and mapping). Unstamped rows and paused tenancies are not included.";

    /** Most tenancies one search by project id shows. */
    static final int SEARCH_LIMIT = 20;

    private final DataSource dataSource;

    public DashboardQueries(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Sequencer

    /**
     * How many stamps {@code global_seq_id} has handed out (only the sequencer calls {@code nextval}, one per row,
     * INCREMENT 11): reading a sequence's {@code last_value} is a single-row read, not a scan.
     */
    public long stampsIssued() throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
                "SELECT last_value, is_called, increment_by FROM global_seq_id, "
                        + "(SELECT increment_by FROM pg_sequences WHERE sequencename = 'global_seq_id' LIMIT 1) i");
                ResultSet rs = ps.executeQuery()) {
            rs.next();
            long last = rs.getLong(1);
            boolean called = rs.getBoolean(2);
            long increment = Math.max(1, rs.getLong(3));
            return called ? (last - 1) / increment + 1 : 0;
        }
    }

    /** Marked rows per source table, each counted through its partial flag index up to {@code cap + 1}. */
    public List<TableCount> waitingRows(int cap) throws SQLException {
        List<TableCount> counts = new ArrayList<>();
        try (Connection c = dataSource.getConnection()) {
            for (SourceTable table : SourceTable.values()) {
                String sql = "SELECT count(*) FROM (SELECT 1 FROM " + table.quotedName()
                        + " WHERE \"shouldUpdateSequenceId\" AND " + table.rowFilter() + " LIMIT ?) AS capped";
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    ps.setInt(1, cap + 1);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        Count count = Count.of(rs.getLong(1), cap);
                        counts.add(new TableCount(table.tableName(), count.value(), count.capped()));
                    }
                }
            }
        }
        return counts;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Engine

    /**
     * Failing targets (distinct tenancy and target among progress rows with {@code "failingSince"}, read through the
     * partial failing index and capped), the oldest failure, and poison rows (capped).
     */
    public EngineFigures engineFigures(int cap) throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("""
                SELECT (SELECT count(*) FROM (SELECT DISTINCT f."tenancyId", f."targetId"
                                              FROM (SELECT "tenancyId", "targetId" FROM "SyncEngineProgress"
                                                    WHERE "failingSince" IS NOT NULL LIMIT ?) f) d),
                       (SELECT count(*) FROM (SELECT 1 FROM "SyncEngineProgress"
                                              WHERE "failingSince" IS NOT NULL LIMIT ?) r),
                       (SELECT min("failingSince")::text FROM "SyncEngineProgress" WHERE "failingSince" IS NOT NULL),
                       (SELECT count(*) FROM (SELECT 1 FROM "SyncEnginePoisonRow" LIMIT ?) p)""")) {
            // A failing target usually fails on all its mappings: read up to that many rows per capped target.
            int rowCap = (cap + 1) * Mappings.ALL.size();
            ps.setInt(1, rowCap);
            ps.setInt(2, rowCap + 1);
            ps.setInt(3, cap + 1);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                long targets = rs.getLong(1);
                boolean rowsCapped = rs.getLong(2) > rowCap;
                Count failing = rowsCapped || targets > cap ? new Count(Math.min(targets, cap), true)
                        : new Count(targets, false);
                return new EngineFigures(failing, rs.getString(3), Count.of(rs.getLong(4), cap));
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Rows behind

    private static final String QUEUED_TENANCIES = """
            SELECT q.id, e."config"::text
            FROM (SELECT id, min(created) AS created FROM (
                    (SELECT "tenancyId" AS id, "createdAt" AS created FROM "OutgoingRequest"
                     WHERE "startedFulfillingAt" IS NULL ORDER BY "createdAt", "id" LIMIT ?)
                    UNION ALL
                    (SELECT "tenancyId", "createdAt" FROM "OutgoingRequest"
                     WHERE "leaseExpiresAt" IS NOT NULL AND "parkedAt" IS NULL
                     ORDER BY "leaseExpiresAt", "createdAt" LIMIT ?)) AS r
                  WHERE id IS NOT NULL GROUP BY id ORDER BY 2 LIMIT ?) AS q
            JOIN "Tenancy" t ON t."id" = q.id
            LEFT JOIN "EnvironmentConfigOverride" e ON e."projectId" = t."projectId" AND e."branchId" = t."branchId"
            ORDER BY q.created""";

    private static final String CURSORS = """
            SELECT "targetId", "mappingName", "cursor" FROM "SyncEngineProgress" WHERE "tenancyId" = ?""";

    /**
     * Rows behind per mapping (see {@link #ROWS_BEHIND_DEFINITION}): for each of the {@code tenancies}
     * longest-waiting queued tenancies that has targets, each mapping's own page query above its lowest cursor,
     * counted up to {@code cap + 1} (every read is the engine's index range scan on one tenancy).
     */
    public RowsBehind rowsBehind(int tenancies, int cap) throws SQLException {
        Map<String, long[]> totals = new LinkedHashMap<>();
        Map<String, Boolean> capped = new HashMap<>();
        Mappings.ALL.forEach(m -> totals.put(m.name(), new long[1]));
        int sampled = 0;
        try (Connection c = dataSource.getConnection()) {
            List<Object[]> queued = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement(QUEUED_TENANCIES)) {
                ps.setInt(1, tenancies);
                ps.setInt(2, tenancies);
                ps.setInt(3, tenancies);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        queued.add(new Object[] { rs.getObject(1, UUID.class), rs.getString(2) });
                    }
                }
            }
            for (Object[] row : queued) {
                UUID tenancy = (UUID) row[0];
                TargetConfigs configs = TargetConfigParser.parse((String) row[1]);
                if (configs.targets().isEmpty()) {
                    continue;
                }
                sampled++;
                Set<String> targetIds = new LinkedHashSet<>();
                configs.targets().forEach(t -> targetIds.add(t.id()));
                Map<String, Map<String, Long>> cursors = new HashMap<>();
                try (PreparedStatement ps = c.prepareStatement(CURSORS)) {
                    ps.setObject(1, tenancy);
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            cursors.computeIfAbsent(rs.getString(2), k -> new HashMap<>()).put(rs.getString(1),
                                    rs.getLong(3));
                        }
                    }
                }
                for (Mapping mapping : Mappings.ALL) {
                    Map<String, Long> perTarget = cursors.getOrDefault(mapping.name(), Map.of());
                    long lowest = Long.MAX_VALUE;
                    for (String target : targetIds) {
                        lowest = Math.min(lowest, perTarget.getOrDefault(target, -1L));
                    }
                    long n = countAbove(c, mapping, tenancy, lowest, cap);
                    if (n > cap) {
                        capped.put(mapping.name(), true);
                        n = cap;
                    }
                    totals.get(mapping.name())[0] += n;
                }
            }
        }
        List<MappingCount> perMapping = new ArrayList<>();
        totals.forEach((name, total) -> perMapping.add(new MappingCount(name, total[0],
                capped.getOrDefault(name, false))));
        return new RowsBehind(ROWS_BEHIND_DEFINITION.formatted(tenancies, cap), sampled, cap, perMapping);
    }

    private static long countAbove(Connection c, Mapping mapping, UUID tenancy, long cursor, int cap)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT count(*) FROM (" + mapping.fetchSql() + ") AS behind")) {
            int i = 1;
            for (Mapping.FetchParameter p : mapping.fetchParameters()) {
                switch (p) {
                case TENANCY_ID -> ps.setObject(i, tenancy);
                case CURSOR -> ps.setLong(i, cursor);
                case LIMIT -> ps.setInt(i, cap + 1);
                }
                i++;
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Tenancy search

    private static final String TENANCY_COLUMNS = """
            SELECT t."id", t."projectId", t."branchId", e."config"::text, p."pausedAt"::text, p."reason"
            FROM "Tenancy" t
            LEFT JOIN "EnvironmentConfigOverride" e ON e."projectId" = t."projectId" AND e."branchId" = t."branchId"
            LEFT JOIN "ExternalDbSyncTenancyPause" p ON p."tenancyId" = t."id"
            """;

    private static final String PROGRESS = """
            SELECT "targetId", "mappingName", "cursor", "rowsApplied", "lastSuccessAt"::text, "lastErrorAt"::text,
                   "lastError", "failingSince"::text
            FROM "SyncEngineProgress" WHERE "tenancyId" = ? ORDER BY "targetId", "mappingName\"""";

    private static final String POISON = """
            SELECT "targetId", count(*) FROM (SELECT "targetId" FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ?
                                              LIMIT ?) p GROUP BY 1""";

    /**
     * Tenancies matching {@code query}: a tenancy id, else a project id (its tenancies, one per branch, at most
     * {@link #SEARCH_LIMIT}). Primary-key and unique-index lookups only.
     */
    public List<TenancyView> findTenancies(String query, int poisonCap) throws SQLException {
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
        try (Connection c = dataSource.getConnection()) {
            // Project ids may be UUIDs too: a UUID that names no tenancy is tried as a project id.
            List<String[]> rows = id == null ? List.of() : tenancyRows(c, TENANCY_COLUMNS + "WHERE t.\"id\" = ?", id);
            if (rows.isEmpty()) {
                rows = tenancyRows(c, TENANCY_COLUMNS + "WHERE t.\"projectId\" = ? ORDER BY t.\"branchId\", t.\"id\" LIMIT "
                        + SEARCH_LIMIT, q);
            }
            for (String[] row : rows) {
                found.add(tenancy(c, row, poisonCap));
            }
        }
        return found;
    }

    private static List<String[]> tenancyRows(Connection c, String sql, Object key) throws SQLException {
        List<String[]> rows = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setObject(1, key);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows.add(new String[] { rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
                            rs.getString(5), rs.getString(6) });
                }
            }
        }
        return rows;
    }

    private static TenancyView tenancy(Connection c, String[] row, int poisonCap) throws SQLException {
        UUID tenancy = UUID.fromString(row[0]);
        TargetConfigs configs = TargetConfigParser.parse(row[3]);
        Map<String, List<MappingProgress>> progress = new LinkedHashMap<>();
        try (PreparedStatement ps = c.prepareStatement(PROGRESS)) {
            ps.setObject(1, tenancy);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    progress.computeIfAbsent(rs.getString(1), k -> new ArrayList<>()).add(new MappingProgress(
                            rs.getString(2), rs.getLong(3), rs.getLong(4), rs.getString(5), rs.getString(6),
                            redact(rs.getString(7)), rs.getString(8)));
                }
            }
        }
        Map<String, Count> poison = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement(POISON)) {
            ps.setObject(1, tenancy);
            ps.setInt(2, poisonCap + 1);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    poison.put(rs.getString(1), Count.of(rs.getLong(2), poisonCap));
                }
            }
        }
        List<TargetView> targets = new ArrayList<>();
        Set<String> shown = new LinkedHashSet<>();
        for (TargetConfig target : configs.targets()) {
            shown.add(target.id());
            targets.add(target(target.id(), true, target.url().redacted(), null,
                    progress.getOrDefault(target.id(), List.of()), poison));
        }
        for (TargetConfigError error : configs.errors()) {
            shown.add(error.targetId());
            targets.add(target(error.targetId(), true, null, redact(error.message()),
                    progress.getOrDefault(error.targetId(), List.of()), poison));
        }
        progress.forEach((targetId, mappings) -> {
            if (!shown.contains(targetId)) {
                targets.add(target(targetId, false, null, null, mappings, poison));
            }
        });
        return new TenancyView(row[0], row[1], row[2], row[4] != null, row[4], row[5], targets);
    }

    private static TargetView target(String id, boolean inConfig, String url, String configError,
            List<MappingProgress> mappings, Map<String, Count> poison) {
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
                poison.getOrDefault(id, new Count(0, false)), mappings);
    }

    static String redact(String text) {
        return text == null ? null : PostgresUrl.redact(text);
    }
}
