package dev.externaldbsync.contract;

/** What happened to one tenancy, or to one of its targets, in a sync call. */
public enum Outcome {
    /** Every row above the cursor was applied (possibly none). */
    SYNCED,
    /** The tenancy no longer exists: acknowledged, nothing to do. */
    NOT_FOUND,
    /** The tenancy has no targets configured: nothing to do. */
    NO_TARGETS,
    /** Syncing of this tenancy is paused by an operator; its changes wait. */
    PAUSED,
    /** Another run holds this (tenancy, target); retry later. */
    BUSY,
    /** The target's config entry is unusable; fixing the config enqueues a new sync. */
    INVALID_CONFIG,
    /** The target failed (unreachable, rejected a statement, …). */
    FAILED,
    /**
     * The run did not finish within the engine's answer budget or its run deadline: whatever it applied is kept
     * (cursors move only with their rows), and a later request continues. Not the tenancy's fault: retry without
     * counting an attempt.
     */
    UNFINISHED,
    /**
     * The target failed or timed out repeatedly and is backed off as a target until its retry time (see the error
     * text); the run was skipped without touching it.
     */
    BACKED_OFF
}
