package dev.externaldbsync.mapping;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Renders a mapping's fetch ({@link Mapping.Fetch}) as SQL, in the two forms the engine runs:
 * <ul>
 * <li>{@link #single}: one tenancy's page above a cursor, with bound parameters ({@link #singleParameters}).
 * <li>{@link #lateral}: the same page as a subquery correlated to the outer row of a LATERAL join (a batch of
 * tenancies), with the tenancy and cursor as expressions over that row and the page size a literal.
 * </ul>
 * Both are three steps: the tenancy's stamped {@code "SyncChange"} entries of the mapping's table above the cursor, in
 * sequence order, {@code LIMIT n} (the range scan, see {@link FetchRange}); grouped by key ({@code max("sequenceId")}
 * per key, so a key appears once per page); then the live source row LEFT JOINed by its key, a primary-key or
 * unique-index probe per key (no live row: the key is deleted). Ordered by {@code sequence_id}. After the target
 * columns, {@code sequence_id} and {@code is_deleted} comes {@code entries}, how many of the page's entries the row
 * stands for: a page has fewer rows than its limit either because the range ended (the entries add up to less than the
 * limit) or because one key had several entries in it, and only a reader that can tell the two apart knows whether it
 * is caught up. Stateless.
 */
public final class FetchSql {

    /** The alias of a page's grouped entries: {@code "tenancyId"}, {@code "primaryKey"}, {@code "sequence_id"}. */
    public static final String CHANGE = "ch";

    private static final String ENTRY = "sc";

    private FetchSql() {
    }

    /** The single-tenancy page query; its parameters are {@link #singleParameters}. */
    public static String single(Mapping mapping) {
        return render(mapping, fetch(mapping), FetchRange.Binding.PARAMETERS, "?");
    }

    /** The parameters of {@link #single}, in order: the range's, then the LIMIT. */
    public static List<Mapping.FetchParameter> singleParameters(Mapping mapping) {
        List<Mapping.FetchParameter> parameters = new ArrayList<>(range(mapping).parameters());
        parameters.add(Mapping.FetchParameter.LIMIT);
        return List.copyOf(parameters);
    }

    /**
     * The page query correlated to an outer row: no parameters; {@code limit} is a literal because a LIMIT the
     * planner cannot see makes it cost every tenancy's whole range.
     */
    public static String lateral(Mapping mapping, FetchRange.Binding outerRow, int limit) {
        if (outerRow == FetchRange.Binding.PARAMETERS || limit < 1) {
            throw new IllegalArgumentException("the lateral form binds expressions and a positive literal limit");
        }
        return render(mapping, fetch(mapping), outerRow, Integer.toString(limit));
    }

    /** The range every page of {@code mapping} walks. */
    public static FetchRange range(Mapping mapping) {
        return new FetchRange(ENTRY, mapping.tombstoneTable());
    }

    private static String render(Mapping mapping, Mapping.Fetch fetch, FetchRange.Binding binding, String limit) {
        FetchRange range = range(mapping);
        String e = ENTRY + ".";
        return "SELECT " + fetch.select() + ",\n       " + CHANGE + ".\"sequence_id\" AS \"sequence_id\", ("
                + fetch.deleted() + ") AS \"is_deleted\", " + CHANGE + ".\"entries\" AS \"entries\"\nFROM (\n"
                + "    SELECT " + e + "\"tenancyId\", " + e + "\"primaryKey\", max(" + e + "\"sequenceId\") AS \"sequence_id\", "
                + "count(*) AS \"entries\"\n"
                + "    FROM (\n"
                + "        SELECT " + e + "\"tenancyId\", " + e + "\"primaryKey\", " + e + "\"sequenceId\"\n"
                + "        FROM \"SyncChange\" " + ENTRY + "\n"
                + "        WHERE " + range.condition(binding).replace("\n", "\n        ") + "\n"
                + "        ORDER BY " + String.join(", ", range.orderBy()) + "\n"
                + "        LIMIT " + limit + ") AS " + ENTRY + "\n"
                + "    GROUP BY " + e + "\"tenancyId\", " + e + "\"primaryKey\") AS " + CHANGE + "\n"
                + fetch.joins() + "\nORDER BY " + CHANGE + ".\"sequence_id\"";
    }

    private static Mapping.Fetch fetch(Mapping mapping) {
        if (mapping.fetch() == null) {
            throw new IllegalStateException(mapping.name() + " has no fetch");
        }
        return mapping.fetch();
    }

    /** The target columns of {@code mapping} as their text form, qualified by {@code alias}, comma-separated. */
    public static String textColumns(Mapping mapping, String alias) {
        return mapping.columns().stream().map(c -> alias + "." + c.quoted() + "::text")
                .collect(Collectors.joining(", "));
    }
}
