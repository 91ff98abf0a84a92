package dev.externaldbsync.sequencer;

import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;

import dev.externaldbsync.schema.SourceTable;

/**
 * The outcome of one committed {@link Sequencer#runOnce()} call. Immutable.
 *
 * @param rowsPerTable       rows stamped per table (every catalog table present, zero included)
 * @param tenancies          distinct tenancies that had rows stamped
 * @param requestsTouched    pending requests inserted or refreshed by {@code sync_enqueue_tenancies}
 * @param nothingMarked      true when the batch found no marked row at all (no transaction was opened)
 * @param mayHaveMore        true when the batch stopped at a limit, so more marked rows may be waiting right now:
 *                           the loop runs again at once instead of waiting for a notification
 * @param finishedAt         when the batch committed (or was found empty)
 * @param duration           wall time of the call
 */
public record SequencingBatch(Map<SourceTable, Integer> rowsPerTable, int tenancies, int requestsTouched,
        boolean nothingMarked, boolean mayHaveMore, Instant finishedAt, Duration duration) {

    public SequencingBatch {
        rowsPerTable = Collections.unmodifiableMap(new EnumMap<>(rowsPerTable.isEmpty()
                ? zeros() : rowsPerTable));
    }

    static SequencingBatch empty(Instant at, Duration duration) {
        return new SequencingBatch(zeros(), 0, 0, true, false, at, duration);
    }

    SequencingBatch committedAt(Instant at, Duration took) {
        return new SequencingBatch(rowsPerTable, tenancies, requestsTouched, nothingMarked, mayHaveMore, at, took);
    }

    /** Rows stamped in all tables. */
    public int rows() {
        return rowsPerTable.values().stream().mapToInt(Integer::intValue).sum();
    }

    private static Map<SourceTable, Integer> zeros() {
        Map<SourceTable, Integer> zeros = new EnumMap<>(SourceTable.class);
        for (SourceTable table : SourceTable.values()) {
            zeros.put(table, 0);
        }
        return zeros;
    }
}
