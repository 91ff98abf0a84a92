package dev.externaldbsync.engine.run;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.Collection;
import java.util.Map;
import java.util.UUID;

/**
 * The seam to change-log retention: per tenancy and mapping, {@code prunedThrough}, the stamp up to which the stamped
 * entries of the mapping's table may have been deleted (absent or 0: nothing pruned). A cursor c ≥ 0 below it may
 * need entries that are gone, so that (tenancy, target, mapping) is backfilled from a snapshot instead of read from
 * the log; and a backfill ends at no less than it. Shaped like {@code ChangeRetention.prunedThroughByMapping}, which
 * is what the engine wires in. Implementations read the internal database on the caller's connection; thread-safe.
 */
@FunctionalInterface
public interface RetentionFloor {

    /** Nothing is ever pruned. */
    RetentionFloor NONE = (ic, tenancies) -> Map.of();

    /** Tenancy → mapping name → floor, in one statement; a missing tenancy or mapping has floor 0. */
    Map<UUID, Map<String, Long>> prunedThroughByMapping(Connection ic, Collection<UUID> tenancies)
            throws SQLException;
}
