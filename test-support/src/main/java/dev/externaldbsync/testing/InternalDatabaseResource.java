package dev.externaldbsync.testing;

import java.util.Map;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

/**
 * Gives a {@code @QuarkusTest} class a fresh internal database, configured exactly as an operator would: through
 * {@code INTERNAL_DATABASE_URL} (as the {@code internal.database.url} property) and {@code SYNC_MIGRATE_AT_START=all}.
 * Fields annotated {@link InjectTestDatabase} receive the database.
 */
public class InternalDatabaseResource implements QuarkusTestResourceLifecycleManager {

    private TestDatabase database;

    @Override
    public Map<String, String> start() {
        database = TestPostgres.createDatabase("internal");
        return Map.of(
                "internal.database.url", database.postgresUrl(),
                "sync.migrate-at-start", "all");
    }

    @Override
    public void inject(TestInjector testInjector) {
        testInjector.injectIntoFields(database,
                new TestInjector.AnnotatedAndMatchesType(InjectTestDatabase.class, TestDatabase.class));
    }

    @Override
    public void stop() {
        // The database stays for post-mortem inspection; the server goes with the JVM.
    }
}
