package dev.externaldbsync.contract.status;

import java.util.List;

/**
 * One page of the engine's {@code GET /api/v1/admin/dead-letters}: {@code next} is the opaque {@code after} of the
 * following page, null on the last one.
 */
public record EngineDeadLetters(List<Entry> deadLetters, String next) {

    public EngineDeadLetters {
        deadLetters = deadLetters == null ? List.of() : List.copyOf(deadLetters);
    }

    /** One dead-lettered row with its tenancy and target. */
    public record Entry(String tenancyId, String targetId, String mapping, String key, long sequenceId, String error,
            String firstSeenAt, String lastSeenAt) {
    }
}
