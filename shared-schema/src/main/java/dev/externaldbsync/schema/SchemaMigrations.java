package dev.externaldbsync.schema;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import javax.sql.DataSource;

import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.MigrationInfo;
import org.flywaydb.core.api.output.MigrateResult;
import org.jboss.logging.Logger;

/**
 * Applies and inspects the two migration sets of the product.
 *
 * <ul>
 * <li>{@code db/internal}: the Stack-Auth-compatible base tables (history table {@code sync_internal_schema_history});
 * <li>{@code db/sync}: the sync layer (history table {@code sync_layer_schema_history}).
 * </ul>
 * Each set has its own history table, so the sync layer versions independently of the base tables and can be applied
 * to a database whose base tables were created by Stack Auth itself.
 * <p>
 * Concurrency: several processes may call {@link #migrate} on one database at once (replicas starting together).
 * Flyway's own lock alone is not enough for that: on a fresh database two processes race to create and baseline the
 * history table, and the loser fails ({@code SchemaMigrationsTest} reproduces it). So the whole run holds one
 * session-level advisory lock of ours; the others wait, then find nothing pending. It is deliberately not a
 * transaction-scoped lock, and waiters poll with {@code pg_try_advisory_lock} instead of blocking in
 * {@code pg_advisory_lock}: {@code CREATE INDEX CONCURRENTLY} (in {@code db/sync}) waits for every statement in
 * progress, a blocked lock request included, and would deadlock with its own waiters.
 * <p>
 * Thread-safe: holds no state.
 */
public final class SchemaMigrations {

    /** One migration set: its classpath folder and its own history table. */
    public record Location(String path, String historyTable) {
    }

    public static final Location INTERNAL = new Location("db/internal", "sync_internal_schema_history");
    public static final Location SYNC = new Location("db/sync", "sync_layer_schema_history");

    private static final Logger LOG = Logger.getLogger(SchemaMigrations.class);

    private SchemaMigrations() {
    }

    /** Key of the advisory lock that serialises migration runs: "edb-sync" in ASCII. */
    static final long MIGRATION_LOCK_KEY = 0x6564622d73796e63L;
    private static final long LOCK_POLL_MILLIS = 200;

    /** Applies every pending migration of the mode's sets, in order; returns how many were applied. */
    public static int migrate(DataSource dataSource, MigrateMode mode) {
        if (mode.locations().isEmpty()) {
            return 0;
        }
        try (Connection lockSession = dataSource.getConnection()) {
            lockSession.setAutoCommit(true);
            acquireMigrationLock(lockSession);
            try {
                return migrateHoldingLock(dataSource, mode);
            } finally {
                try (Statement statement = lockSession.createStatement()) {
                    statement.execute("SELECT pg_advisory_unlock(" + MIGRATION_LOCK_KEY + ")");
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("Cannot take the migration lock: " + e.getMessage(), e);
        }
    }

    private static void acquireMigrationLock(Connection session) throws SQLException {
        long started = System.nanoTime();
        long lastLog = started;
        while (true) {
            try (Statement statement = session.createStatement();
                    ResultSet rs = statement.executeQuery("SELECT pg_try_advisory_lock(" + MIGRATION_LOCK_KEY + ")")) {
                rs.next();
                if (rs.getBoolean(1)) {
                    return;
                }
            }
            if (System.nanoTime() - lastLog > TimeUnit.SECONDS.toNanos(10)) {
                lastLog = System.nanoTime();
                LOG.infof("Waiting for another process to finish migrating (%d s so far)",
                        TimeUnit.NANOSECONDS.toSeconds(lastLog - started));
            }
            try {
                TimeUnit.MILLISECONDS.sleep(LOCK_POLL_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("Interrupted while waiting for the migration lock", e);
            }
        }
    }

    private static int migrateHoldingLock(DataSource dataSource, MigrateMode mode) {
        int applied = 0;
        for (Location location : mode.locations()) {
            long started = System.nanoTime();
            MigrateResult result = flyway(dataSource, location).migrate();
            applied += result.migrationsExecuted;
            LOG.infof("Migrations %s: %d applied, schema now at version %s (%d ms)", location.path(),
                    result.migrationsExecuted, result.targetSchemaVersion,
                    (System.nanoTime() - started) / 1_000_000);
        }
        return applied;
    }

    /** Descriptions of the migrations of {@code location} not yet applied to the database (empty when up to date). */
    public static List<String> pending(DataSource dataSource, Location location) {
        List<String> pending = new ArrayList<>();
        for (MigrationInfo info : flyway(dataSource, location).info().pending()) {
            pending.add(location.path() + " " + info.getVersion() + " " + info.getDescription());
        }
        return pending;
    }

    private static Flyway flyway(DataSource dataSource, Location location) {
        return Flyway.configure(SchemaMigrations.class.getClassLoader())
                .dataSource(dataSource)
                .table(location.historyTable())
                .locations("classpath:" + location.path())
                .resourceProvider(new IndexedMigrationResources(location.path()))
                // Each set shares the schema with the other one (and with Stack Auth's own tables), so a non-empty
                // schema without this set's history is normal: start the history at version 0 and apply from V1.
                .baselineOnMigrate(true)
                .baselineVersion("0")
                .validateMigrationNaming(true)
                .cleanDisabled(true)
                .configuration(Map.of("flyway.postgresql.transactional.lock", "false"))
                .load();
    }
}
