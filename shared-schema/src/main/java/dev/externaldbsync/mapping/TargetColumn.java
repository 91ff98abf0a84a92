package dev.externaldbsync.mapping;

import dev.externaldbsync.sql.Identifiers;

/**
 * One column of a target table.
 *
 * @param name the column name in the target (snake_case, never tenant input)
 * @param type the PostgreSQL type the value is cast to when written ({@code uuid}, {@code text}, {@code boolean},
 *             {@code timestamp}, {@code jsonb}, {@code bigint}, …); values travel as their PostgreSQL text form,
 *             which round-trips every one of these types exactly
 */
public record TargetColumn(String name, String type) {

    /** The name quoted for SQL. */
    public String quoted() {
        return Identifiers.quote(name);
    }
}
