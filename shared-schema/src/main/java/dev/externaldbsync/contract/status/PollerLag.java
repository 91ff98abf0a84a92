package dev.externaldbsync.contract.status;

/**
 * End-to-end lag percentiles in seconds over a sliding window of {@code windowSeconds}: from the sequencer's enqueue
 * of a tenancy (its first waiting change) to the engine's SYNCED answer. All percentiles are null when nothing was
 * measured in the window.
 */
public record PollerLag(Double p50Seconds, Double p95Seconds, Double p99Seconds, long samples, int windowSeconds) {

    public static PollerLag empty(int windowSeconds) {
        return new PollerLag(null, null, null, 0, windowSeconds);
    }
}
