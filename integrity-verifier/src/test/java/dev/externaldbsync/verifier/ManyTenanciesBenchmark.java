package dev.externaldbsync.verifier;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * Figures, not a behaviour test (excluded from the build; run with
 * {@code ./mvnw -f integrity-verifier/pom.xml package -DskipTests && ./mvnw -f integrity-verifier/pom.xml test
 * -Dtest=ManyTenanciesBenchmark -Dverifier.bench.tenancies=100000}): N one-user tenancies, all sharing one target
 * database (so every unit runs in shared-target mode), verified by the packaged jar with {@code -Xmx64m}. Prints
 * tenancies/s, rows/s and peak RSS.
 */
class ManyTenanciesBenchmark {

    static final int TENANCIES = Integer.getInteger("verifier.bench.tenancies", 100_000);

    @TempDir
    Path dir;

    @Test
    void manyOneUserTenancies() throws Exception {
        TestDatabase internal = TestPostgres.createDatabase("iv_many_internal");
        SchemaMigrations.migrate(internal.dataSource(), MigrateMode.ALL);
        TestDatabase target = TestPostgres.createDatabase("iv_many_target");
        String config = "{\"dbSync\": {\"externalDatabases\": {\"main\": {\"type\": \"postgres\", \"connectionString\": \""
                + target.postgresUrl() + "\"}}}}";
        long started = System.nanoTime();
        internal.execute("SET session_replication_role = replica", """
                INSERT INTO "Project" ("id", "updatedAt", "displayName", "isProductionMode")
                SELECT 'p' || n, now(), 'project ' || n, false FROM generate_series(1, %1$d) AS n""".formatted(TENANCIES),
                """
                INSERT INTO "Tenancy" ("id", "updatedAt", "projectId", "branchId", "hasNoOrganization")
                SELECT md5('t' || n)::uuid, now(), 'p' || n, 'main', 'TRUE' FROM generate_series(1, %1$d) AS n"""
                        .formatted(TENANCIES),
                """
                INSERT INTO "EnvironmentConfigOverride" ("projectId", "branchId", "updatedAt", "config")
                SELECT 'p' || n, 'main', now(), '%2$s'::jsonb FROM generate_series(1, %1$d) AS n"""
                        .formatted(TENANCIES, config),
                """
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                    "createdAt", "updatedAt", "signedUpAt", "displayName")
                SELECT md5('t' || n)::uuid, md5('u' || n)::uuid, 'p' || n, 'main', TIMESTAMP '2025-01-01',
                       TIMESTAMP '2025-01-01', TIMESTAMP '2025-01-01', 'user ' || n
                FROM generate_series(1, %1$d) AS n""".formatted(TENANCIES),
                """
                INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "createdAt", "updatedAt", "type",
                    "isPrimary", "isVerified", "value", "usedForAuth")
                SELECT md5('t' || n)::uuid, md5('u' || n)::uuid, md5('c' || n)::uuid, TIMESTAMP '2025-01-01',
                       TIMESTAMP '2025-01-01', 'EMAIL', 'TRUE', true, 'user' || n || '@example.com', 'TRUE'
                FROM generate_series(1, %1$d) AS n""".formatted(TENANCIES),
                // Each row's change-log entry, already stamped: a user at 2n, its channel at 2n + 1.
                """
                INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
                SELECT md5('t' || n)::uuid, 'ProjectUser',
                       jsonb_build_object('tenancyId', md5('t' || n)::uuid, 'projectUserId', md5('u' || n)::uuid), 2 * n
                FROM generate_series(1, %1$d) AS n
                UNION ALL
                SELECT md5('t' || n)::uuid, 'ContactChannel', jsonb_build_object('tenancyId', md5('t' || n)::uuid,
                           'projectUserId', md5('u' || n)::uuid, 'id', md5('c' || n)::uuid), 2 * n + 1
                FROM generate_series(1, %1$d) AS n""".formatted(TENANCIES),
                "ANALYZE");
        List<String> targetSql = new ArrayList<>(Mappings.TARGET_DDL);
        targetSql.add("""
                INSERT INTO users (id, display_name, primary_email, primary_email_verified, signed_up_at)
                SELECT md5('u' || n)::uuid, 'user ' || n, 'user' || n || '@example.com', true, TIMESTAMP '2025-01-01'
                FROM generate_series(1, %d) AS n""".formatted(TENANCIES));
        targetSql.add("""
                INSERT INTO contact_channels (id, user_id, type, value, is_primary, is_verified, used_for_auth,
                    created_at)
                SELECT md5('c' || n)::uuid, md5('u' || n)::uuid, 'EMAIL', 'user' || n || '@example.com', true, true,
                       true, TIMESTAMP '2025-01-01'
                FROM generate_series(1, %d) AS n""".formatted(TENANCIES));
        targetSql.add("""
                INSERT INTO _stack_sync_metadata (tenancy_id, mapping_name, last_synced_sequence_id)
                SELECT md5('t' || n)::uuid, m, 2 * n + 1
                FROM generate_series(1, %d) AS n, unnest(ARRAY['users', 'contact_channels']) AS m""".formatted(TENANCIES));
        targetSql.add("ANALYZE");
        target.execute(targetSql.toArray(String[]::new));
        System.out.printf("ManyTenanciesBenchmark: generated %d tenancies in %d s%n", TENANCIES,
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started));

        Path jar = Path.of(System.getProperty("verifier.jar", "target/integrity-verifier.jar"));
        Path stdout = dir.resolve("out.jsonl");
        Path stderr = dir.resolve("err.txt");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx64m", "-XX:+UseSerialGC", "-jar", jar.toString(), "--internal-url=" + internal.postgresUrl())
                .redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
        long peakKb = 0;
        long runStarted = System.nanoTime();
        while (!p.waitFor(200, TimeUnit.MILLISECONDS)) {
            peakKb = Math.max(peakKb, MillionUsersIT.vmHwmKb(p.pid()));
        }
        double seconds = (System.nanoTime() - runStarted) / 1e9;
        String out = Files.readString(stdout, StandardCharsets.UTF_8);
        assertThat(p.exitValue()).as("%s%n%s", out, Files.readString(stderr)).isZero();
        System.out.printf("ManyTenanciesBenchmark: %d tenancies (%d rows) in %.1f s: %.0f tenancies/s, %.0f rows/s, "
                + "peak RSS %d MB (-Xmx64m)%n%s%n", TENANCIES, 2L * TENANCIES, seconds, TENANCIES / seconds,
                2L * TENANCIES / seconds, peakKb / 1024, out.strip());
    }
}
