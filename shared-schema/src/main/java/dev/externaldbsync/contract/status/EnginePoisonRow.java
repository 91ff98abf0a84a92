package dev.externaldbsync.contract.status;

/**
 * A row a target rejected, dead-lettered by the engine: its mapping, its target key (JSON text), its sequence id and
 * the (redacted) error; the enclosing {@link EngineTargetStatus} names its tenancy and target.
 */
public record EnginePoisonRow(String mapping, String key, long sequenceId, String error, String firstSeenAt,
        String lastSeenAt) {
}
