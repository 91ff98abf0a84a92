package dev.externaldbsync.contract.status;

import java.util.List;

/**
 * The engine's answer to {@link RowsBehindRequest}: per mapping, rows stamped above each sampled tenancy's lowest
 * cursor over its targets. {@code definition} is the sentence a reader is shown next to the figures.
 */
public record RowsBehind(String definition, int tenanciesSampled, int capPerTenancyAndMapping,
        List<MappingCount> perMapping) {

    public RowsBehind {
        perMapping = perMapping == null ? List.of() : List.copyOf(perMapping);
    }
}
