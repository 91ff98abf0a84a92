package dev.externaldbsync.service;

import jakarta.annotation.Priority;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

import org.jboss.logging.Logger;

import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import io.agroal.api.AgroalDataSource;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.StartupEvent;

/**
 * Applies migrations at start-up according to {@code SYNC_MIGRATE_AT_START}, before any service loop starts (its
 * observer runs first). Several replicas starting together are serialised by Flyway's advisory lock. Without
 * {@code INTERNAL_DATABASE_URL} the start fails at once with that reason (the process exits non-zero).
 */
@Singleton
public class SchemaMigrationOnStart {

    /** Lower runs earlier: the services' own start-up observers use the default priority. */
    public static final int PRIORITY = 10;

    private static final Logger LOG = Logger.getLogger(SchemaMigrationOnStart.class);

    @Inject
    CommonConfig config;

    @Inject
    InternalDatabaseConfig database;

    @Inject
    AgroalDataSource dataSource;

    void onStart(@Observes @Priority(PRIORITY) StartupEvent event) {
        if (database.url().isEmpty()) {
            // Fail the start with the one message an operator needs, instead of a datasource stack trace later.
            throw new IllegalStateException("INTERNAL_DATABASE_URL is not set: every service needs the internal"
                    + " database (postgresql://user:password@host:5432/db)");
        }
        MigrateMode mode = config.migrateAtStart();
        if (config.migrateOnly()) {
            migrateAndExit(mode);
            return;
        }
        if (mode == MigrateMode.NONE) {
            LOG.info("SYNC_MIGRATE_AT_START=none: expecting the schema to be migrated by a migration job");
            return;
        }
        SchemaMigrations.migrate(dataSource, mode);
    }

    private void migrateAndExit(MigrateMode mode) {
        try {
            int applied = SchemaMigrations.migrate(dataSource, mode);
            LOG.infof("SYNC_MIGRATE_ONLY: %d migrations applied (%s); exiting", applied, mode);
            Quarkus.asyncExit(0);
        } catch (RuntimeException e) {
            LOG.error("SYNC_MIGRATE_ONLY: migration failed", e);
            Quarkus.asyncExit(1);
        }
    }
}
