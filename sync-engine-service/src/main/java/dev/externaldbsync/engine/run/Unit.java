package dev.externaldbsync.engine.run;

import java.util.UUID;

import dev.externaldbsync.config.TargetConfig;

/** One (tenancy, target) of a request: the unit of locking, cursors and results. */
public record Unit(UUID tenancyId, TargetConfig target) {

    public String targetId() {
        return target.id();
    }
}
