package dev.externaldbsync.sequencer;

import java.time.Duration;

import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.agroal.api.AgroalDataSource;
import io.agroal.api.configuration.supplier.AgroalDataSourceConfigurationSupplier;
import io.agroal.api.exceptionsorter.PostgreSQLExceptionSorter;
import io.agroal.api.security.NamePrincipal;
import io.agroal.api.security.SimplePassword;

/** Test plumbing: migrated databases and connection pools shaped like the service's own (Agroal). */
final class TestPools {

    private TestPools() {
    }

    static TestDatabase migratedDatabase(String prefix) {
        TestDatabase db = TestPostgres.createDatabase(prefix);
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        return db;
    }

    /** A pool like one service process's: broken connections are evicted (as Quarkus configures for PostgreSQL). */
    static AgroalDataSource pool(TestDatabase db, int maxSize) {
        try {
            return AgroalDataSource.from(new AgroalDataSourceConfigurationSupplier()
                    .connectionPoolConfiguration(pool -> pool
                            .maxSize(maxSize)
                            .acquisitionTimeout(Duration.ofSeconds(30))
                            .exceptionSorter(new PostgreSQLExceptionSorter())
                            .connectionFactoryConfiguration(factory -> factory
                                    .jdbcUrl(db.jdbcUrl())
                                    .principal(new NamePrincipal(db.user()))
                                    .credential(new SimplePassword(db.password())))));
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
    }
}
