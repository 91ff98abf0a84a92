package dev.externaldbsync.contract.status;

import java.util.Locale;

/**
 * Error texts as the services store, log and show them: bounded, because a target chooses its own error messages and
 * one that answers every write with megabytes must cost only its own failures; and reduced to a coarse class for
 * callers without the admin token, because a text names hosts, users, databases and URL parameters.
 */
public final class ErrorText {

    /** Characters of an error text kept; beyond, the text is cut and marked. */
    public static final int MAX_CHARS = 4096;

    /** What a cut text ends with, so a reader knows the rest is missing. */
    public static final String TRUNCATED_MARK = "… [truncated]";

    private ErrorText() {
    }

    /** {@code text} cut to at most {@link #MAX_CHARS} characters (marked when cut); null stays null. */
    public static String bounded(String text) {
        return bounded(text, MAX_CHARS);
    }

    /** {@code text} cut to at most {@code max} characters including the mark; null stays null. */
    public static String bounded(String text, int max) {
        if (text == null || text.length() <= max) {
            return text;
        }
        int keep = Math.max(0, max - TRUNCATED_MARK.length());
        // Never split a surrogate pair: half a character is not valid UTF-8 once stored or sent.
        if (keep > 0 && Character.isHighSurrogate(text.charAt(keep - 1))) {
            keep--;
        }
        return text.substring(0, keep) + TRUNCATED_MARK;
    }

    /**
     * The class of an error text: {@code timeout}, {@code connection}, {@code data}, {@code config},
     * {@code internal-database} or {@code other}; null for null. Reads the {@code [SQLState …]} the engine appends
     * and a few fixed words of the services' own messages, never tenant-chosen detail beyond that.
     */
    public static String classOf(String text) {
        if (text == null) {
            return null;
        }
        String head = text.length() > MAX_CHARS ? text.substring(0, MAX_CHARS) : text;
        String lower = head.toLowerCase(Locale.ROOT);
        String state = sqlState(head);
        if ("57014".equals(state) || "55P03".equals(state) || "25P03".equals(state) || lower.contains("timed out")
                || lower.contains("timeout") || lower.contains("deadline")) {
            return "timeout";
        }
        if (lower.startsWith("internal database") || lower.contains(" internal database")) {
            return "internal-database";
        }
        if (lower.contains("config") || lower.contains("is not set") || lower.contains("not allowed") || lower.contains("refused by policy")
                || lower.contains("denied")) {
            return "config";
        }
        if (state != null && state.length() >= 2) {
            String category = state.substring(0, 2);
            if (category.equals("08") || category.equals("57") || category.equals("53")) {
                return "connection";
            }
            if (category.equals("21") || category.equals("22") || category.equals("23") || category.equals("44")
                    || category.equals("P0")) {
                return "data";
            }
        }
        if (lower.contains("connect") || lower.contains("unreachable") || lower.contains("i/o error")) {
            return "connection";
        }
        return "other";
    }

    private static String sqlState(String text) {
        int at = text.lastIndexOf("[SQLState ");
        if (at < 0) {
            return null;
        }
        int end = text.indexOf(']', at);
        return end < 0 ? null : text.substring(at + "[SQLState ".length(), end).strip();
    }
}
