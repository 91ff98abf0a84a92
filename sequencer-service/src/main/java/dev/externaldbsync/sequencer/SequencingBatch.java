package dev.externaldbsync.sequencer;

import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The outcome of one committed {@link Sequencer} batch. Immutable.
 *
 * @param entriesPerTable    change-log entries stamped per {@code "tableName"} (every {@link Sequencer#LOG_TABLES}
 *                           entry present, zero included)
 * @param tenancies          distinct tenancies that had entries stamped
 * @param requestsTouched    pending requests inserted or refreshed by {@code sync_enqueue_tenancies}
 * @param compacted          entries deleted because a newer entry of the same key was stamped in this batch
 * @param nothingWaiting     true when the batch found no unstamped entry at all (no transaction was opened)
 * @param mayHaveMore        true when the batch stopped at a limit, so more unstamped entries may be waiting right
 *                           now: the loop runs again at once
 * @param finishedAt         when the batch committed (or was found empty)
 * @param duration           wall time of the call
 */
public record SequencingBatch(Map<String, Integer> entriesPerTable, int tenancies, int requestsTouched, int compacted,
        boolean nothingWaiting, boolean mayHaveMore, Instant finishedAt, Duration duration) {

    public SequencingBatch {
        entriesPerTable = Collections.unmodifiableMap(new LinkedHashMap<>(entriesPerTable.isEmpty()
                ? zeros() : entriesPerTable));
    }

    static SequencingBatch empty(Instant at, Duration duration) {
        return new SequencingBatch(zeros(), 0, 0, 0, true, false, at, duration);
    }

    SequencingBatch committedAt(Instant at, Duration took) {
        return new SequencingBatch(entriesPerTable, tenancies, requestsTouched, compacted, nothingWaiting, mayHaveMore,
                at, took);
    }

    /** Entries stamped in all tables. */
    public int entries() {
        return entriesPerTable.values().stream().mapToInt(Integer::intValue).sum();
    }

    private static Map<String, Integer> zeros() {
        Map<String, Integer> zeros = new LinkedHashMap<>();
        for (String table : Sequencer.LOG_TABLES) {
            zeros.put(table, 0);
        }
        return zeros;
    }
}
