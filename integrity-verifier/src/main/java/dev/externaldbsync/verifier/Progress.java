package dev.externaldbsync.verifier;

import java.io.PrintStream;

/**
 * Progress on stderr, at most once per second: tenancy i/N, rows compared, rows/s. Single-threaded use.
 */
final class Progress implements UnitComparer.Progress {

    private static final long INTERVAL_NANOS = 1_000_000_000L;

    private final PrintStream err;
    private final long started = System.nanoTime();
    private long lastPrint = started;
    private long tenancy;
    private long total;
    private long rows;

    Progress(PrintStream err) {
        this.err = err;
    }

    void tenancy(long index, long totalTenancies) {
        this.tenancy = index;
        this.total = totalTenancies;
        maybePrint();
    }

    @Override
    public void compared(long n) {
        rows += n;
        maybePrint();
    }

    long rows() {
        return rows;
    }

    double seconds() {
        return (System.nanoTime() - started) / 1e9;
    }

    private void maybePrint() {
        long now = System.nanoTime();
        if (now - lastPrint >= INTERVAL_NANOS) {
            lastPrint = now;
            double s = (now - started) / 1e9;
            err.printf("verify-integrity: tenancy %d/%d, %d rows compared, %.0f rows/s%n", tenancy, total, rows,
                    s > 0 ? rows / s : 0.0);
        }
    }
}
