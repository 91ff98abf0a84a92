package dev.externaldbsync.mapping;

/**
 * One branch of a mapping's fetch, as structure.
 *
 * @param select       {@code SELECT <target columns>, "sequence_id", "is_deleted" FROM … [JOIN …]}, no WHERE
 * @param filter       a condition every row of the branch must meet besides its range (e.g. a row type), or null
 * @param range        the index range it walks above the cursor
 * @param unlessExists for a tombstone branch, the correlated query that finds a live row with the same target key
 *                     (the convergence rule: such a tombstone is not emitted), or null
 */
public record FetchBranch(String select, String filter, FetchRange range, String unlessExists) {

    public FetchBranch {
        select = select.strip();
        filter = filter == null ? null : filter.strip();
        unlessExists = unlessExists == null ? null : unlessExists.strip();
    }

    /** A live branch: every row of {@code select} within {@code range}. */
    public static FetchBranch live(String select, FetchRange range) {
        return new FetchBranch(select, null, range, null);
    }

    /** The branch with an extra row filter. */
    public FetchBranch where(String condition) {
        return new FetchBranch(select, condition, range, unlessExists);
    }
}
