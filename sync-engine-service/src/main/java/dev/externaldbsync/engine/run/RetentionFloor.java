package dev.externaldbsync.engine.run;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The seam to change-log retention: a tenancy's {@code prunedThrough}, the stamp up to which its stamped entries may
 * have been deleted (0 when nothing was pruned). A cursor c ≥ 0 below it may need entries that are gone, so that
 * (tenancy, target, mapping) is backfilled from a snapshot instead of read from the log; and a backfill ends at no
 * less than it. Implementations read the internal database on the caller's connection; thread-safe.
 */
@FunctionalInterface
public interface RetentionFloor {

    /** Nothing is ever pruned (until retention is wired in). */
    RetentionFloor NONE = (ic, tenancy) -> 0;

    long prunedThrough(Connection ic, UUID tenancy) throws SQLException;

    /** The floors of several tenancies (tenancy → floor; a missing one is 0). */
    default Map<UUID, Long> prunedThrough(Connection ic, List<UUID> tenancies) throws SQLException {
        Map<UUID, Long> floors = new HashMap<>();
        for (UUID tenancy : tenancies) {
            floors.put(tenancy, prunedThrough(ic, tenancy));
        }
        return floors;
    }
}
