package dev.externaldbsync.mapping;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Renders a mapping's fetch ({@link Mapping.Fetch}) as SQL, in the two forms the engine runs:
 * <ul>
 * <li>{@link #single}: one tenancy's page above a cursor, with bound parameters ({@link #singleParameters}).
 * <li>{@link #lateral}: the same page as a subquery correlated to the outer row of a LATERAL join (a batch of
 * tenancies), with the tenancy, cursor, project and branch as expressions over that row and the page size a literal.
 * </ul>
 * Both are {@code SELECT * FROM ((<live> LIMIT n) UNION ALL (<tombstones> LIMIT n)) ORDER BY sequence_id LIMIT n}: each
 * branch has its own ORDER BY and LIMIT so that the first page of the union lies within the first page of each branch
 * (see {@link Mapping}). Stateless.
 */
public final class FetchSql {

    private FetchSql() {
    }

    /** The single-tenancy page query; its parameters are {@link #singleParameters}. */
    public static String single(Mapping mapping) {
        return render(fetch(mapping), FetchRange.Binding.PARAMETERS, "?");
    }

    /** The parameters of {@link #single}, in order: each branch's range, its LIMIT, then the outer LIMIT. */
    public static List<Mapping.FetchParameter> singleParameters(Mapping mapping) {
        Mapping.Fetch fetch = fetch(mapping);
        List<Mapping.FetchParameter> parameters = new ArrayList<>(fetch.live().range().parameters());
        parameters.add(Mapping.FetchParameter.LIMIT);
        parameters.addAll(fetch.tombstones().range().parameters());
        parameters.add(Mapping.FetchParameter.LIMIT);
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
        return render(fetch(mapping), outerRow, Integer.toString(limit));
    }

    /** One branch: its select, its filter and range, its convergence probe, ordered as its range index. */
    static String branch(FetchBranch branch, FetchRange.Binding binding) {
        StringBuilder sql = new StringBuilder(branch.select()).append("\nWHERE ");
        if (branch.filter() != null) {
            sql.append(branch.filter()).append("\n  AND ");
        }
        sql.append(branch.range().condition(binding));
        if (branch.unlessExists() != null) {
            sql.append("\n  AND NOT EXISTS (").append(branch.unlessExists()).append(")");
        }
        return sql.append("\nORDER BY ").append(String.join(", ", branch.range().orderBy())).toString();
    }

    private static String render(Mapping.Fetch fetch, FetchRange.Binding binding, String limit) {
        return "SELECT * FROM ((\n" + branch(fetch.live(), binding) + "\nLIMIT " + limit + ")\nUNION ALL (\n"
                + branch(fetch.tombstones(), binding) + "\nLIMIT " + limit + ")\n) AS \"_src\" ORDER BY \"sequence_id\" LIMIT "
                + limit;
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
