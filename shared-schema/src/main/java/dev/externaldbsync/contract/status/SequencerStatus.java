package dev.externaldbsync.contract.status;

import java.util.Map;

/**
 * Body of the sequencer's {@code GET /api/v1/status}: what the sequencer is doing and what waits for it. Counts and
 * timings only, never tenant data, so the route is open.
 *
 * @param instanceId            this process (host name)
 * @param paused                the fusebox switch of the sequencer is off (live)
 * @param running               the loop thread is running in this process
 * @param pollIntervalMillis    how long an idle loop waits before it looks for unstamped entries again
 * @param waitingRows           unstamped change-log entries per table name, live; {@code "<cap>+"} beyond the cap
 * @param waitingCounts         the same counts typed: per table, {@code capped} when the count reached the cap
 * @param stampsIssued          stamps {@code global_seq_id} has handed out (all replicas, ever); null when unknown
 * @param lastBatch             the last non-empty batch of this process, or null
 * @param batchesSinceStart     non-empty batches committed by this process
 * @param rowsStampedSinceStart change-log entries stamped by this process
 * @param lastError             the last failure the loop recovered from, or null
 */
public record SequencerStatus(String instanceId, boolean paused, boolean running, long pollIntervalMillis,
        Map<String, String> waitingRows, Map<String, CappedCount> waitingCounts, Long stampsIssued,
        SequencerLastBatch lastBatch, long batchesSinceStart, long rowsStampedSinceStart,
        SequencerLastError lastError) {

    public SequencerStatus {
        waitingRows = waitingRows == null ? Map.of() : waitingRows;
        waitingCounts = waitingCounts == null ? Map.of() : waitingCounts;
    }
}
