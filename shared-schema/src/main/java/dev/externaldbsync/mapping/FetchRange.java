package dev.externaldbsync.mapping;

import java.util.List;

import dev.externaldbsync.sql.Identifiers;

/**
 * The index range one fetch branch walks for one tenancy above a cursor, as structure: {@link FetchSql} renders it
 * either with bound parameters (a single tenancy's page) or against the outer row of a LATERAL join (a batch). Only
 * the project's own catalog names appear here, never tenant input.
 */
public sealed interface FetchRange {

    /** The sequence value above every real one: the upper end of a row-comparison range. */
    String MAX_SEQUENCE = "9223372036854775807";

    /** What a rendering puts where the tenancy, its cursor and (for project-keyed rows) its project and branch go. */
    record Binding(String tenancy, String cursor, String project, String branch) {

        /** The single-tenancy form: tenancy and cursor are {@code ?} parameters. */
        public static final Binding PARAMETERS = new Binding("?", "?", null, null);
    }

    /** The condition selecting the rows above the cursor. */
    String condition(Binding binding);

    /** The index columns, in order, that serve both the condition and the ORDER BY. */
    List<String> orderBy();

    /** The parameters the single form takes, in order of appearance. */
    default List<Mapping.FetchParameter> parameters() {
        return List.of(Mapping.FetchParameter.TENANCY_ID, Mapping.FetchParameter.CURSOR,
                Mapping.FetchParameter.TENANCY_ID);
    }

    /**
     * Over {@code ("tenancyId", "sequenceId")} of {@code alias}. With parameters, the row comparisons
     * {@code (tenancy, sequence) > (?, ?) AND (tenancy, sequence) <= (?, max)} are what make every generic plan this
     * range scan (see {@link Mapping}). Against a LATERAL outer row the same comparisons were only half used by the
     * planner (tenancy as index condition, sequence as a filter, the tenancy's whole range sorted), so there the
     * equality form {@code "tenancyId" = x AND "sequenceId" > c} renders: a parameterized range scan of the same index
     * that stops after the page.
     */
    record ByTenancy(String alias) implements FetchRange {

        @Override
        public String condition(Binding b) {
            String t = alias + ".\"tenancyId\"";
            String s = alias + ".\"sequenceId\"";
            if (b == Binding.PARAMETERS) {
                return "(" + t + ", " + s + ") > (?, ?)\n  AND (" + t + ", " + s + ") <= (?, " + MAX_SEQUENCE + ")";
            }
            return t + " = " + b.tenancy() + " AND " + s + " > " + b.cursor();
        }

        @Override
        public List<String> orderBy() {
            return List.of(alias + ".\"tenancyId\"", alias + ".\"sequenceId\"");
        }
    }

    /** Over {@code ("tenancyId", "tableName", "sequenceId")} of a {@code "DeletedRow"} alias, one table's tombstones. */
    record ByTombstoneTable(String alias, String tableName) implements FetchRange {

        @Override
        public String condition(Binding b) {
            String t = alias + ".\"tenancyId\"";
            String n = alias + ".\"tableName\"";
            String s = alias + ".\"sequenceId\"";
            String table = literal(tableName);
            if (b == Binding.PARAMETERS) {
                return "(" + t + ", " + n + ", " + s + ") > (?, " + table + ", ?)\n  AND (" + t + ", " + n + ", " + s
                        + ") <= (?, " + table + ", " + MAX_SEQUENCE + ")";
            }
            return t + " = " + b.tenancy() + " AND " + n + " = " + table + " AND " + s + " > " + b.cursor();
        }

        @Override
        public List<String> orderBy() {
            return List.of(alias + ".\"tenancyId\"", alias + ".\"tableName\"", alias + ".\"sequenceId\"");
        }
    }

    /**
     * Over {@code ("projectId", "branchId", "sequenceId")} of {@code alias}, for rows with no tenancy column (team
     * invitations): with parameters the tenancy's project and branch are looked up from {@code "Tenancy"} inside the
     * row comparisons (each a one-row initPlan, so the range stays an index condition); a batch looks them up once
     * per tenancy and binds them.
     */
    record ByProjectBranch(String alias) implements FetchRange {

        @Override
        public String condition(Binding b) {
            String cols = "(" + alias + ".\"projectId\", " + alias + ".\"branchId\", " + alias + ".\"sequenceId\")";
            if (b == Binding.PARAMETERS) {
                return cols + " > (\n      SELECT tn.\"projectId\", tn.\"branchId\", q.\"cursor\"\n"
                        + "      FROM (SELECT ?::uuid AS \"id\", ?::bigint AS \"cursor\") q JOIN \"Tenancy\" tn ON tn.\"id\" = q.\"id\")\n"
                        + "  AND " + cols + " <= (\n      SELECT tn.\"projectId\", tn.\"branchId\", " + MAX_SEQUENCE
                        + "::bigint FROM \"Tenancy\" tn\n      WHERE tn.\"id\" = ?::uuid)";
            }
            if (b.project() == null || b.branch() == null) {
                throw new IllegalArgumentException("a project-keyed range needs the tenancy's project and branch");
            }
            return alias + ".\"projectId\" = " + b.project() + " AND " + alias + ".\"branchId\" = " + b.branch()
                    + " AND " + alias + ".\"sequenceId\" > " + b.cursor();
        }

        @Override
        public List<String> orderBy() {
            return List.of(alias + ".\"projectId\"", alias + ".\"branchId\"", alias + ".\"sequenceId\"");
        }
    }

    private static String literal(String catalogName) {
        // Catalog names only; validated as identifiers so that nothing else can reach the literal.
        Identifiers.quote(catalogName);
        return "'" + catalogName.replace("'", "''") + "'";
    }
}
