package dev.externaldbsync.engine.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.contract.status.CappedCount;

/**
 * The owner of {@code "SyncEnginePoisonRow"}: rows a target rejected, dead-lettered per (tenancy, target, mapping,
 * key) so the rest of the tenancy keeps flowing, and cleared when the row applies later. Stateless; thread-safe.
 */
public final class DeadLetters {

    private static final String POISON = """
            INSERT INTO "SyncEnginePoisonRow" AS p ("tenancyId", "targetId", "mappingName", "rowKey", "sequenceId",
                                                   "error")
            VALUES (?, ?, ?, ?::jsonb, ?, ?)
            ON CONFLICT ("tenancyId", "targetId", "mappingName", "rowKey") DO UPDATE SET
                "sequenceId" = EXCLUDED."sequenceId", "error" = EXCLUDED."error", "lastSeenAt" = now()""";

    private static final String CLEAR = """
            DELETE FROM "SyncEnginePoisonRow"
            WHERE "tenancyId" = ? AND "targetId" = ? AND "mappingName" = ? AND "rowKey" = ANY(?::jsonb[])""";

    private static final String MAPPINGS_WITH_POISON = """
            SELECT DISTINCT "mappingName" FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ? AND "targetId" = ?""";

    /**
     * For the batched read: the distinct (position, mapping name) of dead-lettered rows of the batch's rows
     * {@code x} (columns {@code "i"} position, {@code "t"} tenancy, {@code "g"} target id).
     */
    public static final String MARKED_MAPPINGS_OF_X = """
            SELECT DISTINCT x."i", p."mappingName" FROM x
            JOIN "SyncEnginePoisonRow" p ON p."tenancyId" = x."t" AND p."targetId" = x."g\"""";

    private static final String COUNT = """
            SELECT count(*) FROM (SELECT 1 FROM "SyncEnginePoisonRow" LIMIT ?) AS p""";

    private static final String OF_TENANCY = """
            SELECT "targetId", "mappingName", "rowKey"::text, "sequenceId", "error", "firstSeenAt"::text,
                   "lastSeenAt"::text
            FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ? ORDER BY "targetId", "mappingName", "sequenceId"
            LIMIT ?""";

    private static final String COUNT_PER_TARGET = """
            SELECT "targetId", count(*) FROM (SELECT "targetId" FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ?
                                              LIMIT ?) p GROUP BY 1""";

    // Row-value comparison on the primary key's columns in its order: one index range scan per page.
    private static final String PAGE = """
            SELECT "tenancyId"::text, "targetId", "mappingName", "rowKey"::text, "sequenceId", "error",
                   "firstSeenAt"::text, "lastSeenAt"::text
            FROM "SyncEnginePoisonRow"
            WHERE (?::uuid IS NULL OR "tenancyId" = ?::uuid)
              AND ("tenancyId", "targetId", "mappingName", "rowKey") > (?::uuid, ?, ?, ?::jsonb)
            ORDER BY "tenancyId", "targetId", "mappingName", "rowKey"
            LIMIT ?""";

    /** A dead-lettered row as the admin and status APIs show it (error redacted). */
    public record Entry(String tenancyId, String targetId, String mapping, String key, long sequenceId, String error,
            String firstSeenAt, String lastSeenAt) {
    }

    private DeadLetters() {
    }

    public static void poison(Connection c, UUID tenancy, String target, String mapping, String keyJson,
            long sequenceId, String error) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(POISON)) {
            ps.setObject(1, tenancy);
            ps.setString(2, target);
            ps.setString(3, mapping);
            ps.setString(4, keyJson);
            ps.setLong(5, sequenceId);
            ps.setString(6, ProgressStore.truncate(error));
            ps.executeUpdate();
        }
    }

    /** Removes the entries of rows that have now applied. */
    public static void clear(Connection c, UUID tenancy, String target, String mapping, String[] keyJsons)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(CLEAR)) {
            ps.setObject(1, tenancy);
            ps.setString(2, target);
            ps.setString(3, mapping);
            ps.setArray(4, c.createArrayOf("text", keyJsons));
            ps.executeUpdate();
        }
    }

    /** The mappings of this (tenancy, target) with dead-lettered rows (usually none: one indexed probe). */
    public static Set<String> mappingsWithPoison(Connection c, UUID tenancy, String target) throws SQLException {
        Set<String> result = new HashSet<>();
        try (PreparedStatement ps = c.prepareStatement(MAPPINGS_WITH_POISON)) {
            ps.setObject(1, tenancy);
            ps.setString(2, target);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    result.add(rs.getString(1));
                }
            }
        }
        return result;
    }

    /** All entries, counted through the primary key up to the cap. */
    public static CappedCount count(Connection c, int cap) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(COUNT)) {
            ps.setInt(1, cap + 1);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return CappedCount.of(rs.getLong(1), cap);
            }
        }
    }

    /** The first {@code limit} entries of one tenancy, by target, mapping and sequence id. */
    public static List<Entry> ofTenancy(Connection c, UUID tenancy, int limit) throws SQLException {
        List<Entry> entries = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(OF_TENANCY)) {
            ps.setObject(1, tenancy);
            ps.setInt(2, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    entries.add(new Entry(tenancy.toString(), rs.getString(1), rs.getString(2), rs.getString(3),
                            rs.getLong(4), PostgresUrl.redact(rs.getString(5)), rs.getString(6), rs.getString(7)));
                }
            }
        }
        return entries;
    }

    /** One tenancy's entries per target id, counted up to the cap in all. */
    public static Map<String, CappedCount> countPerTarget(Connection c, UUID tenancy, int cap) throws SQLException {
        Map<String, CappedCount> counts = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement(COUNT_PER_TARGET)) {
            ps.setObject(1, tenancy);
            ps.setInt(2, cap + 1);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    counts.put(rs.getString(1), CappedCount.of(rs.getLong(2), cap));
                }
            }
        }
        return counts;
    }

    /**
     * One keyset page of entries, optionally of one tenancy, after the primary key {@code after} (tenancy, target,
     * mapping, key JSON); {@code limit + 1} are read so the caller knows whether a next page exists.
     */
    public static List<Entry> page(Connection c, UUID tenancy, String[] after, int limit) throws SQLException {
        List<Entry> entries = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(PAGE)) {
            ps.setObject(1, tenancy);
            ps.setObject(2, tenancy);
            ps.setString(3, after[0]);
            ps.setString(4, after[1]);
            ps.setString(5, after[2]);
            ps.setString(6, after[3]);
            ps.setInt(7, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    entries.add(new Entry(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
                            rs.getLong(5), PostgresUrl.redact(rs.getString(6)), rs.getString(7), rs.getString(8)));
                }
            }
        }
        return entries;
    }
}
