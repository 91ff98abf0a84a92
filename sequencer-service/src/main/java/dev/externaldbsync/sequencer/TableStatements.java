package dev.externaldbsync.sequencer;

import java.util.stream.Collectors;

import dev.externaldbsync.schema.SourceTable;

/**
 * All SQL the sequencer runs against one sequenced table, generated in this one place from the {@link SourceTable}
 * catalog so that a new table needs no new SQL.
 * <p>
 * Every statement reaches marked rows only through the partial flag index {@code "<T>_shouldUpdateSequenceId_idx"
 * ON ("tenancyId") WHERE "shouldUpdateSequenceId"}: once the backlog is stamped that index is nearly empty, so
 * the statements cost the same on a table of ten rows and on one of ten million.
 * <p>
 * A table whose tenancy is not a column of its own ({@code "VerificationCode"}, which reaches its tenancy through
 * {@code "Tenancy"} on {@code (projectId, branchId)} and sequences only {@code TEAM_INVITATION} codes) gets its own
 * branch in {@link #of}: the rest of the sequencer sees only these five statements and their parameters (a tenancy
 * cursor, a tenancy array, a quota, a cap), so such a table can, for example, walk distinct {@code (projectId,
 * branchId)} pairs joined to {@code "Tenancy"} and add its type filter without any change outside this file.
 *
 * @param table          the catalog entry
 * @param anyMarked      {@code SELECT EXISTS(…)}: is at least one row of the table marked
 * @param tenancyAfter   loose index scan: up to {@code ?4} distinct tenancies with marked rows, ascending, strictly
 *                       after {@code ?1} and at most {@code ?2}/{@code ?3} (the upper bound, given twice)
 * @param tenancyWrapped the same scan, but starting at and including {@code ?1} (the wrap-around pass)
 * @param claim          claims up to {@code ?2} marked rows per tenancy of the uuid array {@code ?1} (skipping rows
 *                       locked by writers in flight or by another sequencer), stamps them and returns
 *                       {@code (tenancyId, rows)} per tenancy
 * @param waiting        the number of marked rows, counted up to {@code ?1} (a cap so a huge backlog costs a bounded
 *                       index scan)
 */
record TableStatements(SourceTable table, String anyMarked, String tenancyAfter, String tenancyWrapped, String claim,
        String waiting) {

    static TableStatements of(SourceTable table) {
        String t = table.quotedName();
        String tenancy = quote(table.tenancyColumn());
        String marked = "\"shouldUpdateSequenceId\"";
        String keyJoin = table.claimKey().stream()
                .map(k -> "r." + quote(k) + " = claimed." + quote(k))
                .collect(Collectors.joining(" AND "));
        return new TableStatements(table,
                "SELECT EXISTS (SELECT 1 FROM " + t + " WHERE " + marked + ")",
                distinctTenancies(t, tenancy, marked, ">"),
                distinctTenancies(t, tenancy, marked, ">="),
                // The row locks come from the LATERAL sub-select (FOR UPDATE SKIP LOCKED), per tenancy, so one
                // tenancy's quota is a LIMIT on its own index range; the outer UPDATE then joins on the claim key,
                // which (unlike a ctid join) follows a row updated and committed after the statement's snapshot.
                """
                WITH stamped AS (
                    UPDATE %1$s AS r
                    SET "sequenceId" = nextval('global_seq_id'), %3$s = FALSE
                    FROM (SELECT c.* FROM unnest(?::uuid[]) AS t(id)
                          CROSS JOIN LATERAL (
                              SELECT %4$s FROM %1$s
                              WHERE %2$s = t.id AND %3$s
                              LIMIT ?
                              FOR UPDATE SKIP LOCKED) AS c) AS claimed
                    WHERE %5$s
                    RETURNING r.%2$s AS tenancy)
                SELECT tenancy, count(*) FROM stamped GROUP BY tenancy"""
                        .formatted(t, tenancy, marked, table.quotedClaimKey(), keyJoin),
                "SELECT count(*) FROM (SELECT 1 FROM " + t + " WHERE " + marked + " LIMIT ?) AS capped");
    }

    /**
     * A loose index scan ("skip scan") over the partial flag index: one index descent per distinct tenancy, so
     * finding the 1,000 tenancies after the cursor costs 1,000 descents however many rows each one has marked.
     */
    private static String distinctTenancies(String t, String tenancy, String marked, String firstOp) {
        return """
                WITH RECURSIVE found(id) AS (
                    (SELECT %2$s FROM %1$s WHERE %3$s AND %2$s %4$s ?::uuid AND %2$s <= ?::uuid
                     ORDER BY %2$s LIMIT 1)
                    UNION ALL
                    SELECT (SELECT %2$s FROM %1$s WHERE %3$s AND %2$s > f.id AND %2$s <= ?::uuid
                            ORDER BY %2$s LIMIT 1)
                    FROM found AS f WHERE f.id IS NOT NULL)
                SELECT id FROM found WHERE id IS NOT NULL LIMIT ?"""
                .formatted(t, tenancy, marked, firstOp);
    }

    private static String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }
}
