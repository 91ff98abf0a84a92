package dev.externaldbsync.schema;

import java.util.Map;

import javax.sql.DataSource;

import org.flywaydb.core.Flyway;

/**
 * Flyway configured as {@link SchemaMigrations} configures it, but stopping at a version: for tests and benchmarks
 * that start from a database of an earlier release. No migration lock: callers migrate alone.
 */
public final class PartialMigration {

    private PartialMigration() {
    }

    /** Applies the migrations of {@code location} up to and including {@code target}; returns how many ran. */
    public static int upTo(DataSource dataSource, SchemaMigrations.Location location, String target) {
        return Flyway.configure(PartialMigration.class.getClassLoader())
                .dataSource(dataSource)
                .table(location.historyTable())
                .locations("classpath:" + location.path())
                .resourceProvider(new IndexedMigrationResources(location.path()))
                .baselineOnMigrate(true)
                .baselineVersion("0")
                .configuration(Map.of("flyway.postgresql.transactional.lock", "false"))
                .target(target)
                .load()
                .migrate().migrationsExecuted;
    }
}
