package dev.externaldbsync.schema;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

class SchemaMigrationsTest {

    @Test
    void allAppliesBaseTablesAndSyncLayerToAnEmptyDatabase() {
        TestDatabase db = TestPostgres.createDatabase("migrate_empty");

        int applied = SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);

        assertThat(applied).isEqualTo(IndexedMigrationResources.readIndex("db/internal").size()
                + IndexedMigrationResources.readIndex("db/sync").size());
        assertThat(SchemaMigrations.pending(db.dataSource(), SchemaMigrations.INTERNAL)).isEmpty();
        assertThat(SchemaMigrations.pending(db.dataSource(), SchemaMigrations.SYNC)).isEmpty();
        assertThat(tables(db)).contains("Project", "Tenancy", "EnvironmentConfigOverride", "ProjectUser",
                "ContactChannel", "AuthMethod", "PasswordAuthMethod", "DeletedRow", "OutgoingRequest",
                "ExternalDbSyncMetadata");
        assertThat(db.queryLong("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                + "WHERE c.relname LIKE '%sequenceId%' AND NOT i.indisvalid")).as("invalid concurrent indexes").isZero();
        assertThat(SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL)).as("second run").isZero();
    }

    @Test
    void syncAppliesOntoAnExistingStackAuthDatabaseAndLogsItsRowsUnstampedForBackfill() throws IOException {
        TestDatabase db = TestPostgres.createDatabase("migrate_existing");
        // An operator's database: Stack Auth created the base tables itself (no Flyway history of ours) and has data.
        for (String migration : IndexedMigrationResources.readIndex("db/internal")) {
            db.execute(resource("db/internal/" + migration));
        }
        StackAuthFixtures fixtures = new StackAuthFixtures(db);
        var tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Existing User", "existing@example.com");
        UUID channel = (UUID) db.queryValue("SELECT \"id\" FROM \"ContactChannel\" WHERE \"projectUserId\" = ?", user);

        SchemaMigrations.migrate(db.dataSource(), MigrateMode.SYNC);

        assertThat(SchemaMigrations.pending(db.dataSource(), SchemaMigrations.SYNC)).isEmpty();
        assertThat(tables(db)).doesNotContain("sync_internal_schema_history").contains("sync_layer_schema_history");
        assertThat(ChangeLog.entries(db, tenancy.id())).containsExactlyInAnyOrder(
                ChangeLog.entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", user),
                ChangeLog.entry("ContactChannel", "tenancyId", tenancy.id(), "projectUserId", user, "id", channel));
    }

    @Test
    void processesMigratingTogetherApplyEachMigrationExactlyOnce() throws Exception {
        TestDatabase db = TestPostgres.createDatabase("migrate_race");
        int racers = 4;
        CyclicBarrier start = new CyclicBarrier(racers);
        ExecutorService pool = Executors.newFixedThreadPool(racers);
        try {
            List<Future<Integer>> results = new ArrayList<>();
            for (int i = 0; i < racers; i++) {
                results.add(pool.submit(() -> {
                    start.await();
                    return SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
                }));
            }
            int total = 0;
            for (Future<Integer> result : results) {
                total += result.get(2, TimeUnit.MINUTES);
            }
            int expected = IndexedMigrationResources.readIndex("db/internal").size()
                    + IndexedMigrationResources.readIndex("db/sync").size();
            assertThat(total).as("migrations executed across all racers").isEqualTo(expected);
            assertThat(db.queryLong("SELECT count(*) FROM sync_layer_schema_history WHERE success AND type = 'SQL'"))
                    .isEqualTo(IndexedMigrationResources.readIndex("db/sync").size());
            assertThat(db.queryLong("SELECT count(*) FROM sync_internal_schema_history WHERE success AND type = 'SQL'"))
                    .isEqualTo(IndexedMigrationResources.readIndex("db/internal").size());
        } finally {
            pool.shutdownNow();
        }
    }

    static List<String> tables(TestDatabase db) {
        return db.queryRows("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").stream()
                .map(row -> (String) row.get(0)).toList();
    }

    static String resource(String path) throws IOException {
        try (InputStream in = SchemaMigrationsTest.class.getClassLoader().getResourceAsStream(path)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
