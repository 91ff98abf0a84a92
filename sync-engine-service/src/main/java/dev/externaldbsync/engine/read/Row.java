package dev.externaldbsync.engine.read;

/**
 * One changed row as read: every target column's PostgreSQL text form, its sequence id, and whether it is gone.
 * {@code tooWideBytes}: 0, or the row's width when it is wider than the reads return whole; then only its key
 * columns are set, and it must be dead-lettered, never applied.
 */
public record Row(String[] values, long sequenceId, boolean deleted, long tooWideBytes) {

    public Row(String[] values, long sequenceId, boolean deleted) {
        this(values, sequenceId, deleted, 0);
    }

    public boolean tooWide() {
        return tooWideBytes > 0;
    }
}
