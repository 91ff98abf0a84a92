package dev.externaldbsync.contract.status;

import java.time.Instant;
import java.util.Map;

/** One committed sequencing batch: rows per table, total, tenancies, duration, commit time. */
public record SequencerLastBatch(int rows, Map<String, Integer> rowsPerTable, int tenancies, long durationMillis,
        Instant finishedAt) {
}
