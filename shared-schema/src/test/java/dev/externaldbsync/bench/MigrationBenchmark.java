package dev.externaldbsync.bench;

import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * How long the sync layer takes to go onto an existing Stack Auth database of N users (each with a primary email
 * channel), and how long writers are blocked meanwhile. Not a test: run it by hand (see load/README.md).
 * <pre>java -cp … dev.externaldbsync.bench.MigrationBenchmark [users]</pre>
 */
public final class MigrationBenchmark {

    public static void main(String[] args) throws Exception {
        int users = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
        TestDatabase db = TestPostgres.createDatabase("migration_bench");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.NONE);
        db.execute(new String(MigrationBenchmark.class.getClassLoader()
                .getResourceAsStream("db/internal/V1__stack_auth_user_tables.sql").readAllBytes()));
        long t0 = System.nanoTime();
        db.execute("""
                INSERT INTO "Project" ("id", "updatedAt", "displayName", "isProductionMode") VALUES ('p', now(), 'p', false)""",
                """
                INSERT INTO "Tenancy" ("id", "updatedAt", "projectId", "branchId", "hasNoOrganization")
                VALUES ('00000000-0000-0000-0000-000000000001', now(), 'p', 'main', 'TRUE')""",
                "INSERT INTO \"ProjectUser\" (\"tenancyId\", \"projectUserId\", \"mirroredProjectId\", \"mirroredBranchId\", "
                        + "\"updatedAt\", \"displayName\") SELECT '00000000-0000-0000-0000-000000000001', "
                        + "md5(n::text)::uuid, 'p', 'main', now(), 'user ' || n FROM generate_series(1, " + users + ") n",
                "INSERT INTO \"ContactChannel\" (\"tenancyId\", \"projectUserId\", \"id\", \"updatedAt\", \"type\", "
                        + "\"isPrimary\", \"isVerified\", \"value\", \"usedForAuth\") SELECT "
                        + "'00000000-0000-0000-0000-000000000001', md5(n::text)::uuid, md5('c' || n)::uuid, now(), 'EMAIL', "
                        + "'TRUE', true, 'u' || n || '@example.com', 'TRUE' FROM generate_series(1, " + users + ") n",
                "VACUUM ANALYZE");
        System.out.printf("fixture: %,d users + %,d channels in %.1f s%n", users, users, (System.nanoTime() - t0) / 1e9);

        long t1 = System.nanoTime();
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.SYNC);
        double total = (System.nanoTime() - t1) / 1e9;
        System.out.printf("sync layer onto %,d users: %.2f s in all%n", users, total);
        System.out.println(db.queryRows("""
                SELECT version, description, execution_time FROM sync_layer_schema_history WHERE type = 'SQL'
                ORDER BY installed_rank"""));
        System.out.printf("rows marked for backfill: %,d%n",
                db.queryLong("SELECT count(*) FROM \"ProjectUser\" WHERE \"shouldUpdateSequenceId\""));
        System.exit(0);
    }
}
