package dev.externaldbsync.load;

import java.util.Arrays;

/**
 * Exact nearest-rank percentiles of a set of samples (the bench's lag samples: at most rate x duration values, a few
 * hundred kB). Immutable after construction; thread-safe.
 */
final class Percentiles {

    private final double[] sorted;

    Percentiles(double[] samples, int count) {
        if (count < 0 || count > samples.length) {
            throw new IllegalArgumentException("count out of range: " + count);
        }
        this.sorted = Arrays.copyOf(samples, count);
        Arrays.sort(this.sorted);
    }

    int count() {
        return sorted.length;
    }

    /**
     * The nearest-rank p-th percentile (0 < p <= 100): the smallest sample such that at least p % of all samples are
     * at or below it. NaN when there are no samples.
     */
    double percentile(double p) {
        if (!(p > 0 && p <= 100)) {
            throw new IllegalArgumentException("percentile must be in (0, 100]: " + p);
        }
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(1, rank) - 1];
    }

    double max() {
        return sorted.length == 0 ? Double.NaN : sorted[sorted.length - 1];
    }

    /** A growable primitive buffer for samples, so that 60,000 lags are 480 kB and not 60,000 boxed objects. */
    static final class Samples {
        private double[] values = new double[1024];
        private int size;

        synchronized void add(double value) {
            if (size == values.length) {
                values = Arrays.copyOf(values, values.length * 2);
            }
            values[size++] = value;
        }

        synchronized Percentiles snapshot() {
            return new Percentiles(values, size);
        }
    }
}
