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
     * A tenancy as the directory knows it.
     *
     * @param config      the {@code "config"} JSON text of its environment override, null without one
     * @param pausedAt    when it was paused (text), null when not paused
     * @param pauseReason the reason given when pausing, or null
     */
    public record Entry(UUID tenancyId, String projectId, String branchId, String config, String pausedAt,
            String pauseReason) {

        public boolean paused() {
            return pausedAt != null;
        }

        /** Its sync targets, parsed from {@link #config()}. */
        public TargetConfigs targets() {
            return TargetConfigParser.parse(config);
        }
    }

    /**
     * {@code "Tenancy" t} joined to its config {@code e} and pause {@code p}, for a caller that needs its own filter or
     * order (e.g. by recency): append {@code WHERE …}/{@code ORDER BY …} over {@code t}, {@code e} and {@code p}.
     */
    public static final String FROM_TENANCIES = """
            FROM "Tenancy" t
            LEFT JOIN "EnvironmentConfigOverride" e ON e."projectId" = t."projectId" AND e."branchId" = t."branchId"
            LEFT JOIN "ExternalDbSyncTenancyPause" p ON p."tenancyId" = t."id"
            """;

    /** The columns of an {@link Entry}, in order, over {@link #FROM_TENANCIES}; read them with {@link #entry}. */
    public static final String ENTRY_COLUMNS = """
            SELECT t."id", t."projectId", t."branchId", e."config"::text, p."pausedAt"::text, p."reason"
            """;

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
                rs.getString(5), rs.getString(6));
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
