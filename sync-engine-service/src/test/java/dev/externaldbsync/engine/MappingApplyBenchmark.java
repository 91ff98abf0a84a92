package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.Map;

import org.jboss.logging.Logger;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.restassured.path.json.JsonPath;

/**
 * Per-mapping apply throughput of the nine team/activity mappings, {@code bench.rows} (default 100,000) stamped rows
 * each in one tenancy, applied by one signed sync call per mapping. Not part of the normal build. Run:
 * {@code ./mvnw -B -ntp -o verify -pl sync-engine-service -Dtest=MappingApplyBenchmark}. Prints "BENCH …" lines.
 */
@QuarkusTest
@TestProfile(ApplyBenchmark.Profile.class)
@WithTestResource(InternalDatabaseResource.class)
class MappingApplyBenchmark {

    private static final Logger LOG = Logger.getLogger(MappingApplyBenchmark.class);

    @InjectTestDatabase
    TestDatabase internal;

    @Test
    void applyThroughputPerMapping() throws Exception {
        int rows = Integer.getInteger("bench.rows", 100_000);
        int users = 1000;
        int perUser = rows / users;
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        Tenancy t = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("bench_mappings");
        fixtures.configureTargets(t, Map.of("main", target.postgresUrl()));
        String tid = "'" + t.id() + "'";
        String pid = "'" + t.projectId() + "'";
        String stamped = "nextval('global_seq_id'), false";
        // Prerequisites (users, and the teams every membership uses), synced before any timing.
        generate("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                    "updatedAt", "displayName", "sequenceId", "shouldUpdateSequenceId")
                SELECT %s, gen_random_uuid(), %s, 'main', now(), 'user ' || g, %s FROM generate_series(1, %d) g"""
                .formatted(tid, pid, stamped, users));
        sync(t.id());

        Map<String, String> generators = new LinkedHashMap<>();
        generators.put("teams", """
                INSERT INTO "Team" ("tenancyId", "teamId", "mirroredProjectId", "mirroredBranchId", "updatedAt",
                    "displayName", "clientMetadata", "sequenceId", "shouldUpdateSequenceId")
                SELECT %s, gen_random_uuid(), %s, 'main', now(), 'team ' || g, jsonb_build_object('n', g), %s
                FROM generate_series(1, %d) g""".formatted(tid, pid, stamped, rows));
        String someTeams = "(SELECT \"teamId\" FROM \"Team\" WHERE \"tenancyId\" = " + tid + " ORDER BY \"teamId\" LIMIT "
                + perUser + ")";
        generators.put("team_member_profiles", """
                INSERT INTO "TeamMember" ("tenancyId", "projectUserId", "teamId", "updatedAt", "displayName",
                    "sequenceId", "shouldUpdateSequenceId")
                SELECT %s, u."projectUserId", tm."teamId", now(), 'member', %s
                FROM "ProjectUser" u CROSS JOIN %s tm WHERE u."tenancyId" = %s"""
                .formatted(tid, stamped, someTeams, tid));
        generators.put("team_permissions", """
                INSERT INTO "TeamMemberDirectPermission" ("id", "tenancyId", "projectUserId", "teamId", "permissionId",
                    "updatedAt", "sequenceId", "shouldUpdateSequenceId")
                SELECT gen_random_uuid(), "tenancyId", "projectUserId", "teamId", 'read', now(), %s
                FROM "TeamMember" WHERE "tenancyId" = %s""".formatted(stamped, tid));
        generators.put("team_invitations", """
                WITH teams AS (SELECT "teamId", row_number() OVER (ORDER BY "teamId") - 1 AS i FROM %s t)
                INSERT INTO "VerificationCode" ("projectId", "branchId", "id", "updatedAt", "type", "code", "expiresAt",
                    "data", "method", "sequenceId", "shouldUpdateSequenceId")
                SELECT %s, 'main', gen_random_uuid(), now(), 'TEAM_INVITATION', 'code-' || g, now() + interval '7 days',
                       jsonb_build_object('team_id', teams."teamId"::text),
                       jsonb_build_object('email', 'i' || g || '@x.example'), %s
                FROM generate_series(1, %d) g JOIN teams ON teams.i = g %% %d"""
                .formatted(someTeams, pid, stamped, rows, perUser));
        generators.put("email_outboxes", """
                INSERT INTO "EmailOutbox" ("tenancyId", "id", "updatedAt", "tsxSource", "isHighPriority", "to",
                    "extraRenderVariables", "createdWith", "emailProgrammaticCallTemplateId",
                    "shouldSkipDeliverabilityCheck", "scheduledAt", "sequenceId", "shouldUpdateSequenceId")
                SELECT %s, gen_random_uuid(), now(), '<Email/>', false, '{"type": "user"}', '{}', 'PROGRAMMATIC_CALL',
                       'template', false, now(), %s FROM generate_series(1, %d) g""".formatted(tid, stamped, rows));
        generators.put("project_permissions", """
                INSERT INTO "ProjectUserDirectPermission" ("id", "tenancyId", "projectUserId", "permissionId", "updatedAt",
                    "sequenceId", "shouldUpdateSequenceId")
                SELECT gen_random_uuid(), %s, u."projectUserId", 'perm-' || g, now(), %s
                FROM "ProjectUser" u CROSS JOIN generate_series(1, %d) g WHERE u."tenancyId" = %s"""
                .formatted(tid, stamped, perUser, tid));
        generators.put("notification_preferences", """
                INSERT INTO "UserNotificationPreference" ("id", "tenancyId", "projectUserId", "notificationCategoryId",
                    "enabled", "sequenceId", "shouldUpdateSequenceId")
                SELECT gen_random_uuid(), %s, u."projectUserId", gen_random_uuid(), g %% 2 = 0, %s
                FROM "ProjectUser" u CROSS JOIN generate_series(1, %d) g WHERE u."tenancyId" = %s"""
                .formatted(tid, stamped, perUser, tid));
        generators.put("refresh_tokens", """
                INSERT INTO "ProjectUserRefreshToken" ("id", "tenancyId", "projectUserId", "updatedAt", "refreshToken",
                    "expiresAt", "sequenceId", "shouldUpdateSequenceId")
                SELECT gen_random_uuid(), %s, u."projectUserId", now(), gen_random_uuid()::text,
                       now() + interval '30 days', %s
                FROM "ProjectUser" u CROSS JOIN generate_series(1, %d) g WHERE u."tenancyId" = %s"""
                .formatted(tid, stamped, perUser, tid));
        generators.put("connected_accounts", """
                INSERT INTO "ProjectUserOAuthAccount" ("id", "tenancyId", "projectUserId", "configOAuthProviderId",
                    "providerAccountId", "email", "updatedAt", "sequenceId", "shouldUpdateSequenceId")
                SELECT gen_random_uuid(), %s, u."projectUserId", 'github', 'acct-' || g || '-' || u."projectUserId",
                       'a' || g || '@x.example', now(), %s
                FROM "ProjectUser" u CROSS JOIN generate_series(1, %d) g WHERE u."tenancyId" = %s"""
                .formatted(tid, stamped, perUser, tid));

        for (Map.Entry<String, String> e : generators.entrySet()) {
            String mapping = e.getKey();
            generate(e.getValue());
            long start = System.nanoTime();
            JsonPath result = sync(t.id());
            double seconds = (System.nanoTime() - start) / 1e9;
            assertThat(result.getString("results[0].outcome")).isEqualTo("SYNCED");
            long applied = target.queryLong("SELECT count(*) FROM " + Mappings.byName(mapping).orElseThrow().quotedTable());
            assertThat(applied).as(mapping).isEqualTo(rows);
            LOG.warnf("BENCH mapping %s: %d rows in %.1f s = %.0f rows/s", mapping, applied, seconds, applied / seconds);
        }
    }

    private void generate(String sql) throws SQLException {
        try (Connection c = internal.connect(); Statement st = c.createStatement()) {
            // The capture triggers write the change-log entries; they are stamped as the sequencer would.
            st.execute(sql);
        }
        EngineTestSupport.stamp(internal);
        try (Connection c = internal.connect(); Statement st = c.createStatement()) {
            st.execute("ANALYZE");
        }
    }
}
