package dev.externaldbsync.load;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The bench's results: ordered {@code key=value} figures, each with the phase that produced it and an optional note.
 * Printed as a table for people and as {@code key=value} lines for scripts (keys are {@code [a-z0-9_]}, values have no
 * spaces). Not thread-safe: the bench fills it from its main thread.
 */
final class Report {

    record Entry(String phase, String value, String note) {
    }

    private final Map<String, Entry> entries = new LinkedHashMap<>();

    void put(String phase, String key, String value, String note) {
        if (!key.matches("[a-z0-9_]+")) {
            throw new IllegalArgumentException("report keys are [a-z0-9_]: " + key);
        }
        entries.put(key, new Entry(phase, value.replaceAll("\\s+", "_"), note == null ? "" : note));
    }

    void put(String phase, String key, long value, String note) {
        put(phase, key, Long.toString(value), note);
    }

    void put(String phase, String key, double value, String note) {
        put(phase, key, format(value), note);
    }

    String get(String key) {
        Entry e = entries.get(key);
        return e == null ? null : e.value();
    }

    Map<String, Entry> entries() {
        return java.util.Collections.unmodifiableMap(entries);
    }

    /** Two decimals below 100, one below 10,000, none above: figures, not noise. NaN prints as {@code n/a}. */
    static String format(double value) {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            return "n/a";
        }
        double abs = Math.abs(value);
        String pattern = abs < 100 ? "%.2f" : abs < 10_000 ? "%.1f" : "%.0f";
        return String.format(Locale.ROOT, pattern, value);
    }

    void printTable(PrintStream out) {
        int keyWidth = Math.max(3, entries.keySet().stream().mapToInt(String::length).max().orElse(3));
        int valueWidth = Math.max(5, entries.values().stream().mapToInt(e -> e.value().length()).max().orElse(5));
        String row = "| %-9s | %-" + keyWidth + "s | %" + valueWidth + "s | %s%n";
        out.printf(row, "phase", "key", "value", "note");
        out.printf("|-%s-|-%s-|-%s-|-%s%n", "-".repeat(9), "-".repeat(keyWidth), "-".repeat(valueWidth), "----");
        entries.forEach((key, e) -> out.printf(row, e.phase(), key, e.value(), e.note()));
    }

    void printKeyValues(PrintStream out) {
        entries.forEach((key, e) -> out.println(key + "=" + e.value()));
    }
}
