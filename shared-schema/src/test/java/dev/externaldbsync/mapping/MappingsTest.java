package dev.externaldbsync.mapping;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
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
    void fetchReturnsLiveRowsAndOnlyTombstonesWithoutALiveTwin() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID kept = fixtures.createUser(tenancy, "Kept", "kept@example.com");
        UUID gone = fixtures.createUser(tenancy, "Gone", null);
        fixtures.deleteUser(tenancy, gone);
        // A tombstone for a key that is live again (delete + re-insert of the same id) is suppressed.
        fixtures.deleteUser(tenancy, kept);
        db.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                    "updatedAt", "displayName") VALUES (?, ?, ?, 'main', now(), 'Kept again')""",
                tenancy.id(), kept, tenancy.projectId());
        db.update("""
                UPDATE "ProjectUser" SET "sequenceId" = nextval('global_seq_id'), "shouldUpdateSequenceId" = false
                WHERE "tenancyId" = ?""", tenancy.id());
        db.update("""
                UPDATE "DeletedRow" SET "sequenceId" = nextval('global_seq_id'), "shouldUpdateSequenceId" = false
                WHERE "tenancyId" = ?""", tenancy.id());

        List<String> rows = new ArrayList<>();
        try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(Mappings.USERS.fetchSql())) {
            int i = 1;
            for (Mapping.FetchParameter p : Mappings.USERS.fetchParameters()) {
                switch (p) {
                    case TENANCY_ID -> ps.setObject(i++, tenancy.id());
                    case CURSOR -> ps.setLong(i++, -1);
                    case LIMIT -> ps.setInt(i++, 100);
                }
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows.add(rs.getString("id") + " " + rs.getString("display_name") + " " + rs.getBoolean("is_deleted"));
                }
            }
        }
        assertThat(rows).containsExactly(kept + " Kept again false", gone + " null true");
    }

    @Test
    void everyPlanIsATenancyRangeScanEvenTheGenericPlanNextToABigTenancy() throws Exception {
        Tenancy big = fixtures.createTenancy();
        db.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt", "sequenceId", "shouldUpdateSequenceId")
                SELECT ?, gen_random_uuid(), ?, 'main', now(), nextval('global_seq_id'), false
                FROM generate_series(1, 5000)""", big.id(), big.projectId());
        db.execute("ANALYZE");
        Tenancy small = fixtures.createTenancy();
        for (Mapping mapping : Mappings.ALL) {
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
                case TENANCY_ID -> "'" + small.id() + "'";
                case CURSOR -> "-1";
                case LIMIT -> "1000";
            }).collect(java.util.stream.Collectors.joining(", "));
            String plan;
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
                plan = text.toString();
            }
            String rangeIndex = mapping == Mappings.TEAM_INVITATIONS
                    ? "VerificationCode_projectId_branchId_sequenceId_idx"
                    : mapping.sourceTable() + "_tenancyId_sequenceId_idx";
            assertThat(plan).as(mapping.name())
                    .contains("Index Cond")
                    .contains(rangeIndex)
                    .contains("DeletedRow_tenancyId_tableName_sequenceId_idx")
                    .doesNotContain(mapping.sourceTable() + "_sequenceId_key")
                    .doesNotContain("DeletedRow_sequenceId_key")
                    .doesNotContain("Sort Key: " + "u.\"sequenceId\"")
                    .doesNotContain("Seq Scan on \"" + mapping.sourceTable() + "\"");
            // At most the outer merge of the two pages sorts; neither branch sorts its range.
            assertThat(plan.split("Sort Key", -1).length - 1).as(mapping.name() + "\n" + plan).isLessThanOrEqualTo(1);
            if (mapping == Mappings.TEAM_INVITATIONS) {
                // The tenancy's project and branch come from one-row initPlans, so the range is an index condition.
                assertThat(plan).contains("Index Cond: ((ROW(\"projectId\", \"branchId\", \"sequenceId\") > ROW(");
            }
        }
    }

    @Test
    void projectionListsEveryLiveRowOfTheTenancyInKeyOrderWithItsStampAndPendingMark() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        Tenancy other = fixtures.createTenancy();
        List<UUID> users = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            users.add(fixtures.createUser(tenancy, "user " + i, "u" + i + "@example.com"));
        }
        fixtures.createUser(other, "not mine", "other@example.com");
        db.update("""
                UPDATE "ProjectUser" SET "sequenceId" = nextval('global_seq_id'), "shouldUpdateSequenceId" = false
                WHERE "tenancyId" = ? AND "projectUserId" <> ?""", tenancy.id(), users.get(0));

        for (Mapping mapping : Mappings.ALL) {
            try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(mapping.projectionSql())) {
                ps.setObject(1, tenancy.id());
                List<String> keys = new ArrayList<>();
                List<Boolean> pending = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    int columns = mapping.columns().size();
                    assertThat(rs.getMetaData().getColumnCount()).isEqualTo(columns + 2);
                    assertThat(rs.getMetaData().getColumnName(columns + 1)).isEqualTo("sequence_id");
                    assertThat(rs.getMetaData().getColumnName(columns + 2)).isEqualTo("pending");
                    while (rs.next()) {
                        keys.add(rs.getString(1));
                        pending.add(rs.getBoolean(columns + 2));
                    }
                }
                if (mapping != Mappings.USERS && mapping != Mappings.CONTACT_CHANNELS) {
                    assertThat(keys).as(mapping.name()).isEmpty();
                    continue;
                }
                assertThat(keys).as(mapping.name()).hasSize(5).isSorted();
                if (mapping == Mappings.USERS) {
                    assertThat(keys).containsExactlyInAnyOrderElementsOf(users.stream().map(UUID::toString).toList());
                    assertThat(pending.stream().filter(p -> p).count()).as("only the unstamped user").isEqualTo(1);
                }
            }
        }
    }
}
