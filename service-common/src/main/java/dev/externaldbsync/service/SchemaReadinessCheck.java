package dev.externaldbsync.service;

import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Readiness;

import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import io.agroal.api.AgroalDataSource;

/**
 * Ready only when the internal database answers and every migration this service relies on is applied (the sync
 * layer always; the base tables too in {@code all} mode). Once the schema was seen complete it is not asked again:
 * later checks cost one connection validation.
 */
@Readiness
@ApplicationScoped
public class SchemaReadinessCheck implements HealthCheck {

    private static final String NAME = "internal-database";

    @Inject
    AgroalDataSource dataSource;

    @Inject
    CommonConfig config;

    @Inject
    InternalDatabaseConfig database;

    private volatile boolean schemaComplete;

    @Override
    public HealthCheckResponse call() {
        HealthCheckResponseBuilder response = HealthCheckResponse.named(NAME);
        if (database.url().isEmpty()) {
            return response.down().withData("error", "INTERNAL_DATABASE_URL is not set").build();
        }
        try (Connection connection = dataSource.getConnection()) {
            if (!connection.isValid(2)) {
                return response.down().withData("error", "connection is not valid").build();
            }
        } catch (Exception e) {
            return response.down().withData("error", "database unreachable: " + e.getMessage()).build();
        }
        if (!schemaComplete) {
            List<String> pending = new ArrayList<>();
            try {
                if (config.migrateAtStart() == MigrateMode.ALL) {
                    pending.addAll(SchemaMigrations.pending(dataSource, SchemaMigrations.INTERNAL));
                }
                pending.addAll(SchemaMigrations.pending(dataSource, SchemaMigrations.SYNC));
            } catch (RuntimeException e) {
                return response.down().withData("error", "cannot read migration history: " + e.getMessage()).build();
            }
            if (!pending.isEmpty()) {
                return response.down().withData("pendingMigrations", String.join(", ", pending)).build();
            }
            schemaComplete = true;
        }
        return response.up().build();
    }
}
