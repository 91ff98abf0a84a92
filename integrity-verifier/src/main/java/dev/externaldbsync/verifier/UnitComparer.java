package dev.externaldbsync.verifier;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import dev.externaldbsync.mapping.Mapping;

/**
 * Merge-compares one unit: the internal projection and the target table, both streamed with a server-side cursor
 * ({@code setFetchSize}, autocommit off) in key order, one row of each side in hand at a time. Keeps only counters,
 * two digests and at most {@code maxReported} findings, so its memory does not depend on the unit's size.
 * <p>
 * Pending rule: a projection row that is pending, unstamped or stamped above the target's cursor and is missing or
 * different in the target is pending; a target row whose key is absent from the projection is pending when the
 * internal database has a tombstone of the mapping's table, for that tenancy, above the cursor (or unstamped) whose
 * primary-key values include every key value of that row. Not thread-safe; one instance per unit.
 */
final class UnitComparer {

    static final int FETCH_SIZE = 1000;

    private static final String PENDING_TOMBSTONES = """
            SELECT EXISTS (SELECT 1 FROM "DeletedRow" d
                           WHERE d."tenancyId" = ? AND d."tableName" = ?
                             AND (d."sequenceId" > ? OR d."sequenceId" IS NULL))""";

    private static final String PENDING_TOMBSTONE_FOR_KEY = """
            SELECT EXISTS (SELECT 1 FROM "DeletedRow" d
                           WHERE d."tenancyId" = ? AND d."tableName" = ?
                             AND (d."sequenceId" > ? OR d."sequenceId" IS NULL)
                             AND NOT EXISTS (SELECT 1 FROM unnest(?::text[]) AS k(v)
                                             WHERE NOT EXISTS (SELECT 1 FROM jsonb_each_text(d."primaryKey") AS e
                                                               WHERE e.value = k.v)))""";

    /** Receives the number of key positions compared, for progress. */
    interface Progress {
        void compared(long rows);
    }

    private final Connection internal;
    private final Connection target;
    private final UUID tenancy;
    private final String targetId;
    private final UnitQueries queries;
    private final Mapping mapping;
    private final long cursor;
    private final int maxReported;
    private final Progress progress;

    private long internalRows;
    private long targetRows;
    private long equal;
    private long missing;
    private long extra;
    private long different;
    private long pending;
    private long internalDigest;
    private long targetDigest;
    private Boolean anyPendingTombstone;
    private final List<Finding> findings = new ArrayList<>();

    UnitComparer(Connection internal, Connection target, UUID tenancy, String targetId, UnitQueries queries,
            long cursor, int maxReported, Progress progress) {
        this.internal = internal;
        this.target = target;
        this.tenancy = tenancy;
        this.targetId = targetId;
        this.queries = queries;
        this.mapping = queries.mapping();
        this.cursor = cursor;
        this.maxReported = maxReported;
        this.progress = progress;
    }

    /**
     * @param bound      the key bound of {@code --max-users-per-project} (text form), or null
     * @param tableExists false when the target has no such table yet (it then counts as empty)
     */
    UnitResult run(String bound, boolean tableExists, boolean sharedTarget) throws SQLException {
        if (sharedTarget && tableExists) {
            return runProbing(bound);
        }
        int width = mapping.columns().size();
        try (PreparedStatement in = internal.prepareStatement(queries.internalSql());
                PreparedStatement out = tableExists ? target.prepareStatement(queries.targetSql()) : null) {
            in.setFetchSize(FETCH_SIZE);
            in.setObject(1, tenancy);
            if (queries.boundColumn() != null) {
                in.setString(2, bound);
            }
            if (out != null) {
                out.setFetchSize(FETCH_SIZE);
                if (queries.boundColumn() != null) {
                    out.setString(1, bound);
                }
            }
            try (ResultSet a = in.executeQuery(); ResultSet b = out == null ? null : out.executeQuery()) {
                String[] x = readInternal(a, width);
                String[] y = readTarget(b, width);
                String[] lastX = null;
                String[] lastY = null;
                long sinceReport = 0;
                while (x != null || y != null) {
                    int c = x == null ? 1 : y == null ? -1 : queries.compareKeys(x, y);
                    if (c < 0) {
                        onMissing(x, width);
                        lastX = checkOrder(lastX, x, "internal");
                        x = readInternal(a, width);
                    } else if (c > 0) {
                        onExtra(y);
                        lastY = checkOrder(lastY, y, "target");
                        y = readTarget(b, width);
                    } else {
                        onBoth(x, y, width);
                        lastX = checkOrder(lastX, x, "internal");
                        lastY = checkOrder(lastY, y, "target");
                        x = readInternal(a, width);
                        y = readTarget(b, width);
                    }
                    if (++sinceReport == FETCH_SIZE) {
                        progress.compared(sinceReport);
                        sinceReport = 0;
                    }
                }
                progress.compared(sinceReport);
            }
        }
        return new UnitResult(tenancy.toString(), targetId, mapping.name(), cursor, internalRows, targetRows, equal,
                missing, extra, different, pending, hex(internalDigest), hex(targetDigest), findings, null);
    }

    /**
     * A target shared with other tenancies holds their rows too, in the same tables (targets have no tenancy
     * column), so a full scan would report all of them as extra. Here the projection drives: each batch of
     * {@value #FETCH_SIZE} projection rows fetches exactly those keys from the target, in key order, and the two are
     * merged. Missing and different rows are found as usual; a target row that belongs to no tenancy cannot be
     * attributed to this one, so extras are not reported for shared targets (see the README).
     */
    private UnitResult runProbing(String bound) throws SQLException {
        int width = mapping.columns().size();
        int[] keys = queries.keyIndexes();
        try (PreparedStatement in = internal.prepareStatement(queries.internalSql());
                PreparedStatement probe = target.prepareStatement(queries.targetProbeSql())) {
            in.setFetchSize(FETCH_SIZE);
            in.setObject(1, tenancy);
            if (queries.boundColumn() != null) {
                in.setString(2, bound);
            }
            try (ResultSet a = in.executeQuery()) {
                List<String[]> batch = new ArrayList<>(FETCH_SIZE);
                String[] lastX = null;
                boolean more = true;
                while (more) {
                    batch.clear();
                    String[] x;
                    while (batch.size() < FETCH_SIZE && (x = readInternal(a, width)) != null) {
                        lastX = checkOrder(lastX, x, "internal");
                        batch.add(x);
                    }
                    more = batch.size() == FETCH_SIZE;
                    if (batch.isEmpty()) {
                        break;
                    }
                    for (int k = 0; k < keys.length; k++) {
                        String[] values = new String[batch.size()];
                        for (int i = 0; i < values.length; i++) {
                            values[i] = batch.get(i)[keys[k]];
                        }
                        probe.setArray(k + 1, target.createArrayOf("text", values));
                    }
                    try (ResultSet b = probe.executeQuery()) {
                        int i = 0;
                        String[] y = readTarget(b, width);
                        String[] lastY = null;
                        while (i < batch.size() || y != null) {
                            String[] bx = i < batch.size() ? batch.get(i) : null;
                            int c = bx == null ? 1 : y == null ? -1 : queries.compareKeys(bx, y);
                            if (c < 0) {
                                onMissing(bx, width);
                                i++;
                            } else if (c > 0) {
                                onExtra(y);
                                lastY = checkOrder(lastY, y, "target");
                                y = readTarget(b, width);
                            } else {
                                onBoth(bx, y, width);
                                lastY = checkOrder(lastY, y, "target");
                                i++;
                                y = readTarget(b, width);
                            }
                        }
                    }
                    progress.compared(batch.size());
                }
            }
        }
        return new UnitResult(tenancy.toString(), targetId, mapping.name(), cursor, internalRows, targetRows, equal,
                missing, extra, different, pending, hex(internalDigest), hex(targetDigest), findings, null);
    }

    /** Row layout: the target columns' text, then sequence id text (or null), then "t" when pending. */
    private String[] readInternal(ResultSet rs, int width) throws SQLException {
        if (!rs.next()) {
            return null;
        }
        String[] row = new String[width + 2];
        for (int i = 0; i < width; i++) {
            row[i] = rs.getString(i + 1);
        }
        row[width] = rs.getString(width + 1);
        row[width + 1] = rs.getBoolean(width + 2) ? "t" : null;
        internalRows++;
        internalDigest += RowHash.of(row, width);
        return row;
    }

    private String[] readTarget(ResultSet rs, int width) throws SQLException {
        if (rs == null || !rs.next()) {
            return null;
        }
        String[] row = new String[width];
        for (int i = 0; i < width; i++) {
            row[i] = rs.getString(i + 1);
        }
        targetRows++;
        targetDigest += RowHash.of(row, width);
        return row;
    }

    /** Both streams must be strictly increasing in our key order, or the merge would report nonsense. */
    private String[] checkOrder(String[] previous, String[] current, String side) {
        if (previous != null && queries.compareKeys(previous, current) >= 0) {
            throw new IllegalStateException("the " + side + " rows of " + mapping.name()
                    + " are not in strictly increasing key order at " + keyOf(current)
                    + " (duplicate key or a collation the verifier does not reproduce)");
        }
        return current;
    }

    private boolean notSynced(String[] internalRow, int width) {
        String sequence = internalRow[width];
        return internalRow[width + 1] != null || sequence == null || Long.parseLong(sequence) > cursor;
    }

    private void onMissing(String[] x, int width) {
        boolean isPending = notSynced(x, width);
        if (isPending) {
            pending++;
        } else {
            missing++;
        }
        report(new Finding("missing", isPending, keyOf(x), List.of(), Map.of(), Map.of()));
    }

    private void onExtra(String[] y) throws SQLException {
        boolean isPending = pendingTombstone(y);
        if (isPending) {
            pending++;
        } else {
            extra++;
        }
        report(new Finding("extra", isPending, keyOf(y), List.of(), Map.of(), Map.of()));
    }

    private void onBoth(String[] x, String[] y, int width) {
        if (Arrays.equals(x, 0, width, y, 0, width)) {
            equal++;
            return;
        }
        boolean isPending = notSynced(x, width);
        if (isPending) {
            pending++;
        } else {
            different++;
        }
        if (findings.size() < maxReported) {
            List<String> columns = new ArrayList<>();
            Map<String, String> in = new LinkedHashMap<>();
            Map<String, String> out = new LinkedHashMap<>();
            for (int i = 0; i < width; i++) {
                if (!java.util.Objects.equals(x[i], y[i])) {
                    String name = mapping.columns().get(i).name();
                    columns.add(name);
                    in.put(name, Finding.truncate(x[i]));
                    out.put(name, Finding.truncate(y[i]));
                }
            }
            report(new Finding("different", isPending, keyOf(x), columns, in, out));
        }
    }

    private void report(Finding finding) {
        if (findings.size() < maxReported) {
            findings.add(finding);
        }
    }

    /**
     * Whether a target-only row is explained by a tombstone not yet applied. The tenancy-wide existence check runs
     * once per unit, so a unit with many extra rows and no pending tombstone costs one query, not one per row.
     */
    private boolean pendingTombstone(String[] y) throws SQLException {
        if (anyPendingTombstone == null) {
            try (PreparedStatement ps = internal.prepareStatement(PENDING_TOMBSTONES)) {
                ps.setObject(1, tenancy);
                ps.setString(2, mapping.tombstoneTable());
                ps.setLong(3, cursor);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    anyPendingTombstone = rs.getBoolean(1);
                }
            }
        }
        if (!anyPendingTombstone) {
            return false;
        }
        int[] keys = queries.keyIndexes();
        String[] values = new String[keys.length];
        for (int i = 0; i < keys.length; i++) {
            values[i] = y[keys[i]];
        }
        try (PreparedStatement ps = internal.prepareStatement(PENDING_TOMBSTONE_FOR_KEY)) {
            ps.setObject(1, tenancy);
            ps.setString(2, mapping.tombstoneTable());
            ps.setLong(3, cursor);
            ps.setArray(4, internal.createArrayOf("text", values));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    private Map<String, String> keyOf(String[] row) {
        Map<String, String> key = new LinkedHashMap<>();
        int[] keys = queries.keyIndexes();
        for (int k : keys) {
            key.put(mapping.columns().get(k).name(), Finding.truncate(row[k]));
        }
        return key;
    }

    static String hex(long digest) {
        return String.format("%016x", digest);
    }
}
