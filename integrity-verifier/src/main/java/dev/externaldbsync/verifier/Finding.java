package dev.externaldbsync.verifier;

import java.util.List;
import java.util.Map;

/**
 * One reported row of a unit. Values are PostgreSQL text forms truncated to {@link #MAX_VALUE_CHARS}; nothing from a
 * connection string is ever part of one.
 *
 * @param kind     {@code missing} (in the projection, not the target), {@code extra} (in the target only) or
 *                 {@code different}
 * @param pending  true when the row is not synced yet (see the README's pending rule), so not a mismatch
 * @param key      the target key, column → value
 * @param columns  the differing columns ({@code different} only, else empty)
 * @param internal the internal values of {@code columns}
 * @param target   the target values of {@code columns}
 */
public record Finding(String kind, boolean pending, Map<String, String> key, List<String> columns,
        Map<String, String> internal, Map<String, String> target) {

    public static final int MAX_VALUE_CHARS = 80;

    static String truncate(String value) {
        if (value == null || value.length() <= MAX_VALUE_CHARS) {
            return value;
        }
        return value.substring(0, MAX_VALUE_CHARS) + "…";
    }
}
