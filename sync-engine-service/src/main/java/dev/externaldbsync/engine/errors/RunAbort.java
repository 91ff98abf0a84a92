package dev.externaldbsync.engine.errors;

/**
 * Why a run stops short of its normal end, as types: thrown across the stages of a run and caught where the run
 * decides what to do next. No stack traces: they are control flow, not bugs.
 */
public abstract sealed class RunAbort extends RuntimeException {

    /** The answer every (tenancy, target) gets when the engine stops before or during its run. */
    public static final String SHUTTING_DOWN = "sync engine is shutting down";

    RunAbort(String message) {
        super(message, null, false, false);
    }

    /** The engine is shutting down: the run stops after its current page (pages are atomic). */
    public static final class ShuttingDown extends RunAbort {
        public ShuttingDown() {
            super(SHUTTING_DOWN);
        }
    }

    /**
     * The pages cannot be applied as one transaction as read (a cursor moved underneath, a key in two tenancies' rows,
     * a written key that cannot be attributed); the transaction was rolled back.
     */
    public static final class Conflict extends RunAbort {
        public Conflict(String message) {
            super(message);
        }
    }

    /** The run reached its deadline between pages: it stops there, and a later request continues. */
    public static final class DeadlineReached extends RunAbort {
        public DeadlineReached(String message) {
            super(message);
        }
    }
}
