package dev.externaldbsync.mapping;

import java.util.List;
import java.util.stream.Collectors;

import dev.externaldbsync.sql.Identifiers;

/**
 * How one target table is computed from the internal tables: its DDL, its key and columns, and the query that reads
 * one page of a tenancy's changes above a cursor. Immutable data, thread-safe; the sync engine and the integrity
 * verifier share it. The mapping's {@link #name()} is the target table name and the cursor key
 * ({@code _stack_sync_metadata.mapping_name}).
 *
 * <h2>Fetch query</h2>
 * The fetch is held as structure ({@link #fetch()}: two {@link FetchBranch}es, each a select list, an optional filter,
 * the {@link FetchRange} it walks and its convergence probe) and rendered by {@link FetchSql} in two forms: the
 * single-tenancy page with bound parameters ({@link #fetchSql()}) and the batched form against the outer row of a
 * LATERAL join. Both are
 * {@code SELECT * FROM ((<live branch> LIMIT n) UNION ALL (<tombstone branch> LIMIT n)) ORDER BY sequence_id LIMIT n}.
 * Both branches output the target columns in {@link #columns()} order, then {@code sequence_id bigint} and
 * {@code is_deleted boolean}, and each reads one page of one tenancy above the cursor, in sequence order, as an index
 * range scan that stops after one page. Two measured planner traps shape them:
 * <ul>
 * <li>With only an outer {@code ORDER BY … LIMIT}, PostgreSQL 17 computed every row above the cursor (including the
 * live branch's per-row primary-email lookup) and sorted them, for every page: 556 ms per 2,000-row page at 50,000
 * users, quadratic over a backfill. So each branch has its own {@code ORDER BY … LIMIT}; the first page of the union
 * lies within the first page of each branch.
 * <li>With {@code "tenancyId" = ? AND "sequenceId" > ? ORDER BY "sequenceId"}, the generic plan of the prepared
 * statement used the global unique index on {@code "sequenceId"} and filtered on the tenancy, scanning every
 * tenancy's newer rows (10 ms for a one-user tenancy next to a 50,000-user one; the 1,000,000-tenant shape makes it
 * unbounded). So each branch selects its tenancy with row comparisons, {@code ("tenancyId", "sequenceId") > (?, ?)
 * AND ("tenancyId", "sequenceId") <= (?, max)}, ordered by the same columns: only the
 * {@code ("tenancyId", "sequenceId")} index (for tombstones {@code ("tenancyId", "tableName", "sequenceId")}) can
 * serve either, so every plan is that range scan.
 * </ul>
 * Parameters, in order: {@link #fetchParameters()}.
 *
 * <h2>Convergence rule</h2>
 * The tombstone branch emits a tombstone only when <b>no live source row with the same target key exists in the same
 * tenancy</b> at the read snapshot. Live rows are the truth; a live row that is deleted later always gets a newer
 * tombstone (stamped after the row it deletes). Hence removing and re-adding a row within one sequencing window ends
 * <i>present</i>, and re-adding then removing ends <i>absent</i>, whatever order the sequencer stamped the tombstone
 * and the live row in. Within one snapshot a key is therefore either live (once) or tombstoned, never both, so a page
 * can be applied as one set-based upsert plus one set-based delete in any order.
 *
 * @param name           mapping id = target table = cursor key, e.g. {@code users}
 * @param sourceTable    the internal table whose rows drive this mapping, e.g. {@code ProjectUser}
 * @param tombstoneTable the {@code "DeletedRow"."tableName"} of its tombstones
 * @param keyColumns     the target's primary key columns (a subset of {@code columns}, in key order)
 * @param columns        every target column in DDL order
 * <h2>Projection query</h2>
 * {@link #projectionSql()} is what the target must hold for one tenancy: every live row, in target-key order, with
 * the target columns in {@link #columns()} order, then {@code sequence_id bigint} (null when never stamped) and
 * {@code pending boolean} (true when the row changed since its stamp). One parameter: the tenancy id. The integrity
 * verifier streams it next to the target table; rows that are pending, or stamped above the target's cursor, are
 * "not synced yet" rather than mismatches.
 *
 * @param ddl            the target DDL statements ({@code CREATE TABLE IF NOT EXISTS}, {@code REVOKE}, {@code GRANT})
 * @param fetch          the page query as structure, see above (null for a mapping that is never fetched)
 * @param projectionSql  the live projection of one tenancy in key order, see above (null until set)
 */
public record Mapping(String name, String sourceTable, String tombstoneTable, List<String> keyColumns,
        List<TargetColumn> columns, List<String> ddl, Fetch fetch, String projectionSql) {

    /** The two branches of a mapping's fetch: live rows and tombstones, each over its own range index. */
    public record Fetch(FetchBranch live, FetchBranch tombstones) {
    }

    /** A parameter of {@link #fetchSql()}. */
    public enum FetchParameter {
        /** the tenancy id (uuid) */
        TENANCY_ID,
        /** the cursor: only rows with a strictly greater sequence id are read (bigint) */
        CURSOR,
        /** the page size (int) */
        LIMIT
    }

    public Mapping {
        keyColumns = List.copyOf(keyColumns);
        columns = List.copyOf(columns);
        ddl = List.copyOf(ddl);
        List<String> names = columns.stream().map(TargetColumn::name).toList();
        if (!names.containsAll(keyColumns) || keyColumns.isEmpty()) {
            throw new IllegalArgumentException(name + ": key columns must be non-empty target columns");
        }
    }

    /**
     * Composes a mapping from its two branches. Each branch selects the target columns in order, then
     * {@code sequence_id} and {@code is_deleted} (named so); the rendering adds each branch's range, its
     * {@code ORDER BY} (what the range index serves) and the {@code LIMIT}s.
     */
    public static Mapping of(String name, String sourceTable, String tombstoneTable, List<String> keyColumns,
            List<TargetColumn> columns, FetchBranch liveBranch, FetchBranch tombstoneBranch) {
        String table = Identifiers.quote(name);
        String definition = columns.stream()
                .map(c -> "    " + c.quoted() + " " + c.type() + (keyColumns.contains(c.name()) ? " NOT NULL" : ""))
                .collect(Collectors.joining(",\n"));
        return new Mapping(name, sourceTable, tombstoneTable, keyColumns, columns, List.of(
                "CREATE TABLE IF NOT EXISTS " + table + " (\n" + definition + ",\n    PRIMARY KEY ("
                        + keyColumns.stream().map(Identifiers::quote).collect(Collectors.joining(", ")) + ")\n)",
                "REVOKE ALL ON " + table + " FROM PUBLIC",
                "GRANT SELECT ON " + table + " TO PUBLIC"),
                new Fetch(liveBranch, tombstoneBranch), null);
    }

    /** Sets the projection query (see the class comment). */
    public Mapping withProjection(String projection) {
        return new Mapping(name, sourceTable, tombstoneTable, keyColumns, columns, ddl, fetch, projection.strip());
    }

    /** Replaces the generated column definitions with explicit DDL (defaults, NOT NULLs exactly as Part C). */
    public Mapping withCreateTable(String createTable) {
        return new Mapping(name, sourceTable, tombstoneTable, keyColumns, columns,
                List.of(createTable.strip(), ddl.get(1), ddl.get(2)), fetch, projectionSql);
    }

    /** The single-tenancy page query with bound parameters ({@link #fetchParameters()}), see {@link FetchSql#single}. */
    public String fetchSql() {
        return FetchSql.single(this);
    }

    public List<FetchParameter> fetchParameters() {
        return FetchSql.singleParameters(this);
    }

    /** The target table name quoted for SQL. */
    public String quotedTable() {
        return Identifiers.quote(name);
    }

    /** Index of each key column within {@link #columns()}. */
    public int[] keyIndexes() {
        List<String> names = columns.stream().map(TargetColumn::name).toList();
        return keyColumns.stream().mapToInt(names::indexOf).toArray();
    }

    /**
     * The set-based upsert of one page's live rows: one {@code text[]} parameter per column (in column order), each
     * element the value's PostgreSQL text form or null. Rows identical to the target's are not rewritten, so
     * re-applying a page changes nothing (no new row versions either); the update count is the rows really changed.
     */
    public String upsertSql() {
        String names = columns.stream().map(TargetColumn::quoted).collect(Collectors.joining(", "));
        String casts = columns.stream().map(c -> "s." + c.quoted() + "::" + c.type()).collect(Collectors.joining(", "));
        String arrays = columns.stream().map(c -> "?::text[]").collect(Collectors.joining(", "));
        List<TargetColumn> rest = columns.stream().filter(c -> !keyColumns.contains(c.name())).toList();
        String conflict = " ON CONFLICT (" + keyColumns.stream().map(Identifiers::quote).collect(Collectors.joining(", "))
                + ")";
        if (rest.isEmpty()) {
            conflict += " DO NOTHING";
        } else {
            conflict += " DO UPDATE SET "
                    + rest.stream().map(c -> c.quoted() + " = EXCLUDED." + c.quoted()).collect(Collectors.joining(", "))
                    + " WHERE (" + rest.stream().map(c -> "t." + c.quoted()).collect(Collectors.joining(", "))
                    + ") IS DISTINCT FROM ("
                    + rest.stream().map(c -> "EXCLUDED." + c.quoted()).collect(Collectors.joining(", ")) + ")";
        }
        return "INSERT INTO " + quotedTable() + " AS t (" + names + ") SELECT " + casts + " FROM unnest(" + arrays
                + ") AS s(" + names + ")" + conflict;
    }

    /**
     * The set-based delete of one page's tombstoned keys: one {@code text[]} parameter per key column (in key
     * order). Deleting an absent key is a no-op, so re-applying is harmless.
     */
    public String deleteSql() {
        List<TargetColumn> keys = keyColumns.stream()
                .map(k -> columns.stream().filter(c -> c.name().equals(k)).findFirst().orElseThrow()).toList();
        String names = keys.stream().map(TargetColumn::quoted).collect(Collectors.joining(", "));
        return "DELETE FROM " + quotedTable() + " AS t USING (SELECT "
                + keys.stream().map(c -> "k." + c.quoted() + "::" + c.type() + " AS " + c.quoted())
                        .collect(Collectors.joining(", "))
                + " FROM unnest(" + keys.stream().map(c -> "?::text[]").collect(Collectors.joining(", ")) + ") AS k("
                + names + ")) AS k WHERE "
                + keys.stream().map(c -> "t." + c.quoted() + " = k." + c.quoted()).collect(Collectors.joining(" AND "));
    }

}
