package dev.externaldbsync.contract.status;

/** Rows not yet applied for one mapping, summed over the tenancies a {@link RowsBehind} answer sampled. */
public record MappingCount(String mapping, long rows, boolean capped) {
}
