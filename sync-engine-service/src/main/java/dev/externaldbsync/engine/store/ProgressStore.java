package dev.externaldbsync.engine.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.contract.status.MappingProgress;
import dev.externaldbsync.mapping.Mappings;

/**
 * The owner of {@code "SyncEngineProgress"}, the engine's mirror of target progress in the internal database: runs
 * write it on their own internal connection (autocommit: each call is one statement), status and admin read it.
 * Stateless; thread-safe.
 */
public final class ProgressStore {

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
                "targetFailures" = CASE WHEN EXCLUDED."lastSuccessAt" IS NULL THEN p."targetFailures" ELSE 0 END,
                "retryAt" = CASE WHEN EXCLUDED."lastSuccessAt" IS NULL THEN p."retryAt" END,
                "updatedAt" = now()""";

    /**
     * The end of the failure state of the mappings of (tenancy, target)s that ran through (parameters 1–2) and did
     * not fail or move in this run (parameters 3–5: those keys are left to {@link #PROGRESS}). Progress is written
     * only for mappings that moved, so a mapping a target-level failure marked, with nothing to read since, would
     * otherwise stay failing and backed off for ever. A no-op for (tenancy, target)s that are not failing: the
     * condition is on the primary key's prefix and the failure columns.
     */
    private static final String CLEAR_RECOVERED = """
            UPDATE "SyncEngineProgress" p SET "failingSince" = NULL, "targetFailures" = 0, "retryAt" = NULL,
                "updatedAt" = now()
            FROM unnest(?::uuid[], ?::text[]) AS x(t, g)
            WHERE p."tenancyId" = x.t AND p."targetId" = x.g
              AND (p."failingSince" IS NOT NULL OR p."targetFailures" > 0 OR p."retryAt" IS NOT NULL)
              AND NOT EXISTS (SELECT 1 FROM unnest(?::uuid[], ?::text[], ?::text[]) AS k(t, g, m)
                              WHERE k.t = p."tenancyId" AND k.g = p."targetId" AND k.m = p."mappingName")""";

    /** {@link #PROGRESS} with {@link #CLEAR_RECOVERED} as a data-modifying CTE (its parameters first). */
    private static final String PROGRESS_AND_CLEAR = "WITH cleared AS (\n" + CLEAR_RECOVERED + "\nRETURNING 1)\n"
            + PROGRESS;

    /** A failure of several (tenancy, target, mapping)s, one error text for all. */
    private static final String FAILURE = """
            INSERT INTO "SyncEngineProgress" AS p ("tenancyId", "targetId", "mappingName", "lastErrorAt", "lastError",
                                                  "failingSince", "updatedAt")
            SELECT x.t, x.g, x.m, now(), ?, now(), now()
            FROM unnest(?::uuid[], ?::text[], ?::text[]) AS x(t, g, m)
            ON CONFLICT ("tenancyId", "targetId", "mappingName") DO UPDATE SET
                "lastErrorAt" = now(), "lastError" = EXCLUDED."lastError",
                "failingSince" = COALESCE(p."failingSince", now()), "updatedAt" = now()""";

    /**
     * Consecutive target-level failures after which a target is backed off. One failure is often a blip (a restart,
     * a failover) that the poller's own retry covers; a run the watchdog had to abort backs off at once.
     */
    public static final int FAILURES_BEFORE_BACKOFF = 2;

    /**
     * A target-level failure (lost or aborted connection, timeout) of several (tenancy, target, mapping)s: each
     * (tenancy, target) counts a consecutive failure and, at once (parameter 1) or from
     * {@link #FAILURES_BEFORE_BACKOFF} on, is backed off as a target, its delay doubling per consecutive failure from
     * {@code base} up to {@code max}, the upper half of it random (targets that failed together are not retried
     * together).
     */
    private static final String BACK_OFF = """
            INSERT INTO "SyncEngineProgress" AS p ("tenancyId", "targetId", "mappingName", "targetFailures", "retryAt",
                                                  "updatedAt")
            SELECT x.t, x.g, x.m, 1,
                   CASE WHEN ?::boolean OR 1 >= ?::int
                        THEN now() + ?::bigint * interval '1 millisecond' * (0.5 + random() / 2) END, now()
            FROM unnest(?::uuid[], ?::text[], ?::text[]) AS x(t, g, m)
            ON CONFLICT ("tenancyId", "targetId", "mappingName") DO UPDATE SET
                "targetFailures" = p."targetFailures" + 1,
                "retryAt" = CASE WHEN ?::boolean OR p."targetFailures" + 1 >= ?::int
                            THEN now() + least(?::bigint * power(2, least(p."targetFailures", 30)), ?::bigint)
                                         * interval '1 millisecond' * (0.5 + random() / 2)
                            ELSE p."retryAt" END,
                "updatedAt" = now()""";

    /**
     * A snapshot backfill's registration: the (tenancy, target, mapping)s at cursor −1, created where missing. Its
     * own autocommit statement, so it is committed before the backfill reads its high-water mark (what keeps
     * retention from pruning entries the backfill ends at).
     */
    private static final String REGISTER = """
            INSERT INTO "SyncEngineProgress" AS p ("tenancyId", "targetId", "mappingName", "cursor", "updatedAt")
            SELECT x.t, x.g, x.m, -1, now() FROM unnest(?::uuid[], ?::text[], ?::text[]) AS x(t, g, m)
            ON CONFLICT ("tenancyId", "targetId", "mappingName") DO UPDATE SET "cursor" = -1, "updatedAt" = now()""";

        /** The backoff state of the given (tenancy, target)s that have one (primary-key lookups). */
    private static final String BACKOFFS = """
            SELECT p."tenancyId", p."targetId", max(p."retryAt")::text, max(p."retryAt") > now(),
                   max(p."targetFailures"),
                   greatest(0, ceil(extract(epoch FROM max(p."retryAt") - localtimestamp) * 1000))::bigint
            FROM unnest(?::uuid[], ?::text[]) AS x(t, g)
            JOIN "SyncEngineProgress" p ON p."tenancyId" = x.t AND p."targetId" = x.g
            WHERE p."retryAt" IS NOT NULL
            GROUP BY 1, 2""";

    private static final String CLEAR_BACKOFF = """
            UPDATE "SyncEngineProgress" p SET "targetFailures" = 0, "retryAt" = NULL
            FROM unnest(?::uuid[], ?::text[]) AS x(t, g)
            WHERE p."tenancyId" = x.t AND p."targetId" = x.g AND p."retryAt" IS NOT NULL""";

    private ProgressStore() {
    }

    /** A target's retry schedule after failures: {@code base} doubled per consecutive failure, at most {@code max}. */
    public record Backoff(java.time.Duration base, java.time.Duration max) {
    }

    /** One (tenancy, target). */
    public record Target(UUID tenancyId, String targetId) {
    }

    /**
     * A (tenancy, target)'s backoff: {@code active} while {@code retryAt} is in the future (its runs are skipped);
     * past it, the next run is the retry and a success clears it.
     */
    public record BackoffState(String retryAt, boolean active, int failures, long retryAfterMillis) {
    }

    /**
     * Counts a target-level failure of every given (tenancy, target, mapping) and backs it off as described at
     * {@link #BACK_OFF} ({@code now}: at once, whatever the count), in one statement.
     */
    public static void backOff(Connection c, List<Key> keys, Backoff backoff, boolean now) throws SQLException {
        if (keys.isEmpty()) {
            return;
        }
        List<Key> sorted = new ArrayList<>(keys);
        Collections.sort(sorted);
        try (PreparedStatement ps = c.prepareStatement(BACK_OFF)) {
            ps.setBoolean(1, now);
            ps.setInt(2, FAILURES_BEFORE_BACKOFF);
            ps.setLong(3, backoff.base().toMillis());
            ps.setArray(4, c.createArrayOf("uuid", sorted.stream().map(Key::tenancyId).toArray(UUID[]::new)));
            ps.setArray(5, c.createArrayOf("text", sorted.stream().map(Key::targetId).toArray(String[]::new)));
            ps.setArray(6, c.createArrayOf("text", sorted.stream().map(Key::mapping).toArray(String[]::new)));
            ps.setBoolean(7, now);
            ps.setInt(8, FAILURES_BEFORE_BACKOFF);
            ps.setLong(9, backoff.base().toMillis());
            ps.setLong(10, backoff.max().toMillis());
            ps.executeUpdate();
        }
    }

    /** Registers backfills at cursor −1 ({@link #REGISTER}), in one statement on an autocommit connection. */
    public static void register(Connection c, List<Key> keys) throws SQLException {
        if (keys.isEmpty()) {
            return;
        }
        List<Key> sorted = new ArrayList<>(keys);
        Collections.sort(sorted);
        try (PreparedStatement ps = c.prepareStatement(REGISTER)) {
            ps.setArray(1, c.createArrayOf("uuid", sorted.stream().map(Key::tenancyId).toArray(UUID[]::new)));
            ps.setArray(2, c.createArrayOf("text", sorted.stream().map(Key::targetId).toArray(String[]::new)));
            ps.setArray(3, c.createArrayOf("text", sorted.stream().map(Key::mapping).toArray(String[]::new)));
            ps.executeUpdate();
        }
    }

        /** The backoff state of those of {@code targets} that have one, in one statement. */
    public static Map<Target, BackoffState> backoffs(Connection c, List<Target> targets) throws SQLException {
        Map<Target, BackoffState> found = new HashMap<>();
        if (targets.isEmpty()) {
            return found;
        }
        try (PreparedStatement ps = c.prepareStatement(BACKOFFS)) {
            ps.setArray(1, c.createArrayOf("uuid", targets.stream().map(Target::tenancyId).toArray(UUID[]::new)));
            ps.setArray(2, c.createArrayOf("text", targets.stream().map(Target::targetId).toArray(String[]::new)));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    found.put(new Target(rs.getObject(1, UUID.class), rs.getString(2)),
                            new BackoffState(rs.getString(3), rs.getBoolean(4), rs.getInt(5), rs.getLong(6)));
                }
            }
        }
        return found;
    }

    /** Ends the backoff of {@code targets} (they synced again), in one statement. */
    public static void clearBackoff(Connection c, List<Target> targets) throws SQLException {
        if (targets.isEmpty()) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement(CLEAR_BACKOFF)) {
            ps.setArray(1, c.createArrayOf("uuid", targets.stream().map(Target::tenancyId).toArray(UUID[]::new)));
            ps.setArray(2, c.createArrayOf("text", targets.stream().map(Target::targetId).toArray(String[]::new)));
            ps.executeUpdate();
        }
    }

    private static final String BACKED_OFF = """
            SELECT count(*) FROM (SELECT DISTINCT "tenancyId", "targetId" FROM "SyncEngineProgress"
                                  WHERE "retryAt" IS NOT NULL AND "retryAt" > now() ORDER BY 1, 2 LIMIT ?) AS b""";

    /** (tenancy, target)s backed off now, counted through their partial index up to {@code cap} + 1. */
    public static long backedOff(Connection c, int cap) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(BACKED_OFF)) {
            ps.setInt(1, cap + 1);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** One row of the mirror. */
    public record Key(UUID tenancyId, String targetId, String mapping) implements Comparable<Key> {
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
    public static final class Batch {
        private final Map<Key, long[]> pending = new HashMap<>();
        private final Set<Key> failed = new HashSet<>();
        private final Set<Target> succeeded = new HashSet<>();

        public void add(UUID tenancyId, String targetId, String mapping, long cursor, long rows) {
            long[] entry = pending.computeIfAbsent(new Key(tenancyId, targetId, mapping), m -> new long[2]);
            entry[0] = cursor;
            entry[1] += rows;
        }

        /** The mapping failed in this run: its pending progress must not clear its failure. */
        public void markFailed(UUID tenancyId, String targetId, String mapping) {
            failed.add(new Key(tenancyId, targetId, mapping));
        }

        /**
         * The run of (tenancy, target) went through every mapping it had to read (some may have failed on their
         * own): at the next flush, the failure state of its other mappings ends ({@link #CLEAR_RECOVERED}).
         */
        public void succeeded(UUID tenancyId, String targetId) {
            succeeded.add(new Target(tenancyId, targetId));
        }

        public void flush(Connection c) throws SQLException {
            if (pending.isEmpty()) {
                if (!succeeded.isEmpty()) {
                    try (PreparedStatement ps = c.prepareStatement(CLEAR_RECOVERED)) {
                        bindRecovered(c, ps);
                        ps.executeUpdate();
                    }
                }
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
            // The recovered mappings' clearing rides in the same statement: one round trip per flush still.
            boolean clear = !succeeded.isEmpty();
            try (PreparedStatement ps = c.prepareStatement(clear ? PROGRESS_AND_CLEAR : PROGRESS)) {
                int o = clear ? bindRecovered(c, ps) : 0;
                ps.setArray(o + 1, c.createArrayOf("uuid", tenancies));
                ps.setArray(o + 2, c.createArrayOf("text", targets));
                ps.setArray(o + 3, c.createArrayOf("text", names));
                ps.setArray(o + 4, c.createArrayOf("bigint", cursors));
                ps.setArray(o + 5, c.createArrayOf("bigint", rows));
                ps.setArray(o + 6, c.createArrayOf("boolean", ok));
                ps.executeUpdate();
            }
            pending.clear();
        }

        /** Binds {@link #CLEAR_RECOVERED}'s five parameters and forgets the succeeded set; returns 5. */
        private int bindRecovered(Connection c, PreparedStatement ps) throws SQLException {
            List<Target> targets = new ArrayList<>(succeeded);
            Set<Key> spared = new HashSet<>(pending.keySet());
            spared.addAll(failed);
            ps.setArray(1, c.createArrayOf("uuid", targets.stream().map(Target::tenancyId).toArray(UUID[]::new)));
            ps.setArray(2, c.createArrayOf("text", targets.stream().map(Target::targetId).toArray(String[]::new)));
            ps.setArray(3, c.createArrayOf("uuid", spared.stream().map(Key::tenancyId).toArray(UUID[]::new)));
            ps.setArray(4, c.createArrayOf("text", spared.stream().map(Key::targetId).toArray(String[]::new)));
            ps.setArray(5, c.createArrayOf("text", spared.stream().map(Key::mapping).toArray(String[]::new)));
            succeeded.clear();
            return 5;
        }
    }

    /** Records one error for every given (tenancy, target, mapping), in one statement. */
    public static void failures(Connection c, List<Key> keys, String error) throws SQLException {
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

    public static String truncate(String error) {
        if (error == null) {
            return "unknown error";
        }
        return error.length() <= MAX_ERROR_LENGTH ? error : error.substring(0, MAX_ERROR_LENGTH) + "…";
    }

    private static final String REMOVE_UNCONFIGURED = """
            DELETE FROM "SyncEngineProgress"
            WHERE "tenancyId" = ? AND NOT ("targetId" = ANY(?::text[]))
              AND "updatedAt" < ?::timestamp - interval '1 second'""";

    /**
     * Removes the mirror rows of one tenancy's targets other than {@code configured} (its targets as of
     * {@code asOf}, a timestamp as text), sparing rows written since then: those come from a run that read a newer
     * config, in which the target may be configured again.
     */
    public static int removeUnconfiguredTargets(Connection c, UUID tenancy, Collection<String> configured,
            String asOf) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(REMOVE_UNCONFIGURED)) {
            ps.setObject(1, tenancy);
            ps.setArray(2, c.createArrayOf("text", configured.toArray()));
            ps.setString(3, asOf);
            return ps.executeUpdate();
        }
    }

    // ---- reads (status and admin) -----------------------------------------------------------------------------

    /*
     * Every figure is an index range that stops at its cap, or a statistic: no statement reads a table that grows
     * with the tenancies. Tracked targets: the first rows of the primary key, in key order, enough to hold the cap's
     * (tenancy, target)s even if each had a row for every mapping; if the table ends inside that range the count is
     * exact, else it is n_live_tup scaled by the sample's (tenancy, target)s per row (a pair has a row only for the
     * mappings that have data, so the rows per pair vary by deployment). Failing targets: the partial index of failing
     * rows ("SyncEngineProgress_failing_target_idx"), empty when all is well. Oldest failure: the first entry of the
     * partial index on "failingSince".
     */
    private static final String FIGURES = """
            WITH sample AS (SELECT "tenancyId", "targetId" FROM "SyncEngineProgress" ORDER BY 1, 2 LIMIT ?)
            SELECT (SELECT count(*) FROM sample),
                   (SELECT count(*) FROM (SELECT DISTINCT "tenancyId", "targetId" FROM sample) AS t),
                   (SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = '"SyncEngineProgress"'::regclass),
                   (SELECT count(*) FROM (SELECT DISTINCT "tenancyId", "targetId" FROM "SyncEngineProgress"
                                          WHERE "failingSince" IS NOT NULL ORDER BY 1, 2 LIMIT ?) AS f),
                   (SELECT min("failingSince") FROM "SyncEngineProgress" WHERE "failingSince" IS NOT NULL)::text""";

    /**
     * The mirror's global figures: tracked (tenancy, target)s (exact, or estimated past the cap), failing ones, the
     * oldest failure.
     */
    public record Figures(long tracked, boolean trackedExact, long failingCounted, String oldestFailingSince) {
    }

    public static Figures figures(Connection c, int trackedCap, int failingCap) throws SQLException {
        long sampleLimit = (trackedCap + 1L) * Mappings.ALL.size();
        try (PreparedStatement ps = c.prepareStatement(FIGURES)) {
            ps.setLong(1, sampleLimit);
            ps.setInt(2, failingCap + 1);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                long sampledRows = rs.getLong(1);
                long sampledPairs = rs.getLong(2);
                long liveRows = rs.getLong(3);
                boolean exact = sampledRows < sampleLimit;
                long tracked = exact ? sampledPairs
                        : Math.max(sampledPairs, Math.round(liveRows * (double) sampledPairs / sampledRows));
                return new Figures(tracked, exact, rs.getLong(4), rs.getString(5));
            }
        }
    }

    private static final String OF_TENANCY = """
            SELECT "targetId", "mappingName", "cursor", "rowsApplied", "lastSuccessAt"::text, "lastErrorAt"::text,
                   "lastError", "failingSince"::text, CASE WHEN "retryAt" > now() THEN "retryAt"::text END
            FROM "SyncEngineProgress" WHERE "tenancyId" = ? ORDER BY "targetId", "mappingName\"""";

    /** Every mapping's progress of one tenancy, by target id (in target order), errors redacted. */
    public static Map<String, List<MappingProgress>> ofTenancy(Connection c, UUID tenancy) throws SQLException {
        Map<String, List<MappingProgress>> progress = new LinkedHashMap<>();
        try (PreparedStatement ps = c.prepareStatement(OF_TENANCY)) {
            ps.setObject(1, tenancy);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    progress.computeIfAbsent(rs.getString(1), k -> new ArrayList<>()).add(new MappingProgress(
                            rs.getString(2), rs.getLong(3), rs.getLong(4), rs.getString(5), rs.getString(6),
                            rs.getString(7) == null ? null : PostgresUrl.redact(rs.getString(7)), rs.getString(8),
                            rs.getString(9)));
                }
            }
        }
        return progress;
    }

    private static final String CURSORS = """
            SELECT "targetId", "mappingName", "cursor" FROM "SyncEngineProgress" WHERE "tenancyId" = ?""";

    /** The mirrored cursors of one tenancy: mapping name → target id → cursor. */
    public static Map<String, Map<String, Long>> cursorsOf(Connection c, UUID tenancy) throws SQLException {
        Map<String, Map<String, Long>> cursors = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement(CURSORS)) {
            ps.setObject(1, tenancy);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    cursors.computeIfAbsent(rs.getString(2), k -> new HashMap<>()).put(rs.getString(1), rs.getLong(3));
                }
            }
        }
        return cursors;
    }
}
