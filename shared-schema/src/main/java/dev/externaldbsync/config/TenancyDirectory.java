package dev.externaldbsync.config;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/**
 * The one place a tenancy is joined to its environment config ({@code "EnvironmentConfigOverride"}, by project and
 * branch) and its pause ({@code "ExternalDbSyncTenancyPause"}). Every lookup is a primary-key or unique-index probe,
 * or a keyset page; every value is bound. Stateless: each call runs on the caller's connection (and transaction).
 */
public final class TenancyDirectory {

    /**
     * The most bytes of a tenancy's {@code dbSync} config that are read; a larger one is a config error. Generous for
     * {@link TargetConfigParser#DEFAULT_MAX_TARGETS} targets, small enough that no tenant makes the engine parse
     * megabytes per request.
     */
    public static final int MAX_DB_SYNC_BYTES = 64 * 1024;

    /**
     * A tenancy as the directory knows it.
     *
     * @param config      the {@code dbSync} part of its environment override as JSON text (the key {@code dbSync}
     *                    and every dotted {@code dbSync.…} key), null without one or when it is too large
     * @param pausedAt    when it was paused (text), null when not paused
     * @param pauseReason the reason given when pausing, or null
     * @param configBytes the size of that {@code dbSync} text, 0 without one
     */
    public record Entry(UUID tenancyId, String projectId, String branchId, String config, String pausedAt,
            String pauseReason, long configBytes) {

        public boolean paused() {
            return pausedAt != null;
        }

        /** Its sync targets, parsed from {@link #config()}. */
        public TargetConfigs targets() {
            if (configBytes > MAX_DB_SYNC_BYTES) {
                return new TargetConfigs(java.util.List.of(), java.util.List.of(new TargetConfigError("*",
                        "the dbSync config is " + configBytes + " bytes, more than the " + MAX_DB_SYNC_BYTES
                                + " allowed: no target is synced until it is smaller")));
            }
            return TargetConfigParser.parse(config);
        }
    }

    /**
     * {@code "Tenancy" t} joined to its config {@code e} and pause {@code p}, for a caller that needs its own filter or
     * order (e.g. by recency): append {@code WHERE …}/{@code ORDER BY …} over {@code t}, {@code e} and {@code p}. The
     * {@code OFFSET 0} keeps {@code d} a subquery: pulled up, its expression was copied into each of the three
     * columns that read {@code "dbSync"}, and each config was unpacked three times (the engine reads the configs of
     * every request).
     */
    public static final String FROM_TENANCIES = """
            FROM "Tenancy" t
            LEFT JOIN "EnvironmentConfigOverride" e ON e."projectId" = t."projectId" AND e."branchId" = t."branchId"
            LEFT JOIN "ExternalDbSyncTenancyPause" p ON p."tenancyId" = t."id"
            LEFT JOIN LATERAL (
                SELECT (SELECT jsonb_object_agg(k, v)
                        FROM jsonb_each(CASE WHEN jsonb_typeof(e."config") = 'object' THEN e."config" END) AS c(k, v)
                        WHERE k = 'dbSync' OR k LIKE 'dbSync.%')::text AS "dbSync"
                OFFSET 0
            ) d ON true
            """;

    /**
     * The columns of an {@link Entry}, in order, over {@link #FROM_TENANCIES}; read them with {@link #entry}. Only
     * the {@code dbSync} keys leave the database, and only up to {@link #MAX_DB_SYNC_BYTES} (jsonb keeps its keys
     * in one canonical order, so the subset applies in the order the whole config would).
     */
    public static final String ENTRY_COLUMNS = """
            SELECT t."id", t."projectId", t."branchId",
                   CASE WHEN octet_length(d."dbSync") <= %d THEN d."dbSync" END,
                   p."pausedAt"::text, p."reason", coalesce(octet_length(d."dbSync"), 0)
            """.formatted(MAX_DB_SYNC_BYTES);

    private static final String SELECT = ENTRY_COLUMNS + FROM_TENANCIES;

    private TenancyDirectory() {
    }

    /** The tenancies among {@code ids} that exist, by id (in the order the ids were given). */
    public static Map<UUID, Entry> byIds(Connection c, Collection<UUID> ids) throws SQLException {
        Map<UUID, Entry> found = new LinkedHashMap<>();
        if (ids.isEmpty()) {
            return found;
        }
        Map<UUID, Entry> unordered = new LinkedHashMap<>();
        try (PreparedStatement ps = c.prepareStatement(SELECT + "WHERE t.\"id\" = ANY(?::uuid[])")) {
            ps.setArray(1, c.createArrayOf("uuid", ids.toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Entry entry = entry(rs);
                    unordered.put(entry.tenancyId(), entry);
                }
            }
        }
        for (UUID id : ids) {
            Entry entry = unordered.get(id);
            if (entry != null) {
                found.put(id, entry);
            }
        }
        return found;
    }

    /** One tenancy, if it exists. */
    public static Optional<Entry> byId(Connection c, UUID id) throws SQLException {
        return Optional.ofNullable(byIds(c, List.of(id)).get(id));
    }

    /** The tenancies of one project (one per branch), by branch, at most {@code limit}. */
    public static List<Entry> byProject(Connection c, String projectId, int limit) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                SELECT + "WHERE t.\"projectId\" = ? ORDER BY t.\"branchId\", t.\"id\" LIMIT ?")) {
            ps.setString(1, projectId);
            ps.setInt(2, limit);
            return entries(ps);
        }
    }

    /**
     * One keyset page by id: the first {@code limit} tenancies with an id above {@code after}, or, when
     * {@code after} is null, after skipping {@code offset} tenancies from the first.
     */
    public static List<Entry> page(Connection c, UUID after, long offset, int limit) throws SQLException {
        String sql = SELECT + (after == null ? "ORDER BY t.\"id\" OFFSET ? LIMIT ?"
                : "WHERE t.\"id\" > ? ORDER BY t.\"id\" LIMIT ?");
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            if (after == null) {
                ps.setLong(1, offset);
            } else {
                ps.setObject(1, after);
            }
            ps.setInt(2, limit);
            return entries(ps);
        }
    }

    /** The entry of the current row of a query that selects {@link #ENTRY_COLUMNS} first. */
    public static Entry entry(ResultSet rs) throws SQLException {
        return new Entry(rs.getObject(1, UUID.class), rs.getString(2), rs.getString(3), rs.getString(4),
                rs.getString(5), rs.getString(6), rs.getLong(7));
    }

    private static List<Entry> entries(PreparedStatement ps) throws SQLException {
        List<Entry> entries = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                entries.add(entry(rs));
            }
        }
        return entries;
    }
}
