package dev.externaldbsync.bench;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.PartialMigration;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * How long the sync layer takes to go onto an existing Stack Auth database of N users (each with a primary email
 * channel), and then the upgrade of that database, fully stamped by the previous release, to the change log (V60:
 * trigger swap; V60_1: one entry per existing row), with a writer inserting users throughout the upgrade (how long it
 * is blocked). Not a test: run it by hand.
 * <pre>java -cp … dev.externaldbsync.bench.MigrationBenchmark [users]</pre>
 */
public final class MigrationBenchmark {

    private static final String TENANCY = "00000000-0000-0000-0000-000000000001";

    public static void main(String[] args) throws Exception {
        int users = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
        TestDatabase db = TestPostgres.createDatabase("migration_bench");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.NONE);
        // Stack Auth's own tables, as Stack Auth created them (no Flyway history of ours): the sync layer needs all of them.
        for (String script : new String[] { "V1__stack_auth_user_tables.sql", "V2__stack_auth_team_and_activity_tables.sql" }) {
            db.execute(new String(MigrationBenchmark.class.getClassLoader().getResourceAsStream("db/internal/" + script)
                    .readAllBytes()));
        }
        long t0 = System.nanoTime();
        db.execute("""
                INSERT INTO "Project" ("id", "updatedAt", "displayName", "isProductionMode") VALUES ('p', now(), 'p', false)""",
                """
                INSERT INTO "Tenancy" ("id", "updatedAt", "projectId", "branchId", "hasNoOrganization")
                VALUES ('%s', now(), 'p', 'main', 'TRUE')""".formatted(TENANCY),
                "INSERT INTO \"ProjectUser\" (\"tenancyId\", \"projectUserId\", \"mirroredProjectId\", \"mirroredBranchId\", "
                        + "\"updatedAt\", \"displayName\") SELECT '" + TENANCY + "', "
                        + "md5(n::text)::uuid, 'p', 'main', now(), 'user ' || n FROM generate_series(1, " + users + ") n",
                "INSERT INTO \"ContactChannel\" (\"tenancyId\", \"projectUserId\", \"id\", \"updatedAt\", \"type\", "
                        + "\"isPrimary\", \"isVerified\", \"value\", \"usedForAuth\") SELECT '" + TENANCY + "', "
                        + "md5(n::text)::uuid, md5('c' || n)::uuid, now(), 'EMAIL', "
                        + "'TRUE', true, 'u' || n || '@example.com', 'TRUE' FROM generate_series(1, " + users + ") n",
                "VACUUM ANALYZE");
        System.out.printf("fixture: %,d users + %,d channels in %.1f s%n", users, users, (System.nanoTime() - t0) / 1e9);

        long t1 = System.nanoTime();
        PartialMigration.upTo(db.dataSource(), SchemaMigrations.SYNC, "52");
        System.out.printf("previous release's sync layer (up to V52) onto %,d users: %.2f s%n", users,
                (System.nanoTime() - t1) / 1e9);

        // What the previous sequencer left behind once caught up: every row stamped, no mark.
        long t2 = System.nanoTime();
        db.execute("""
                UPDATE "ProjectUser" SET "sequenceId" = nextval('global_seq_id'), "shouldUpdateSequenceId" = false
                WHERE "shouldUpdateSequenceId\"""",
                """
                UPDATE "ContactChannel" SET "sequenceId" = nextval('global_seq_id'), "shouldUpdateSequenceId" = false
                WHERE "shouldUpdateSequenceId\"""",
                "VACUUM ANALYZE");
        System.out.printf("stamped like the previous sequencer: %.1f s%n", (System.nanoTime() - t2) / 1e9);

        AtomicBoolean upgrading = new AtomicBoolean(true);
        AtomicLong writes = new AtomicLong();
        AtomicLong slowestWriteNanos = new AtomicLong();
        Thread writer = new Thread(() -> write(db, upgrading, writes, slowestWriteNanos), "bench-writer");
        writer.start();
        long t3 = System.nanoTime();
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.SYNC);
        double upgrade = (System.nanoTime() - t3) / 1e9;
        upgrading.set(false);
        writer.join();

        System.out.printf("upgrade to the change log: %.2f s in all%n", upgrade);
        for (var row : db.queryRows("""
                SELECT version, description, execution_time FROM sync_layer_schema_history
                WHERE type = 'SQL' AND version::text >= '60' ORDER BY installed_rank""")) {
            System.out.printf("  V%s %s: %,d ms%n", row.get(0), row.get(1), ((Number) row.get(2)).longValue());
        }
        long entries = db.queryLong("SELECT count(*) FROM \"SyncChange\"");
        long conversionMillis = db.queryLong("""
                SELECT execution_time FROM sync_layer_schema_history WHERE version = '60.1'""");
        System.out.printf("entries: %,d (%,d stamped), %,d rows converted per second, log size %s%n", entries,
                db.queryLong("SELECT count(*) FROM \"SyncChange\" WHERE \"sequenceId\" IS NOT NULL"),
                conversionMillis == 0 ? 0 : entries * 1000 / conversionMillis,
                db.queryValue("SELECT pg_size_pretty(pg_total_relation_size('\"SyncChange\"'))"));
        System.out.println("log relations: " + db.queryRows("""
                SELECT c.relname, pg_size_pretty(pg_relation_size(c.oid)) FROM pg_class c
                WHERE c.oid = '"SyncChange"'::regclass
                   OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = '"SyncChange"'::regclass)
                ORDER BY c.relname"""));
        System.out.printf("writer during the upgrade: %,d user inserts, slowest %.1f ms%n", writes.get(),
                slowestWriteNanos.get() / 1e6);
        System.exit(0);
    }

    /** Inserts one user at a time, back to back, until the upgrade is over, keeping the slowest insert's time. */
    private static void write(TestDatabase db, AtomicBoolean upgrading, AtomicLong writes, AtomicLong slowest) {
        try (Connection c = db.connect(); PreparedStatement insert = c.prepareStatement("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt", "displayName")
                VALUES ('%s', gen_random_uuid(), 'p', 'main', now(), 'during the upgrade')""".formatted(TENANCY))) {
            while (upgrading.get()) {
                long started = System.nanoTime();
                insert.executeUpdate();
                slowest.accumulateAndGet(System.nanoTime() - started, Math::max);
                writes.incrementAndGet();
            }
        } catch (Exception e) {
            throw new IllegalStateException("writer failed during the upgrade", e);
        }
    }
}
