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
 * observer runs first). Several replicas starting together are serialised by Flyway's advisory lock.
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
            LOG.warn("INTERNAL_DATABASE_URL is not set: the service cannot reach its database and stays not ready");
            return;
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
