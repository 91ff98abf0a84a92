package dev.externaldbsync.contract.status;

/** One mapping's progress on one target, from the engine's progress mirror. Errors are redacted. */
public record MappingProgress(String mapping, long cursor, long rowsApplied, String lastSuccessAt,
        String lastErrorAt, String lastError, String failingSince) {
}
