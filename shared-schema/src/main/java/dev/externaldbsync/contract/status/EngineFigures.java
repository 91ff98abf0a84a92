package dev.externaldbsync.contract.status;

/**
 * The engine's health figures from its progress mirror, as {@link EngineStatus#figures()} gives them: (tenancy,
 * target)s failing now, the oldest failure among them, and dead-lettered rows, each count capped.
 */
public record EngineFigures(CappedCount failingTargets, String oldestFailingSince, CappedCount poisonRows) {
}
