package dev.externaldbsync.service;

import java.time.Duration;

import dev.externaldbsync.schema.MigrateMode;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/**
 * Settings every service reads. Each key is also an environment variable (upper case, dots and dashes as
 * underscores): {@code sync.migrate-at-start} is {@code SYNC_MIGRATE_AT_START}.
 */
@ConfigMapping(prefix = "sync")
public interface CommonConfig {

    /**
     * What to migrate at start-up: {@code all} (base tables and sync layer: standalone and development),
     * {@code sync} (sync layer only, onto an existing Stack Auth database) or {@code none} (a migration Job owns the
     * schema, as in Kubernetes).
     */
    @WithDefault("none")
    MigrateMode migrateAtStart();

    /**
     * {@code SYNC_MIGRATE_ONLY}: apply the migrations of {@link #migrateAtStart()} and exit (0 on success, 1 on
     * failure) instead of serving. The Kubernetes migration Job runs a service image this way, so that exactly one
     * thing migrates before any Deployment rolls out.
     */
    @WithDefault("false")
    boolean migrateOnly();

    /**
     * How long {@link Fusebox#current()} trusts its last read of the switches: the longest a change made elsewhere
     * (another replica, or SQL) takes to reach this process's loops. A change through this process's admin API is
     * seen at once.
     */
    @WithDefault("250ms")
    Duration fuseboxCheckInterval();
}
