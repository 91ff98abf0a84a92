package dev.externaldbsync.mapping;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

class MappingsTest {

    private static TestDatabase db;
    private static StackAuthFixtures fixtures;

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("mappings");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        fixtures = new StackAuthFixtures(db);
    }

    @Test
    void registryFollowsPartDOrderAndNamesAreTables() {
        assertThat(Mappings.ALL).extracting(Mapping::name).containsExactly("users", "contact_channels", "teams",
                "team_member_profiles", "team_permissions", "team_invitations", "email_outboxes",
                "project_permissions", "notification_preferences", "refresh_tokens", "connected_accounts");
        for (Mapping m : Mappings.ALL) {
            assertThat(m.ddl().get(0)).startsWith("CREATE TABLE IF NOT EXISTS \"" + m.name() + "\"");
            assertThat(m.ddl()).contains("REVOKE ALL ON \"" + m.name() + "\" FROM PUBLIC",
                    "GRANT SELECT ON \"" + m.name() + "\" TO PUBLIC");
            assertThat(m.fetchSql().chars().filter(ch -> ch == '?').count())
                    .isEqualTo(m.fetchParameters().size());
        }
        assertThat(Mappings.SCHEMA_VERSION).hasSize(16);
    }

    @Test
    void targetDdlCreatesTablesWithPartCColumnsAndIsRepeatable() {
        TestDatabase target = TestPostgres.createDatabase("mapping_target");
        for (int i = 0; i < 2; i++) {
            target.execute(Mappings.TARGET_DDL.toArray(String[]::new));
        }
        List<List<Object>> columns = target.queryRows("""
                SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns
                WHERE table_name = 'users' ORDER BY ordinal_position""");
        assertThat(columns).extracting(r -> r.get(0) + " " + r.get(1) + " " + r.get(2)).containsExactly(
                "id uuid NO", "display_name text YES", "profile_image_url text YES", "primary_email text YES",
                "primary_email_verified boolean NO", "signed_up_at timestamp without time zone NO",
                "client_metadata jsonb NO", "client_read_only_metadata jsonb NO", "server_metadata jsonb NO",
                "is_anonymous boolean NO");
        assertThat(target.queryValue("SELECT relacl::text FROM pg_class WHERE relname = 'contact_channels'"))
                .asString().contains("=r/");
    }

    @Test
    void fetchReturnsTheLiveRowOfAKeyDeletedAndReCreatedAndADeleteForAKeyWithNoLiveRow() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID kept = fixtures.createUser(tenancy, "Kept", "kept@example.com");
        UUID gone = fixtures.createUser(tenancy, "Gone", null);
        fixtures.deleteUser(tenancy, gone);
        // Delete and re-insert of the same id: its entries all join the live row, so the key ends present.
        fixtures.deleteUser(tenancy, kept);
        db.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                    "updatedAt", "displayName") VALUES (?, ?, ?, 'main', now(), 'Kept again')""",
                tenancy.id(), kept, tenancy.projectId());
        stamp(tenancy);

        List<String> rows = new ArrayList<>();
        try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(Mappings.USERS.fetchSql())) {
            bind(ps, Mappings.USERS, tenancy.id(), 100);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows.add(rs.getString("id") + " " + rs.getString("display_name") + " " + rs.getBoolean("is_deleted"));
                }
            }
        }
        assertThat(rows).containsExactlyInAnyOrder(gone + " null true", kept + " Kept again false");
    }

    @Test
    void everyPlanIsAStampedEntryRangeScanWithKeyProbesEvenTheGenericPlanNextToABigTenancy() throws Exception {
        Tenancy big = fixtures.createTenancy();
        db.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt")
                SELECT ?, gen_random_uuid(), ?, 'main', now()
                FROM generate_series(1, 5000)""", big.id(), big.projectId());
        stamp(big);
        db.execute("ANALYZE");
        Tenancy small = fixtures.createTenancy();
        Map<Mapping, String> probes = Map.ofEntries(
                Map.entry(Mappings.USERS, "ProjectUser_pkey"),
                Map.entry(Mappings.CONTACT_CHANNELS, "ContactChannel_pkey"),
                Map.entry(Mappings.TEAMS, "Team_pkey"),
                Map.entry(Mappings.TEAM_MEMBER_PROFILES, "TeamMember_pkey"),
                Map.entry(Mappings.TEAM_PERMISSIONS, "TeamMemberDirectPermission_tenancyId_projectUserId_teamId_p_key"),
                Map.entry(Mappings.TEAM_INVITATIONS, "VerificationCode_pkey"),
                Map.entry(Mappings.EMAIL_OUTBOXES, "EmailOutbox_pkey"),
                Map.entry(Mappings.PROJECT_PERMISSIONS, "ProjectUserDirectPermission_tenancyId_projectUserId_permiss_key"),
                Map.entry(Mappings.NOTIFICATION_PREFERENCES, "UserNotificationPreference_pkey"),
                Map.entry(Mappings.REFRESH_TOKENS, "ProjectUserRefreshToken_pkey"),
                Map.entry(Mappings.CONNECTED_ACCOUNTS, "ProjectUserOAuthAccount_pkey"));
        for (Mapping mapping : Mappings.ALL) {
            String plan = genericPlan(mapping, small);
            assertThat(plan).as(mapping.name() + "\n" + plan)
                    .contains("Index Cond: ((ROW(\"tenancyId\", \"tableName\", \"sequenceId\") > ROW(")
                    .contains("SyncChange_stamped_idx")
                    .contains(probes.get(mapping))
                    .doesNotContain("Seq Scan")
                    .doesNotContain("DeletedRow");
            // Only a page is ever sorted (the entries come in index order): at most the grouping and the page's order.
            assertThat(plan.split("Sort Key", -1).length - 1).as(mapping.name() + "\n" + plan).isLessThanOrEqualTo(2);
            assertThat(plan).as(mapping.name()).doesNotContain("Sort Key: sc.\"sequenceId\"");
        }
    }

    /** The generic plan of the single form for {@code tenancy}, as EXPLAIN text. */
    static String genericPlan(Mapping mapping, Tenancy tenancy) throws Exception {
        String[] types = mapping.fetchParameters().stream()
                .map(p -> switch (p) {
                    case TENANCY_ID -> "uuid";
                    case CURSOR -> "bigint";
                    case LIMIT -> "int";
                }).toArray(String[]::new);
        String sql = mapping.fetchSql();
        for (int n = 1; sql.contains("?"); n++) {
            sql = sql.replaceFirst("\\?", "\\$" + n);
        }
        String args = mapping.fetchParameters().stream().map(p -> switch (p) {
            case TENANCY_ID -> "'" + tenancy.id() + "'";
            case CURSOR -> "-1";
            case LIMIT -> "1000";
        }).collect(java.util.stream.Collectors.joining(", "));
        try (Connection c = db.connect(); var st = c.createStatement()) {
            st.execute("SET plan_cache_mode = force_generic_plan");
            st.execute("SET enable_seqscan = off"); // tiny test tables: make the index choice visible
            st.execute("PREPARE f(" + String.join(", ", types) + ") AS " + sql);
            StringBuilder text = new StringBuilder();
            try (ResultSet rs = st.executeQuery("EXPLAIN EXECUTE f(" + args + ")")) {
                while (rs.next()) {
                    text.append(rs.getString(1)).append('\n');
                }
            }
            return text.toString();
        }
    }

    @Test
    void projectionListsEveryLiveRowOfTheTenancyInKeyOrderWithItsStampAndPendingMarkFromTheLog() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        Tenancy other = fixtures.createTenancy();
        List<UUID> users = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            users.add(fixtures.createUser(tenancy, "user " + i, "u" + i + "@example.com"));
        }
        fixtures.createUser(other, "not mine", "other@example.com");
        // Every entry stamped but user 0's (its insert and its primary channel's derived entry).
        db.update("""
                UPDATE "SyncChange" SET "sequenceId" = nextval('global_seq_id')
                WHERE "tenancyId" = ? AND "sequenceId" IS NULL
                  AND NOT ("tableName" = 'ProjectUser' AND "primaryKey" ->> 'projectUserId' = ?)""",
                tenancy.id(), users.get(0).toString());
        long highestOfUser1 = db.queryLong("""
                SELECT max("sequenceId") FROM "SyncChange" WHERE "tableName" = 'ProjectUser'
                AND "primaryKey" = jsonb_build_object('tenancyId', ?::uuid, 'projectUserId', ?::uuid)""",
                tenancy.id(), users.get(1));

        for (Mapping mapping : Mappings.ALL) {
            assertThat(mapping.projectionSql()).as(mapping.name()).doesNotContain("shouldUpdateSequenceId")
                    .doesNotContain("DeletedRow").contains("\"SyncChange\"");
            try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(mapping.projectionSql())) {
                ps.setObject(1, tenancy.id());
                List<String> keys = new ArrayList<>();
                Map<String, Long> stamps = new java.util.HashMap<>();
                Map<String, Boolean> pending = new java.util.HashMap<>();
                try (ResultSet rs = ps.executeQuery()) {
                    int columns = mapping.columns().size();
                    assertThat(rs.getMetaData().getColumnCount()).isEqualTo(columns + 2);
                    assertThat(rs.getMetaData().getColumnName(columns + 1)).isEqualTo("sequence_id");
                    assertThat(rs.getMetaData().getColumnName(columns + 2)).isEqualTo("pending");
                    while (rs.next()) {
                        keys.add(rs.getString(1));
                        stamps.put(rs.getString(1), rs.getObject(columns + 1) == null ? null : rs.getLong(columns + 1));
                        pending.put(rs.getString(1), rs.getBoolean(columns + 2));
                    }
                }
                if (mapping != Mappings.USERS && mapping != Mappings.CONTACT_CHANNELS) {
                    assertThat(keys).as(mapping.name()).isEmpty();
                    continue;
                }
                assertThat(keys).as(mapping.name()).hasSize(5).isSorted();
                if (mapping == Mappings.CONTACT_CHANNELS) {
                    assertThat(stamps.values()).as("every channel stamped").doesNotContainNull();
                    assertThat(pending.values()).as("no channel pending").containsOnly(false);
                }
                if (mapping == Mappings.USERS) {
                    assertThat(keys).containsExactlyInAnyOrderElementsOf(users.stream().map(UUID::toString).toList());
                    String first = users.get(0).toString();
                    assertThat(pending.get(first)).as("the unstamped user").isTrue();
                    assertThat(stamps).containsEntry(first, null).containsEntry(users.get(1).toString(), highestOfUser1);
                    assertThat(pending.values().stream().filter(p -> p).count()).as("only the unstamped user")
                            .isEqualTo(1);
                }
            }
        }
    }

    private static void stamp(Tenancy tenancy) {
        db.update("UPDATE \"SyncChange\" SET \"sequenceId\" = nextval('global_seq_id') "
                + "WHERE \"tenancyId\" = ? AND \"sequenceId\" IS NULL", tenancy.id());
    }

    private static void bind(PreparedStatement ps, Mapping mapping, UUID tenancy, int limit) throws Exception {
        int i = 1;
        for (Mapping.FetchParameter p : mapping.fetchParameters()) {
            switch (p) {
                case TENANCY_ID -> ps.setObject(i++, tenancy);
                case CURSOR -> ps.setLong(i++, -1);
                case LIMIT -> ps.setInt(i++, limit);
            }
        }
    }
}
