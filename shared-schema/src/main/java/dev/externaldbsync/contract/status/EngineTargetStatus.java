package dev.externaldbsync.contract.status;

import java.util.List;

/** One target in {@link EngineTenancyStatus}: its mappings' progress and its first dead-lettered rows. */
public record EngineTargetStatus(String targetId, List<MappingProgress> mappings, List<EnginePoisonRow> poisonRows) {

    public EngineTargetStatus {
        mappings = mappings == null ? List.of() : List.copyOf(mappings);
        poisonRows = poisonRows == null ? List.of() : List.copyOf(poisonRows);
    }
}
