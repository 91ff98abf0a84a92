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
    FAILED
}
