package dev.externaldbsync.engine;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * Writes the engine's mirror of target progress and its dead-letter list into the internal database, on the run's
 * own internal connection (autocommit: each call is one statement). Stateless; thread-safe.
 */
final class ProgressStore {

    private static final int MAX_ERROR_LENGTH = 2000;

    /** Progress of several mappings in one statement; a mapping that failed in this run keeps its failure state. */
    private static final String PROGRESS = """
            INSERT INTO "SyncEngineProgress" AS p ("tenancyId", "targetId", "mappingName", "cursor", "rowsApplied",
                                                  "lastSuccessAt", "updatedAt")
            SELECT ?, ?, x.m, x.c, x.r, CASE WHEN x.ok THEN now() END, now()
            FROM unnest(?::text[], ?::bigint[], ?::bigint[], ?::boolean[]) AS x(m, c, r, ok)
            ON CONFLICT ("tenancyId", "targetId", "mappingName") DO UPDATE SET
                "cursor" = EXCLUDED."cursor",
                "rowsApplied" = p."rowsApplied" + EXCLUDED."rowsApplied",
                "lastSuccessAt" = COALESCE(EXCLUDED."lastSuccessAt", p."lastSuccessAt"),
                "failingSince" = CASE WHEN EXCLUDED."lastSuccessAt" IS NULL THEN p."failingSince" END,
                "updatedAt" = now()""";

    private static final String FAILURE = """
            INSERT INTO "SyncEngineProgress" AS p ("tenancyId", "targetId", "mappingName", "lastErrorAt", "lastError",
                                                  "failingSince", "updatedAt")
            VALUES (?, ?, ?, now(), ?, now(), now())
            ON CONFLICT ("tenancyId", "targetId", "mappingName") DO UPDATE SET
                "lastErrorAt" = now(), "lastError" = EXCLUDED."lastError",
                "failingSince" = COALESCE(p."failingSince", now()), "updatedAt" = now()""";

    private static final String POISON = """
            INSERT INTO "SyncEnginePoisonRow" AS p ("tenancyId", "targetId", "mappingName", "rowKey", "sequenceId",
                                                   "error")
            VALUES (?, ?, ?, ?::jsonb, ?, ?)
            ON CONFLICT ("tenancyId", "targetId", "mappingName", "rowKey") DO UPDATE SET
                "sequenceId" = EXCLUDED."sequenceId", "error" = EXCLUDED."error", "lastSeenAt" = now()""";

    private static final String CLEAR_POISON = """
            DELETE FROM "SyncEnginePoisonRow"
            WHERE "tenancyId" = ? AND "targetId" = ? AND "mappingName" = ? AND "rowKey" = ANY(?::jsonb[])""";

    private static final String MAPPINGS_WITH_POISON = """
            SELECT DISTINCT "mappingName" FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ? AND "targetId" = ?""";

    private ProgressStore() {
    }

    /**
     * Progress of one run, written in one statement per flush: once at the end of a short run, after every page of
     * a long one. Confined to the run's thread.
     */
    static final class Batch {
        private final UUID tenancyId;
        private final String targetId;
        private final Map<String, long[]> pending = new LinkedHashMap<>();
        private final Set<String> failed = new HashSet<>();

        Batch(UUID tenancyId, String targetId) {
            this.tenancyId = tenancyId;
            this.targetId = targetId;
        }

        void add(String mapping, long cursor, long rows) {
            long[] entry = pending.computeIfAbsent(mapping, m -> new long[2]);
            entry[0] = cursor;
            entry[1] += rows;
        }

        /** The mapping failed in this run: its pending progress must not clear its failure. */
        void markFailed(String mapping) {
            failed.add(mapping);
        }

        void flush(Connection c) throws SQLException {
            if (pending.isEmpty()) {
                return;
            }
            String[] names = pending.keySet().toArray(String[]::new);
            Long[] cursors = new Long[names.length];
            Long[] rows = new Long[names.length];
            Boolean[] ok = new Boolean[names.length];
            for (int i = 0; i < names.length; i++) {
                long[] entry = pending.get(names[i]);
                cursors[i] = entry[0];
                rows[i] = entry[1];
                ok[i] = !failed.contains(names[i]);
            }
            try (PreparedStatement ps = c.prepareStatement(PROGRESS)) {
                ps.setObject(1, tenancyId);
                ps.setString(2, targetId);
                ps.setArray(3, c.createArrayOf("text", names));
                ps.setArray(4, c.createArrayOf("bigint", cursors));
                ps.setArray(5, c.createArrayOf("bigint", rows));
                ps.setArray(6, c.createArrayOf("boolean", ok));
                ps.executeUpdate();
            }
            pending.clear();
        }
    }

    static void failure(Connection c, UUID tenancy, String target, String mapping, String error) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(FAILURE)) {
            ps.setObject(1, tenancy);
            ps.setString(2, target);
            ps.setString(3, mapping);
            ps.setString(4, truncate(error));
            ps.executeUpdate();
        }
    }

    static void poison(Connection c, UUID tenancy, String target, String mapping, String keyJson, long sequenceId,
            String error) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(POISON)) {
            ps.setObject(1, tenancy);
            ps.setString(2, target);
            ps.setString(3, mapping);
            ps.setString(4, keyJson);
            ps.setLong(5, sequenceId);
            ps.setString(6, truncate(error));
            ps.executeUpdate();
        }
    }

    /** The mappings of this (tenancy, target) with dead-lettered rows (usually none: one indexed probe). */
    static Set<String> mappingsWithPoison(Connection c, UUID tenancy, String target) throws SQLException {
        Set<String> result = new HashSet<>();
        try (PreparedStatement ps = c.prepareStatement(MAPPINGS_WITH_POISON)) {
            ps.setObject(1, tenancy);
            ps.setString(2, target);
            try (var rs = ps.executeQuery()) {
                while (rs.next()) {
                    result.add(rs.getString(1));
                }
            }
        }
        return result;
    }

    /** Removes dead-letter entries of rows that have now applied. */
    static void clearPoison(Connection c, UUID tenancy, String target, String mapping, String[] keyJsons)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(CLEAR_POISON)) {
            ps.setObject(1, tenancy);
            ps.setString(2, target);
            ps.setString(3, mapping);
            ps.setArray(4, c.createArrayOf("text", keyJsons));
            ps.executeUpdate();
        }
    }

    static String truncate(String error) {
        if (error == null) {
            return "unknown error";
        }
        return error.length() <= MAX_ERROR_LENGTH ? error : error.substring(0, MAX_ERROR_LENGTH) + "…";
    }
}
