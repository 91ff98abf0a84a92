package dev.externaldbsync.engine.apply;

import java.util.List;
import java.util.UUID;

import dev.externaldbsync.engine.read.Row;
import dev.externaldbsync.mapping.Mapping;

/**
 * The rows of one (tenancy, mapping) to apply in one target transaction, with the cursor move they make: from the
 * value they were read above to {@code to} (the last row's sequence id, or past a dead-lettered row).
 *
 * @param cursorMissing the tenancy has no cursor for this mapping in the target yet (first sync): it is created at
 *                      {@code to} in the same transaction
 */
public record Slice(UUID tenancyId, Mapping mapping, long from, long to, boolean cursorMissing, List<Row> rows) {

    /** The rows read above {@code from}, moving the cursor to the last of them. */
    public static Slice of(UUID tenancyId, Mapping mapping, long from, boolean cursorMissing, List<Row> rows) {
        return new Slice(tenancyId, mapping, from, rows.isEmpty() ? from : rows.get(rows.size() - 1).sequenceId(),
                cursorMissing, rows);
    }

    /** No rows, only the cursor moved past {@code to} (a dead-lettered row). */
    public static Slice skipTo(UUID tenancyId, Mapping mapping, long from, long to) {
        return new Slice(tenancyId, mapping, from, to, false, List.of());
    }
}
