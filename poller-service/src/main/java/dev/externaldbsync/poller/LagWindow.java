package dev.externaldbsync.poller;

import dev.externaldbsync.contract.status.PollerLag;

/**
 * End-to-end lag percentiles over a sliding window (the last {@code windowSeconds} whole seconds), in bounded memory:
 * one log-scale histogram per second (buckets grow by 10%, from 1 ms to about 2 days), so a percentile is exact to
 * within one bucket (±5%) however many tenancies are delivered. Memory is {@code windowSeconds × 200} longs whatever the
 * rate. Thread-safe (synchronized; each call is a few hundred array operations at most).
 */
public final class LagWindow {

    private static final double GROWTH = 1.1;
    private static final double LOG_GROWTH = Math.log(GROWTH);
    private static final int BUCKETS = 200;

    private final int window;
    private final long[][] counts;
    private final long[] seconds;

    public LagWindow(int windowSeconds) {
        if (windowSeconds < 1) {
            throw new IllegalArgumentException("window must be at least 1 second");
        }
        this.window = windowSeconds;
        this.counts = new long[windowSeconds][BUCKETS];
        this.seconds = new long[windowSeconds];
        java.util.Arrays.fill(seconds, Long.MIN_VALUE);
    }

    /** Records one lag of {@code lagMillis} (negative values, from clock skew, count as zero) measured at {@code nowMillis}. */
    public synchronized void record(long nowMillis, long lagMillis) {
        long second = Math.floorDiv(nowMillis, 1000);
        int slot = (int) Math.floorMod(second, (long) window);
        if (seconds[slot] != second) {
            seconds[slot] = second;
            java.util.Arrays.fill(counts[slot], 0);
        }
        counts[slot][bucket(lagMillis)]++;
    }

    /** p50, p95 and p99 of what was recorded in the window ending at {@code nowMillis}. */
    public synchronized PollerLag percentiles(long nowMillis) {
        long second = Math.floorDiv(nowMillis, 1000);
        long[] merged = new long[BUCKETS];
        long total = 0;
        for (int slot = 0; slot < window; slot++) {
            if (seconds[slot] > second - window && seconds[slot] <= second) {
                for (int b = 0; b < BUCKETS; b++) {
                    merged[b] += counts[slot][b];
                }
            }
        }
        for (long c : merged) {
            total += c;
        }
        if (total == 0) {
            return PollerLag.empty(window);
        }
        return new PollerLag(quantile(merged, total, 0.50), quantile(merged, total, 0.95),
                quantile(merged, total, 0.99), total, window);
    }

    private static double quantile(long[] merged, long total, double q) {
        long rank = (long) Math.ceil(q * total);
        long seen = 0;
        for (int b = 0; b < BUCKETS; b++) {
            seen += merged[b];
            if (seen >= rank) {
                return representative(b) / 1000.0;
            }
        }
        return representative(BUCKETS - 1) / 1000.0;
    }

    /** Bucket 0 holds [0, 1 ms); bucket b ≥ 1 holds [1.1^(b-1), 1.1^b) ms; the last bucket holds everything above. */
    static int bucket(long lagMillis) {
        if (lagMillis < 1) {
            return 0;
        }
        int b = 1 + (int) Math.floor(Math.log(lagMillis) / LOG_GROWTH);
        return Math.min(b, BUCKETS - 1);
    }

    /** The geometric middle of a bucket, in milliseconds. */
    static double representative(int bucket) {
        if (bucket == 0) {
            return 0.5;
        }
        return Math.pow(GROWTH, bucket - 1) * Math.sqrt(GROWTH);
    }
}
