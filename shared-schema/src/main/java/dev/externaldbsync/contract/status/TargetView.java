package dev.externaldbsync.contract.status;

import java.util.List;

/**
 * One target of a tenancy: from its config (URL redacted) and the engine's progress mirror. {@code inConfig} is
 * false for a target that has progress but is no longer configured; {@code configError} is set for an unusable entry.
 */
public record TargetView(String targetId, boolean inConfig, String url, String configError, String lastSuccessAt,
        String lastErrorAt, String lastError, String failingSince, CappedCount poisonRows,
        List<MappingProgress> mappings) {

    public TargetView {
        mappings = mappings == null ? List.of() : List.copyOf(mappings);
    }
}
