package dev.externaldbsync.verifier;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * Bounded memory: a tenancy with 1,000,000 users and their 1,000,000 primary email channels, equal on both sides,
 * verified by the packaged jar in a child JVM limited to {@code -Xmx64m}. A verifier that collected a side's rows
 * (1,000,000 rows of ten strings) would run out of heap and exit non-zero. Prints rows/s and peak RSS (VmHWM).
 * <p>
 * Both databases are generated with {@code generate_series} and deterministic ids ({@code md5(n)::uuid}, so key
 * order is unrelated to insertion order); the target rows are written with SQL that follows schema-reference C.2/C.3
 * directly (not through the projection). Triggers are off while generating ({@code session_replication_role}), so
 * no change-log entry is written for them; their entries are generated too, already stamped.
 */
class MillionUsersIT {

    static final int USERS = Integer.getInteger("verifier.it.users", 1_000_000);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void aMillionUserTenancyVerifiesInSixtyFourMegabytesOfHeap() throws Exception {
        TestDatabase internal = TestPostgres.createDatabase("iv_big_internal");
        SchemaMigrations.migrate(internal.dataSource(), MigrateMode.ALL);
        TestDatabase target = TestPostgres.createDatabase("iv_big_target");
        StackAuthFixtures fx = new StackAuthFixtures(internal);
        Tenancy t = fx.createTenancy();
        fx.configureTargets(t, Map.of("main", target.postgresUrl()));

        long started = System.nanoTime();
        String users = """
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                    "createdAt", "updatedAt", "signedUpAt", "displayName", "clientMetadata")
                SELECT '%1$s', md5('u' || n)::uuid, '%2$s', 'main',
                       TIMESTAMP '2025-01-01 00:00:00' + n * INTERVAL '1 millisecond',
                       TIMESTAMP '2025-01-01', TIMESTAMP '2025-01-01 00:00:00' + n * INTERVAL '1 millisecond',
                       'user ' || n, jsonb_build_object('n', n)
                FROM generate_series(1, %3$d) AS n""".formatted(t.id(), t.projectId(), USERS);
        String channels = """
                INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "createdAt", "updatedAt", "type",
                    "isPrimary", "isVerified", "value", "usedForAuth")
                SELECT '%1$s', md5('u' || n)::uuid, md5('c' || n)::uuid,
                       TIMESTAMP '2025-01-01 00:00:00' + n * INTERVAL '1 millisecond', TIMESTAMP '2025-01-01',
                       'EMAIL', 'TRUE', n %% 2 = 0, 'user' || n || '@example.com', 'TRUE'
                FROM generate_series(1, %2$d) AS n""".formatted(t.id(), USERS);
        // Each row's change-log entry, already stamped: a user at 2n, its channel at 2n + 1.
        String changes = """
                INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
                SELECT '%1$s'::uuid, 'ProjectUser',
                       jsonb_build_object('tenancyId', '%1$s'::uuid, 'projectUserId', md5('u' || n)::uuid), 2 * n
                FROM generate_series(1, %2$d) AS n
                UNION ALL
                SELECT '%1$s'::uuid, 'ContactChannel', jsonb_build_object('tenancyId', '%1$s'::uuid,
                           'projectUserId', md5('u' || n)::uuid, 'id', md5('c' || n)::uuid), 2 * n + 1
                FROM generate_series(1, %2$d) AS n""".formatted(t.id(), USERS);
        List<String> targetSql = new ArrayList<>(Mappings.TARGET_DDL);
        targetSql.add("""
                INSERT INTO users (id, display_name, profile_image_url, primary_email, primary_email_verified,
                    signed_up_at, client_metadata, client_read_only_metadata, server_metadata, is_anonymous)
                SELECT md5('u' || n)::uuid, 'user ' || n, NULL, 'user' || n || '@example.com', n %% 2 = 0,
                       TIMESTAMP '2025-01-01 00:00:00' + n * INTERVAL '1 millisecond', jsonb_build_object('n', n),
                       '{}', '{}', false
                FROM generate_series(1, %d) AS n""".formatted(USERS));
        targetSql.add("""
                INSERT INTO contact_channels (id, user_id, type, value, is_primary, is_verified, used_for_auth,
                    created_at)
                SELECT md5('c' || n)::uuid, md5('u' || n)::uuid, 'EMAIL', 'user' || n || '@example.com', true,
                       n %% 2 = 0, true, TIMESTAMP '2025-01-01 00:00:00' + n * INTERVAL '1 millisecond'
                FROM generate_series(1, %d) AS n""".formatted(USERS));
        targetSql.add("""
                INSERT INTO _stack_sync_metadata (tenancy_id, mapping_name, last_synced_sequence_id)
                VALUES ('%1$s', 'users', %2$d), ('%1$s', 'contact_channels', %2$d)""".formatted(t.id(), 2L * USERS + 1));
        targetSql.add("ANALYZE");
        // Four independent generators in parallel (triggers and FK checks are off in replica mode, so the channels
        // need not wait for their users).
        CompletableFuture.allOf(
                CompletableFuture.runAsync(() -> internal.execute("SET session_replication_role = replica", users,
                        "ANALYZE \"ProjectUser\"")),
                CompletableFuture.runAsync(() -> internal.execute("SET session_replication_role = replica", channels,
                        "ANALYZE \"ContactChannel\"")),
                CompletableFuture.runAsync(() -> internal.execute(changes, "ANALYZE \"SyncChange\"")),
                CompletableFuture.runAsync(() -> target.execute(targetSql.toArray(String[]::new))))
                .get(5, TimeUnit.MINUTES);
        System.out.printf("MillionUsersIT: generated %d users + %d channels on both sides in %d s%n", USERS, USERS,
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started));

        Path jar = Path.of(System.getProperty("verifier.jar", "target/integrity-verifier.jar"));
        Path stdout = dir.resolve("out.jsonl");
        Path stderr = dir.resolve("err.txt");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx64m", "-XX:+UseSerialGC", "-jar", jar.toString(), "--internal-url=" + internal.postgresUrl(),
                "--tenancy=" + t.id())
                .redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
        long peakKb = 0;
        long runStarted = System.nanoTime();
        while (!p.waitFor(200, TimeUnit.MILLISECONDS)) {
            peakKb = Math.max(peakKb, vmHwmKb(p.pid()));
        }
        double seconds = (System.nanoTime() - runStarted) / 1e9;
        String out = Files.readString(stdout, StandardCharsets.UTF_8);
        String err = Files.readString(stderr, StandardCharsets.UTF_8);

        assertThat(p.exitValue()).as("stdout:%n%s%nstderr:%n%s", out, err).isZero();
        JsonNode summary = JSON.readTree(out.lines().filter(l -> l.startsWith("{\"summary\"")).findFirst()
                .orElseThrow()).get("summary");
        assertThat(summary.get("rowsCompared").asLong()).isEqualTo(2L * USERS);
        assertThat(summary.get("failedUnits").asLong()).isZero();
        assertThat(summary.get("pendingRows").asLong()).isZero();
        long progressLines = err.lines().filter(l -> l.startsWith("verify-integrity: tenancy")).count();
        assertThat(progressLines).isLessThanOrEqualTo((long) Math.ceil(seconds) + 1);
        System.out.printf("MillionUsersIT: verified %d rows in %.1f s (%.0f rows/s end to end, verifier's own "
                + "figure %d rows/s), peak RSS %d MB (VmHWM, -Xmx64m), %d progress lines%n", 2L * USERS, seconds,
                2L * USERS / seconds, summary.get("rowsPerSecond").asLong(), peakKb / 1024, progressLines);
    }

    /** Peak resident set of a live process, from /proc (0 where there is no /proc). */
    static long vmHwmKb(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        return 0;
    }
}
