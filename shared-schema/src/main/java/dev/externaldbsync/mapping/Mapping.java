package dev.externaldbsync.mapping;

import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import dev.externaldbsync.sql.Identifiers;

/**
 * How one target table is computed from the internal tables: its DDL, its key and columns, and the query that reads
 * one page of a tenancy's changes above a cursor. Immutable data, thread-safe; the sync engine and the integrity
 * verifier share it. The mapping's {@link #name()} is the target table name and the cursor key
 * ({@code _stack_sync_metadata.mapping_name}).
 *
 * <h2>Fetch query</h2>
 * Writers' triggers append narrow entries to the change log {@code "SyncChange"} (tenancy, {@code "tableName"}, the
 * key as {@code "primaryKey"} JSON) and the sequencer stamps them; a mapping reads the entries of its
 * {@link #tombstoneTable()} and joins the live rows. The fetch is held as structure ({@link #fetch()}: the target
 * column expressions, the live-row joins, the deleted condition) and rendered by {@link FetchSql} in two forms: the
 * single-tenancy page with bound parameters ({@link #fetchSql()}) and the batched form against the outer row of a
 * LATERAL join. A page is: the tenancy's stamped entries of the table above the cursor, in sequence order,
 * {@code LIMIT n}; grouped by key, {@code max("sequenceId")} per key; each key's live row LEFT JOINed by a primary-key
 * or unique-index probe. It outputs the target columns in {@link #columns()} order (a deleted key's key columns from
 * {@code "primaryKey"}, the others meaningless), then {@code sequence_id bigint} (the key's highest entry in the page)
 * and {@code is_deleted boolean} (no live row), then {@code entries bigint} (how many of the page's entries the row
 * stands for, see {@link FetchSql}), ordered by {@code sequence_id}. Two measured planner traps shape the range scan:
 * <ul>
 * <li>With only an outer {@code ORDER BY … LIMIT}, PostgreSQL 17 computed every row above the cursor (including the
 * per-row primary-email lookup) and sorted them, for every page: 556 ms per 2,000-row page at 50,000 users, quadratic
 * over a backfill. So the entries are limited by their own {@code ORDER BY … LIMIT} before anything is joined: the
 * joins and the final sort see one page.
 * <li>With {@code "tenancyId" = ? AND "sequenceId" > ? ORDER BY "sequenceId"}, the generic plan of the prepared
 * statement used a global index on {@code "sequenceId"} and filtered on the tenancy, scanning every tenancy's newer
 * rows (10 ms for a one-user tenancy next to a 50,000-user one; the 1,000,000-tenant shape makes it unbounded). So the
 * single form selects its tenancy with row comparisons, {@code ("tenancyId", "tableName", "sequenceId") > (?, t, ?)
 * AND (…) <= (?, t, max)}, ordered by the same columns: only {@code "SyncChange_stamped_idx"} can serve either, so
 * every plan is that range scan (see {@link FetchRange}).
 * </ul>
 * Parameters, in order: {@link #fetchParameters()}.
 *
 * <h2>Convergence rule</h2>
 * The live rows are the truth: a key with an entry in the page is emitted as its live row when one exists at the read
 * snapshot and as deleted when none does, whatever the entries' order. Every change of a key appends an entry
 * stamped after the change commits, so removing and re-adding a row within one sequencing window ends
 * <i>present</i>, and re-adding then removing ends <i>absent</i>. Grouping by key makes each key appear once per page,
 * either live or deleted, so a page can be applied as one set-based upsert plus one set-based delete in any order.
 *
 * <h2>Projection query</h2>
 * {@link #projectionSql()} is what the target must hold for one tenancy: every live row, in target-key order, with
 * the target columns in {@link #columns()} order, then {@code sequence_id bigint} (the key's highest stamped entry in
 * {@code "SyncChange"}, null when none) and {@code pending boolean} (an unstamped entry exists for the key), both
 * looked up through {@code "SyncChange_key_idx"}. One parameter: the tenancy id. The integrity verifier streams it
 * next to the target table; rows that are pending, or stamped above the target's cursor, are "not synced yet" rather
 * than mismatches.
 *
 * @param name           mapping id = target table = cursor key, e.g. {@code users}
 * @param sourceTable    the internal table whose rows drive this mapping, e.g. {@code ProjectUser}
 * @param tombstoneTable the {@code "SyncChange"."tableName"} of this mapping's change-log entries (the name is kept
 *                       from the old tombstone table, whose {@code "tableName"} values the log reuses)
 * @param keyColumns     the target's primary key columns (a subset of {@code columns}, in key order)
 * @param columns        every target column in DDL order
 * @param ddl            the target DDL statements ({@code CREATE TABLE IF NOT EXISTS}, {@code REVOKE}, {@code GRANT})
 * @param fetch          the page query as structure, see above (null for a mapping that is never fetched)
 * @param projectionSql  the live projection of one tenancy in key order, see above (null until set)
 * @param sourceColumns  every internal table the mapping's SQL reads, with the columns it reads there (key, join and
 *                       lookup columns included): a change of any other column cannot change the target, which is
 *                       what the capture triggers' unmapped-column rule relies on
 * @param scan           the live rows computed straight from the source rows, for a snapshot backfill (null: the
 *                       backfill joins each key's live row through {@link #fetch()})
 */
public record Mapping(String name, String sourceTable, String tombstoneTable, List<String> keyColumns,
        List<TargetColumn> columns, List<String> ddl, Fetch fetch, String projectionSql,
        Map<String, List<String>> sourceColumns, Scan scan) {

    /**
     * The target columns computed from a source row already in hand, aliased {@code alias}, instead of from a key
     * joined back to its row: a snapshot backfill walks the source table's index anyway, and probing the same table
     * again by each key's JSON cost about as much as the rest of the page. Only for a mapping whose every source row
     * is a live target row (its fetch's deleted condition means "no source row"), so a scanned row is never a delete.
     *
     * @param alias  the source row's alias in {@code select} and {@code joins}
     * @param select the target column expressions in {@link #columns()} order, each {@code AS} its target name (the
     *               fetch's, with the key columns read from the row)
     * @param joins  the LEFT JOINs of what the columns are computed from beyond the row (empty: none)
     */
    public record Scan(String alias, String select, String joins) {

        public Scan {
            Identifiers.quote(alias);
            select = select.strip();
            joins = joins.strip();
        }
    }

    /**
     * A mapping's fetch as structure, over {@link FetchSql#CHANGE} (a page's grouped entries: {@code "tenancyId"},
     * {@code "primaryKey"}, {@code "sequence_id"}).
     *
     * @param select  the target column expressions in {@link #columns()} order, each {@code AS} its target name
     * @param joins   the LEFT JOINs of the live source row by key (and of what its columns are computed from)
     * @param deleted the condition that makes the key a delete (no live row, or for example its team is missing)
     */
    public record Fetch(String select, String joins, String deleted) {

        public Fetch {
            select = select.strip();
            joins = joins.strip();
            deleted = deleted.strip();
        }
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
        sourceColumns = sourceColumns == null ? Map.of() : Map.copyOf(sourceColumns);
        List<String> names = columns.stream().map(TargetColumn::name).toList();
        if (!names.containsAll(keyColumns) || keyColumns.isEmpty()) {
            throw new IllegalArgumentException(name + ": key columns must be non-empty target columns");
        }
    }

    /** A mapping that declares no source columns (for example a test's stand-in that is never captured). */
    public Mapping(String name, String sourceTable, String tombstoneTable, List<String> keyColumns,
            List<TargetColumn> columns, List<String> ddl, Fetch fetch, String projectionSql) {
        this(name, sourceTable, tombstoneTable, keyColumns, columns, ddl, fetch, projectionSql, Map.of(), null);
    }

    /** Composes a mapping from its fetch; the DDL is generated from the columns (see {@link #withCreateTable}). */
    public static Mapping of(String name, String sourceTable, String tombstoneTable, List<String> keyColumns,
            List<TargetColumn> columns, Fetch fetch) {
        String table = Identifiers.quote(name);
        String definition = columns.stream()
                .map(c -> "    " + c.quoted() + " " + c.type() + (keyColumns.contains(c.name()) ? " NOT NULL" : ""))
                .collect(Collectors.joining(",\n"));
        return new Mapping(name, sourceTable, tombstoneTable, keyColumns, columns, List.of(
                "CREATE TABLE IF NOT EXISTS " + table + " (\n" + definition + ",\n    PRIMARY KEY ("
                        + keyColumns.stream().map(Identifiers::quote).collect(Collectors.joining(", ")) + ")\n)",
                "REVOKE ALL ON " + table + " FROM PUBLIC",
                "GRANT SELECT ON " + table + " TO PUBLIC"),
                fetch, null, null, null);
    }

    /** Sets the projection query (see the class comment). */
    public Mapping withProjection(String projection) {
        return new Mapping(name, sourceTable, tombstoneTable, keyColumns, columns, ddl, fetch, projection.strip(),
                sourceColumns, scan);
    }

    /** Replaces the generated column definitions with explicit DDL (defaults, NOT NULLs exactly as Part C). */
    public Mapping withCreateTable(String createTable) {
        return new Mapping(name, sourceTable, tombstoneTable, keyColumns, columns,
                List.of(createTable.strip(), ddl.get(1), ddl.get(2)), fetch, projectionSql, sourceColumns, scan);
    }

    /**
     * Declares the columns this mapping's SQL reads, per internal table (see {@code sourceColumns}); a unit test
     * checks every {@code alias."column"} of the SQL against it.
     */
    public Mapping readingColumns(Map<String, List<String>> columnsByTable) {
        return new Mapping(name, sourceTable, tombstoneTable, keyColumns, columns, ddl, fetch, projectionSql,
                columnsByTable, scan);
    }

    /** Sets the backfill's direct computation from source rows (see {@link Scan}). */
    public Mapping withScan(String alias, String select, String joins) {
        return new Mapping(name, sourceTable, tombstoneTable, keyColumns, columns, ddl, fetch, projectionSql,
                sourceColumns, new Scan(alias, select, joins));
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
        return "INSERT INTO " + quotedTable() + " AS t (" + names + ") SELECT " + casts + " FROM unnest(" + arrays
                + ") AS s(" + names + ")" + onConflict();
    }

    /**
     * The session's staging table of a copied backfill chunk: temporary (one per connection, invisible to every
     * other session, never in the tenant's schema), the target's columns with their types, emptied at every commit.
     */
    public String stagingTable() {
        return "pg_temp." + Identifiers.quote("_external_db_sync_" + name);
    }

    /** Creates {@link #stagingTable} where the session has none yet. */
    public String stagingDdl() {
        return "CREATE TEMPORARY TABLE IF NOT EXISTS " + Identifiers.quote("_external_db_sync_" + name) + " ("
                + columns.stream().map(c -> c.quoted() + " " + c.type()).collect(Collectors.joining(", "))
                + ") ON COMMIT DELETE ROWS";
    }

    /** The binary COPY into {@link #stagingTable}, the target's columns in order. */
    public String stagingCopySql() {
        return "COPY " + stagingTable() + " (" + columns.stream().map(TargetColumn::quoted)
                .collect(Collectors.joining(", ")) + ") FROM STDIN (FORMAT binary)";
    }

    /**
     * The binary COPY straight into the target table, the target's columns in order: for rows whose keys the table
     * does not hold (a key it holds fails the whole COPY with a unique violation).
     */
    public String insertCopySql() {
        return "COPY " + quotedTable() + " (" + columns.stream().map(TargetColumn::quoted)
                .collect(Collectors.joining(", ")) + ") FROM STDIN (FORMAT binary)";
    }

    /**
     * {@link #upsertSql} from {@link #stagingTable} instead of arrays: the same conflict rule, so a staged row
     * identical to the target's is not rewritten and the update count is the rows really changed.
     */
    public String upsertFromStagingSql() {
        String names = columns.stream().map(TargetColumn::quoted).collect(Collectors.joining(", "));
        return "INSERT INTO " + quotedTable() + " AS t (" + names + ") SELECT " + names + " FROM " + stagingTable()
                + onConflict();
    }

    private String onConflict() {
        List<TargetColumn> rest = columns.stream().filter(c -> !keyColumns.contains(c.name())).toList();
        String conflict = " ON CONFLICT (" + keyColumns.stream().map(Identifiers::quote).collect(Collectors.joining(", "))
                + ")";
        if (rest.isEmpty()) {
            return conflict + " DO NOTHING";
        }
        return conflict + " DO UPDATE SET "
                + rest.stream().map(c -> c.quoted() + " = EXCLUDED." + c.quoted()).collect(Collectors.joining(", "))
                + " WHERE (" + rest.stream().map(c -> "t." + c.quoted()).collect(Collectors.joining(", "))
                + ") IS DISTINCT FROM ("
                + rest.stream().map(c -> "EXCLUDED." + c.quoted()).collect(Collectors.joining(", ")) + ")";
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
