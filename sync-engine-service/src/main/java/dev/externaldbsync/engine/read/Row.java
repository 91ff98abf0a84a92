package dev.externaldbsync.engine.read;

/** One changed row as read: every target column's PostgreSQL text form, its sequence id, and whether it is gone. */
public record Row(String[] values, long sequenceId, boolean deleted) {
}
