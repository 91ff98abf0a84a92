package dev.externaldbsync.engine;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * Writes the engine's mirror of target progress and its dead-letter list into the internal database, on the run's
 * own internal connection (autocommit: each call is one statement). Stateless; thread-safe.
 */
final class ProgressStore {

    private static final int MAX_ERROR_LENGTH = 2000;

    /**
     * Progress of several (tenancy, target, mapping)s in one statement; one that failed in this run keeps its failure
     * state. Rows go in key order, so two statements never wait on each other's rows in opposite orders.
     */
    private static final String PROGRESS = """
            INSERT INTO "SyncEngineProgress" AS p ("tenancyId", "targetId", "mappingName", "cursor", "rowsApplied",
                                                  "lastSuccessAt", "updatedAt")
            SELECT x.t, x.g, x.m, x.c, x.r, CASE WHEN x.ok THEN now() END, now()
            FROM unnest(?::uuid[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::boolean[]) AS x(t, g, m, c, r, ok)
            ON CONFLICT ("tenancyId", "targetId", "mappingName") DO UPDATE SET
                "cursor" = EXCLUDED."cursor",
                "rowsApplied" = p."rowsApplied" + EXCLUDED."rowsApplied",
                "lastSuccessAt" = COALESCE(EXCLUDED."lastSuccessAt", p."lastSuccessAt"),
                "failingSince" = CASE WHEN EXCLUDED."lastSuccessAt" IS NULL THEN p."failingSince" END,
                "updatedAt" = now()""";

    /** A failure of several (tenancy, target, mapping)s, one error text for all. */
    private static final String FAILURE = """
            INSERT INTO "SyncEngineProgress" AS p ("tenancyId", "targetId", "mappingName", "lastErrorAt", "lastError",
                                                  "failingSince", "updatedAt")
            SELECT x.t, x.g, x.m, now(), ?, now(), now()
            FROM unnest(?::uuid[], ?::text[], ?::text[]) AS x(t, g, m)
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

    /** One row of the mirror. */
    record Key(UUID tenancyId, String targetId, String mapping) implements Comparable<Key> {
        @Override
        public int compareTo(Key o) {
            int c = tenancyId.compareTo(o.tenancyId);
            c = c != 0 ? c : targetId.compareTo(o.targetId);
            return c != 0 ? c : mapping.compareTo(o.mapping);
        }
    }

    /**
     * Progress of the runs of one batch (one tenancy, or many sharing a target), written in one statement per
     * flush: once at the end of a short run, after every page of a long one. Confined to the batch's thread.
     */
    static final class Batch {
        private final Map<Key, long[]> pending = new HashMap<>();
        private final Set<Key> failed = new HashSet<>();

        void add(UUID tenancyId, String targetId, String mapping, long cursor, long rows) {
            long[] entry = pending.computeIfAbsent(new Key(tenancyId, targetId, mapping), m -> new long[2]);
            entry[0] = cursor;
            entry[1] += rows;
        }

        /** The mapping failed in this run: its pending progress must not clear its failure. */
        void markFailed(UUID tenancyId, String targetId, String mapping) {
            failed.add(new Key(tenancyId, targetId, mapping));
        }

        void flush(Connection c) throws SQLException {
            if (pending.isEmpty()) {
                return;
            }
            List<Key> keys = new ArrayList<>(pending.keySet());
            Collections.sort(keys);
            int n = keys.size();
            UUID[] tenancies = new UUID[n];
            String[] targets = new String[n];
            String[] names = new String[n];
            Long[] cursors = new Long[n];
            Long[] rows = new Long[n];
            Boolean[] ok = new Boolean[n];
            for (int i = 0; i < n; i++) {
                Key key = keys.get(i);
                long[] entry = pending.get(key);
                tenancies[i] = key.tenancyId();
                targets[i] = key.targetId();
                names[i] = key.mapping();
                cursors[i] = entry[0];
                rows[i] = entry[1];
                ok[i] = !failed.contains(key);
            }
            try (PreparedStatement ps = c.prepareStatement(PROGRESS)) {
                ps.setArray(1, c.createArrayOf("uuid", tenancies));
                ps.setArray(2, c.createArrayOf("text", targets));
                ps.setArray(3, c.createArrayOf("text", names));
                ps.setArray(4, c.createArrayOf("bigint", cursors));
                ps.setArray(5, c.createArrayOf("bigint", rows));
                ps.setArray(6, c.createArrayOf("boolean", ok));
                ps.executeUpdate();
            }
            pending.clear();
        }
    }

    /** Records one error for every given (tenancy, target, mapping), in one statement. */
    static void failures(Connection c, List<Key> keys, String error) throws SQLException {
        if (keys.isEmpty()) {
            return;
        }
        List<Key> sorted = new ArrayList<>(keys);
        Collections.sort(sorted);
        try (PreparedStatement ps = c.prepareStatement(FAILURE)) {
            ps.setString(1, truncate(error));
            ps.setArray(2, c.createArrayOf("uuid", sorted.stream().map(Key::tenancyId).toArray(UUID[]::new)));
            ps.setArray(3, c.createArrayOf("text", sorted.stream().map(Key::targetId).toArray(String[]::new)));
            ps.setArray(4, c.createArrayOf("text", sorted.stream().map(Key::mapping).toArray(String[]::new)));
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
