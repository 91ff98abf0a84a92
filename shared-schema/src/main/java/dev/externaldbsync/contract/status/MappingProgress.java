package dev.externaldbsync.contract.status;

/**
 * One mapping's progress on one target, from the engine's progress mirror. Errors are redacted.
 *
 * @param retryAt while the target is backed off (it failed or timed out repeatedly), when it is tried again; else null
 */
public record MappingProgress(String mapping, long cursor, long rowsApplied, String lastSuccessAt,
        String lastErrorAt, String lastError, String failingSince, String retryAt) {

    /** Without a retry time (the target is not backed off). */
    public MappingProgress(String mapping, long cursor, long rowsApplied, String lastSuccessAt, String lastErrorAt,
            String lastError, String failingSince) {
        this(mapping, cursor, rowsApplied, lastSuccessAt, lastErrorAt, lastError, failingSince, null);
    }
}
