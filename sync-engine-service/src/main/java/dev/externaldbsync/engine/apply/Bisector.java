package dev.externaldbsync.engine.apply;

import java.sql.SQLException;
import java.util.List;

import dev.externaldbsync.engine.errors.SqlFailure;

/**
 * Narrows a page the target rejected for its data down to the offending rows: the page is applied in halves, each
 * half that fails again is halved, and a single row that still fails is handed to the dead-letter step (which moves
 * the cursor past it), so every other row applies and the tenancy keeps flowing. Failures that are not about the
 * data ({@link SqlFailure#DATA}) propagate unchanged. Each attempt is its own transaction, in sequence order, so the
 * cursor only ever moves forward. Stateless.
 */
public final class Bisector {

    /** Applies rows as one transaction; returns the rows written. */
    @FunctionalInterface
    public interface Attempt<R> {
        long apply(List<R> rows) throws SQLException;
    }

    /** Dead-letters one row the target rejects on its own, and moves past it. */
    @FunctionalInterface
    public interface DeadLetter<R> {
        void reject(R row, SQLException error) throws SQLException;
    }

    private Bisector() {
    }

    /** Applies {@code rows}, bisecting on data errors; returns the rows written. */
    public static <R> long apply(List<R> rows, Attempt<R> attempt, DeadLetter<R> deadLetter) throws SQLException {
        return rows.isEmpty() ? 0 : range(rows, 0, rows.size(), attempt, deadLetter);
    }

    private static <R> long range(List<R> rows, int from, int to, Attempt<R> attempt, DeadLetter<R> deadLetter)
            throws SQLException {
        try {
            return attempt.apply(rows.subList(from, to));
        } catch (SQLException e) {
            if (SqlFailure.of(e) != SqlFailure.DATA) {
                throw e;
            }
            if (to - from == 1) {
                deadLetter.reject(rows.get(from), e);
                return 0;
            }
            int mid = (from + to) >>> 1;
            return range(rows, from, mid, attempt, deadLetter) + range(rows, mid, to, attempt, deadLetter);
        }
    }
}
