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
 * Pending rule: a projection row that is pending (its key has an unstamped change-log entry) or whose highest stamped
 * entry is above the target's cursor, and is missing or different in the target, is pending; so is every row while
 * the target's cursor is −1 (never synced, or backfilling). A row whose key has no entry at all is compared strictly:
 * the engine prunes only entries that every configured target has passed. A
 * target row whose key is absent from the projection is pending when {@code "SyncChange"} holds, for that tenancy and
 * the mapping's table, an entry of exactly that key ({@link ChangeKeys}) that is unstamped or stamped above the
 * cursor. Not thread-safe; one instance per unit.
 */
final class UnitComparer {

    static final int FETCH_SIZE = 1000;

    /**
     * Whether the tenancy has any entry of the mapping's table not applied at the cursor. Two branches so that each
     * is one probe of its own index: stamped entries above the cursor on {@code "SyncChange_stamped_idx"} (whose
     * predicate the query must repeat), unstamped ones on {@code "SyncChange_unstamped_idx"}. Each is the first row
     * in its index's order, not {@code EXISTS} (which drops an {@code ORDER BY}): statistics taken while a bulk load
     * was still unstamped make the planner expect an unstamped match on the first heap pages, and an {@code EXISTS}
     * then scanned the whole log for each unit once the load was stamped. With an order that a sequential scan would
     * have to sort for, the index is the only cheap plan whatever the statistics. The unstamped branch names its
     * tenancy as a range of one value: under an equality the planner knows the order is constant, and a sequential
     * scan that stops at its first match looks cheap again.
     */
    static final String ANY_UNAPPLIED_CHANGE = """
            SELECT (SELECT c."sequenceId" FROM "SyncChange" c
                    WHERE c."tenancyId" = ? AND c."tableName" = ?
                      AND c."sequenceId" > ? AND c."sequenceId" IS NOT NULL
                    ORDER BY c."tenancyId", c."tableName", c."sequenceId" LIMIT 1) IS NOT NULL
                OR (SELECT c."tenancyId" FROM "SyncChange" c
                    WHERE c."tenancyId" >= ? AND c."tenancyId" <= ? AND c."tableName" = ? AND c."sequenceId" IS NULL
                    ORDER BY c."tenancyId" LIMIT 1) IS NOT NULL""";

    /** One key's entries on {@code "SyncChange_key_idx"}; the key expression is appended by {@link ChangeKeys}. */
    private static final String UNAPPLIED_CHANGE_OF_KEY = """
            SELECT EXISTS (SELECT 1 FROM "SyncChange" c
                           WHERE c."tenancyId" = ? AND c."tableName" = ?
                             AND (c."sequenceId" > ? OR c."sequenceId" IS NULL)
                             AND c."primaryKey" = %s)""";

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
    private final ChangeKeys changeKeys;
    private Boolean anyUnappliedChange;
    private PreparedStatement keyLookup;
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
        this.changeKeys = ChangeKeys.of(mapping);
    }

    /**
     * @param bound      the key bound of {@code --max-users-per-project} (text form), or null
     * @param tableExists false when the target has no such table yet (it then counts as empty)
     */
    UnitResult run(String bound, boolean tableExists, boolean sharedTarget) throws SQLException {
        try {
            return sharedTarget && tableExists ? runProbing(bound) : runMerging(bound, tableExists);
        } finally {
            if (keyLookup != null) {
                keyLookup.close();
            }
        }
    }

    private UnitResult runMerging(String bound, boolean tableExists) throws SQLException {
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
        return internalRow[width + 1] != null || cursor < 0 || (sequence != null && Long.parseLong(sequence) > cursor);
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
        boolean isPending = unappliedDelete(y);
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
     * Whether a target-only row is explained by a change not yet applied: its key has an entry in the change log of
     * the mapping's table that is unstamped or stamped above the cursor (a delete the target has not seen yet). The
     * tenancy-wide existence check runs once per unit, so a unit with many extra rows and no unapplied change costs
     * one query, not one per row; the per-key lookup is prepared once per unit.
     */
    private boolean unappliedDelete(String[] y) throws SQLException {
        if (anyUnappliedChange == null) {
            try (PreparedStatement ps = internal.prepareStatement(ANY_UNAPPLIED_CHANGE)) {
                ps.setObject(1, tenancy);
                ps.setString(2, mapping.tombstoneTable());
                ps.setLong(3, cursor);
                ps.setObject(4, tenancy);
                ps.setObject(5, tenancy);
                ps.setString(6, mapping.tombstoneTable());
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    anyUnappliedChange = rs.getBoolean(1);
                }
            }
        }
        if (!anyUnappliedChange) {
            return false;
        }
        if (keyLookup == null) {
            keyLookup = internal.prepareStatement(UNAPPLIED_CHANGE_OF_KEY.formatted(changeKeys.expression()));
        }
        keyLookup.setObject(1, tenancy);
        keyLookup.setString(2, mapping.tombstoneTable());
        keyLookup.setLong(3, cursor);
        changeKeys.bind(keyLookup, 4, tenancy, y);
        try (ResultSet rs = keyLookup.executeQuery()) {
            rs.next();
            return rs.getBoolean(1);
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
