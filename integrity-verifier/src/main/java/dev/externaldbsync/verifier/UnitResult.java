package dev.externaldbsync.verifier;

import java.util.List;

/**
 * The result of one unit (tenancy × target × mapping). A unit that could not be checked (bad target config,
 * unreachable target, SQL error) has {@code mapping = "*"} when it concerns the whole target, and an {@code error}.
 * Immutable.
 *
 * @param tenancy        tenancy id
 * @param target         target id (key under {@code dbSync.externalDatabases}), {@code "*"} for a tenancy-level error
 * @param mapping        mapping name, {@code "*"} for a target-level error
 * @param cursor         the target's cursor for (tenancy, mapping), −1 when none
 * @param internalRows   projection rows compared
 * @param targetRows     target rows compared
 * @param equal          keys whose rows are equal
 * @param missing        rows in the projection only (not pending)
 * @param extra          rows in the target only (not pending)
 * @param different      rows present on both sides with different values (not pending)
 * @param pending        rows that differ only because they are not synced yet
 * @param internalDigest order-independent digest of the projection rows (hex)
 * @param targetDigest   order-independent digest of the target rows (hex)
 * @param findings       at most {@code --max-reported} findings (mismatches first come first served, pending too)
 * @param error          why the unit could not be checked, or null (never contains a password)
 */
public record UnitResult(String tenancy, String target, String mapping, long cursor, long internalRows,
        long targetRows, long equal, long missing, long extra, long different, long pending, String internalDigest,
        String targetDigest, List<Finding> findings, String error) {

    public UnitResult {
        findings = List.copyOf(findings);
    }

    static UnitResult error(String tenancy, String target, String mapping, String error) {
        return new UnitResult(tenancy, target, mapping, -1, 0, 0, 0, 0, 0, 0, 0, null, null, List.of(), error);
    }

    /** A mismatch or an error: what makes the run exit 1. Pending rows alone never fail a unit. */
    public boolean failed() {
        return error != null || missing > 0 || extra > 0 || different > 0;
    }

    /** The identity of the unit in a saved file: {@code tenancy/target/mapping}. */
    public String key() {
        return tenancy + "/" + target + "/" + mapping;
    }
}
