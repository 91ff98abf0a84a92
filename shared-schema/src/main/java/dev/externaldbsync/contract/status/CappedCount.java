package dev.externaldbsync.contract.status;

/**
 * A count taken with a cap ({@code SELECT count(*) FROM (SELECT 1 … LIMIT cap + 1)}): {@code capped} means "at least
 * {@code value}". Status figures are capped so that no status call scans a table at mission scale.
 */
public record CappedCount(long value, boolean capped) {

    public static CappedCount of(long counted, long cap) {
        return counted > cap ? new CappedCount(cap, true) : new CappedCount(counted, false);
    }
}
