package dev.externaldbsync.sequencer;

import java.util.stream.Collectors;

import dev.externaldbsync.schema.SourceTable;
import dev.externaldbsync.sql.Identifiers;

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
        if (table.tenancySource() == SourceTable.TenancySource.PROJECT_AND_BRANCH) {
            return ofProjectAndBranch(table);
        }
        String t = table.quotedName();
        String tenancy = Identifiers.quote(table.tenancyColumn());
        String marked = "\"shouldUpdateSequenceId\"";
        String keyJoin = table.claimKey().stream()
                .map(k -> "r." + Identifiers.quote(k) + " = claimed." + Identifiers.quote(k))
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
     * A table whose tenancy is the {@code "Tenancy"} of its {@code ("projectId", "branchId")}. Its partial flag index
     * is {@code ("projectId", "branchId") WHERE "shouldUpdateSequenceId" AND <row filter>}, so every statement adds
     * the row filter: rows outside it (other verification code types) are never read, claimed or stamped.
     * <p>
     * The fairness walk is over distinct {@code (projectId, branchId)} pairs in index order (a loose index scan, one
     * descent per pair), each expanded to its tenancies. The sequencer's tenancy cursor and bounds are translated to
     * the pair of that tenancy, so "after the cursor" means "after the cursor's pair" and the round-robin order is the
     * pair order; a bound that names no tenancy ({@code MIN_UUID}/{@code MAX_UUID}, or a tenancy deleted meanwhile)
     * is open. Parameters keep the shapes of the class comment (the upper bound, given twice, feeds the first and the
     * recursive step of the walk). Unqualified {@code "type"}/{@code "shouldUpdateSequenceId"} resolve to the code:
     * no other relation in scope has such columns.
     */
    private static TableStatements ofProjectAndBranch(SourceTable table) {
        String t = table.quotedName();
        String marked = "\"shouldUpdateSequenceId\" AND " + table.rowFilter();
        String keyJoin = table.claimKey().stream()
                .map(k -> "r." + Identifiers.quote(k) + " = claimed." + Identifiers.quote(k))
                .collect(Collectors.joining(" AND "));
        return new TableStatements(table,
                "SELECT EXISTS (SELECT 1 FROM " + t + " WHERE " + marked + ")",
                distinctPairs(t, marked, ">"),
                distinctPairs(t, marked, ">="),
                """
                WITH stamped AS (
                    UPDATE %1$s AS r
                    SET "sequenceId" = nextval('global_seq_id'), "shouldUpdateSequenceId" = FALSE
                    FROM (SELECT c.*, tn."id" AS tenancy
                          FROM unnest(?::uuid[]) AS u(id)
                          JOIN "Tenancy" AS tn ON tn."id" = u.id
                          CROSS JOIN LATERAL (
                              SELECT %3$s FROM %1$s AS v
                              WHERE v."projectId" = tn."projectId" AND v."branchId" = tn."branchId" AND %2$s
                              LIMIT ?
                              FOR UPDATE OF v SKIP LOCKED) AS c) AS claimed
                    WHERE %4$s
                    RETURNING claimed.tenancy AS tenancy)
                SELECT tenancy, count(*) FROM stamped GROUP BY tenancy"""
                        .formatted(t, marked, table.quotedClaimKey(), keyJoin),
                "SELECT count(*) FROM (SELECT 1 FROM " + t + " WHERE " + marked + " LIMIT ?) AS capped");
    }

    /**
     * The loose index scan over distinct marked {@code (projectId, branchId)} pairs (see {@link #ofProjectAndBranch}):
     * {@code ?1} lower tenancy (its pair compared with {@code firstOp}), {@code ?2}/{@code ?3} upper tenancy
     * (inclusive), {@code ?4} the number of tenancies. The upper bound stops the recursion; the outer LIMIT stops it
     * too, since the recursive CTE is evaluated lazily.
     */
    private static String distinctPairs(String t, String marked, String firstOp) {
        // Unqualified "type"/"shouldUpdateSequenceId" resolve to the code: no other relation in scope has them.
        return """
                WITH RECURSIVE lo AS (
                    SELECT COALESCE(x."projectId", '') AS p, COALESCE(x."branchId", '') AS b
                    FROM (SELECT ?::uuid AS id) AS q LEFT JOIN "Tenancy" AS x ON x."id" = q.id),
                hi AS (SELECT x."projectId" AS p, x."branchId" AS b FROM "Tenancy" AS x WHERE x."id" = ?::uuid),
                hi_again AS (SELECT x."projectId" AS p, x."branchId" AS b FROM "Tenancy" AS x WHERE x."id" = ?::uuid),
                found(p, b) AS (
                    (SELECT v."projectId", v."branchId" FROM %1$s AS v
                     WHERE %2$s AND (v."projectId", v."branchId") %3$s (SELECT lo.p, lo.b FROM lo)
                       AND (NOT EXISTS (SELECT 1 FROM hi) OR (v."projectId", v."branchId") <= (SELECT hi.p, hi.b FROM hi))
                     ORDER BY v."projectId", v."branchId" LIMIT 1)
                    UNION ALL
                    SELECT n.p, n.b FROM found AS f CROSS JOIN LATERAL (
                        SELECT v."projectId" AS p, v."branchId" AS b FROM %1$s AS v
                        WHERE %2$s AND (v."projectId", v."branchId") > (f.p, f.b)
                          AND (NOT EXISTS (SELECT 1 FROM hi_again)
                               OR (v."projectId", v."branchId") <= (SELECT hi_again.p, hi_again.b FROM hi_again))
                        ORDER BY v."projectId", v."branchId" LIMIT 1) AS n)
                SELECT tn."id" FROM found AS f
                CROSS JOIN LATERAL (SELECT x."id" FROM "Tenancy" AS x
                                    WHERE x."projectId" = f.p AND x."branchId" = f.b ORDER BY x."id") AS tn
                LIMIT ?"""
                .formatted(t, marked, firstOp);
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
}
