package dev.externaldbsync.engine.errors;

import java.sql.SQLException;
import java.util.Set;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.contract.status.ErrorText;

/**
 * The one classification of SQL failures, by SQLState class: it decides whether a rejected page is bisected, a
 * target run is abandoned (and its pool flushed), or a target schema is bootstrapped again.
 */
public enum SqlFailure {
    /** Caused by the rows themselves (classes 21, 22, 23, 44, P0): bisect, dead-letter the row, move on. */
    DATA,
    /** The connection or server is gone (08, 57, 53, or no SQLState at all): the target run fails and is retried. */
    CONNECTION,
    /** A target table was dropped underneath (42P01): bootstrap the target's schema again next time. */
    MISSING_TABLE,
    /** Anything else: this mapping fails, the others carry on. */
    OTHER;

    private static final Set<String> DATA_CLASSES = Set.of("21", "22", "23", "44", "P0");
    private static final Set<String> CONNECTION_CLASSES = Set.of("08", "57", "53");

    public static SqlFailure of(SQLException e) {
        String state = e.getSQLState();
        if (state == null || state.length() < 2) {
            return CONNECTION;
        }
        String category = state.substring(0, 2);
        if (CONNECTION_CLASSES.contains(category)) {
            return CONNECTION;
        }
        if (DATA_CLASSES.contains(category)) {
            return DATA;
        }
        return "42P01".equals(state) ? MISSING_TABLE : OTHER;
    }

    public static boolean isConnection(SQLException e) {
        return of(e) == CONNECTION;
    }

    /**
     * A driver message with any connection-string password removed, cut to {@link ErrorText#MAX_CHARS} (a target
     * writes its own error messages, of any size), plus its SQLState. Every error text of a target that is logged,
     * stored, answered to the poller or shown passes through here.
     */
    public static String describe(SQLException e) {
        String state = e.getSQLState() == null ? "" : " [SQLState " + e.getSQLState() + "]";
        return ErrorText.bounded(redactBounded(e.getMessage()), ErrorText.MAX_CHARS - state.length()) + state;
    }

    /**
     * A failure of the internal database, {@link #describe}d, with the setting to look at when a result was larger
     * than {@code internal.database.max-result-buffer} (pgjdbc names only its own property, and the class, 08, reads
     * as a lost connection).
     */
    public static String describeInternal(SQLException e) {
        String text = "internal database: " + describe(e);
        return String.valueOf(e.getMessage()).contains("maxResultBuffer")
                ? text + " (one of the tenancy's rows is wider than internal.database.max-result-buffer)"
                : text;
    }

    /**
     * {@code text} redacted and cut to {@link ErrorText#MAX_CHARS}: cut generously first so the redaction never reads
     * megabytes, then redacted, then cut to size, so a credential straddling the first cut is still masked.
     */
    public static String redactBounded(String text) {
        String head = ErrorText.bounded(String.valueOf(text), 2 * ErrorText.MAX_CHARS);
        return ErrorText.bounded(PostgresUrl.redact(head));
    }
}
