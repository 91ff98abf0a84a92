package dev.externaldbsync.mapping;

import java.util.List;

import dev.externaldbsync.sql.Identifiers;

/**
 * The index range one page of a mapping's fetch walks: one tenancy's stamped {@code "SyncChange"} entries of one
 * {@code "tableName"} above a cursor, over {@code "SyncChange_stamped_idx"} ({@code ("tenancyId", "tableName",
 * "sequenceId") WHERE "sequenceId" IS NOT NULL}). {@link FetchSql} renders it either with bound parameters (a single
 * tenancy's page) or against the outer row of a LATERAL join (a batch). Only the project's own catalog names appear
 * here, never tenant input.
 * <p>
 * With parameters, the row comparisons {@code (tenancy, table, sequence) > (?, t, ?) AND (tenancy, table, sequence)
 * <= (?, t, max)} are what make every generic plan this range scan (see {@link Mapping}). Against a LATERAL outer row
 * the same comparisons were only half used by the planner (tenancy as index condition, sequence as a filter, the
 * tenancy's whole range sorted), so there the equality form {@code "tenancyId" = x AND "tableName" = t AND
 * "sequenceId" > c} renders: a parameterized range scan of the same index that stops after the page. Both forms say
 * {@code "sequenceId" IS NOT NULL}, which is what lets the partial index qualify.
 *
 * @param alias     the alias of {@code "SyncChange"} in the rendered page
 * @param tableName the {@code "SyncChange"."tableName"} of the mapping's entries
 */
public record FetchRange(String alias, String tableName) {

    /** The sequence value above every real one: the upper end of a row-comparison range. */
    public static final String MAX_SEQUENCE = "9223372036854775807";

    public FetchRange {
        Identifiers.quote(alias);
        // Catalog names only; validated as identifiers so that nothing else can reach the literal.
        Identifiers.quote(tableName);
    }

    /** What a rendering puts where the tenancy and its cursor go. */
    public record Binding(String tenancy, String cursor) {

        /** The single-tenancy form: tenancy and cursor are {@code ?} parameters. */
        public static final Binding PARAMETERS = new Binding("?", "?");
    }

    /** The condition selecting the stamped entries above the cursor. */
    public String condition(Binding b) {
        String t = alias + ".\"tenancyId\"";
        String n = alias + ".\"tableName\"";
        String s = alias + ".\"sequenceId\"";
        String table = "'" + tableName.replace("'", "''") + "'";
        if (b == Binding.PARAMETERS) {
            return "(" + t + ", " + n + ", " + s + ") > (?, " + table + ", ?)\n  AND (" + t + ", " + n + ", " + s
                    + ") <= (?, " + table + ", " + MAX_SEQUENCE + ")\n  AND " + s + " IS NOT NULL";
        }
        return t + " = " + b.tenancy() + " AND " + n + " = " + table + " AND " + s + " > " + b.cursor() + "\n  AND "
                + s + " IS NOT NULL";
    }

    /** The index columns, in order, that serve both the condition and the ORDER BY. */
    public List<String> orderBy() {
        return List.of(alias + ".\"tenancyId\"", alias + ".\"tableName\"", alias + ".\"sequenceId\"");
    }

    /** The parameters the single form of the range takes, in order of appearance. */
    public List<Mapping.FetchParameter> parameters() {
        return List.of(Mapping.FetchParameter.TENANCY_ID, Mapping.FetchParameter.CURSOR,
                Mapping.FetchParameter.TENANCY_ID);
    }
}
