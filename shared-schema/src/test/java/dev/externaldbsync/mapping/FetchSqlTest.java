package dev.externaldbsync.mapping;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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

/**
 * Both forms of every mapping's fetch are rendered from its structure: checked as text, and executed against a
 * migrated database (whose capture triggers write the change log) where the batched (LATERAL) form must read exactly
 * the page the single form reads.
 */
class FetchSqlTest {

    private static final FetchRange.Binding OUTER = new FetchRange.Binding("x.\"t\"", "x.\"c\"");

    private static TestDatabase db;
    private static Tenancy tenancy;
    private static Tenancy neighbour;

    @BeforeAll
    static void migrateAndFill() {
        db = TestPostgres.createDatabase("fetch_sql");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        StackAuthFixtures fixtures = new StackAuthFixtures(db);
        tenancy = fixtures.createTenancy();
        neighbour = fixtures.createTenancy();
        for (Tenancy t : List.of(tenancy, neighbour)) {
            UUID kept = fixtures.createUser(t, "Kept", "kept@example.com");
            UUID gone = fixtures.createUser(t, "Gone", "gone@example.com");
            UUID team = fixtures.createTeam(t, "Team");
            fixtures.addMember(t, team, kept, "Member");
            fixtures.grantTeamPermission(t, team, kept, "read");
            fixtures.grantProjectPermission(t, kept, "admin");
            fixtures.inviteToTeam(t, team, "invitee@example.com");
            fixtures.createEmail(t, "template");
            fixtures.setNotificationPreference(t, kept, UUID.randomUUID(), true);
            fixtures.createRefreshToken(t, kept);
            fixtures.connectAccount(t, kept, "github", "kept@example.com");
            fixtures.deleteUser(t, gone);
        }
        // Stamp the log the way the sequencer does, so every mapping has live rows and deletes to read.
        db.update("UPDATE \"SyncChange\" SET \"sequenceId\" = nextval('global_seq_id') WHERE \"sequenceId\" IS NULL");
    }

    @Test
    void theSingleFormBindsEveryParameterItDeclaresAndRangesOverStampedEntriesByRowComparison() {
        for (Mapping mapping : Mappings.ALL) {
            String sql = FetchSql.single(mapping);
            assertThat(sql).as(mapping.name()).isEqualTo(mapping.fetchSql());
            assertThat(sql.chars().filter(ch -> ch == '?').count()).as(mapping.name())
                    .isEqualTo(mapping.fetchParameters().size());
            assertThat(mapping.fetchParameters()).containsExactly(Mapping.FetchParameter.TENANCY_ID,
                    Mapping.FetchParameter.CURSOR, Mapping.FetchParameter.TENANCY_ID, Mapping.FetchParameter.LIMIT);
            assertThat(count(sql, FetchRange.MAX_SEQUENCE)).as("one upper bound").isEqualTo(1);
            assertThat(count(sql, "ORDER BY")).as("the entries, then the page").isEqualTo(2);
            assertThat(sql).contains("FROM \"SyncChange\" sc")
                    .contains("sc.\"sequenceId\" IS NOT NULL")
                    .contains("(sc.\"tenancyId\", sc.\"tableName\", sc.\"sequenceId\") > (?, '" + mapping.tombstoneTable()
                            + "', ?)")
                    .contains("GROUP BY sc.\"tenancyId\", sc.\"primaryKey\"")
                    .doesNotContain("DeletedRow").doesNotContain("UNION").doesNotContain("shouldUpdateSequenceId");
        }
    }

    @Test
    void theLateralFormHasNoParametersAndRangesOverTheOuterRowByEquality() {
        for (Mapping mapping : Mappings.ALL) {
            String sql = FetchSql.lateral(mapping, OUTER, 64);
            assertThat(sql).as(mapping.name()).doesNotContain("?").doesNotContain(FetchRange.MAX_SEQUENCE);
            assertThat(count(sql, "LIMIT 64")).as(mapping.name()).isEqualTo(1);
            assertThat(sql).as(mapping.name()).contains("sc.\"tenancyId\" = x.\"t\" AND sc.\"tableName\" = '"
                    + mapping.tombstoneTable() + "' AND sc.\"sequenceId\" > x.\"c\"")
                    .contains("sc.\"sequenceId\" IS NOT NULL");
        }
        assertThat(FetchSql.lateral(Mappings.TEAM_INVITATIONS, OUTER, 8))
                .contains("sc.\"tableName\" = 'VerificationCode_TEAM_INVITATION'")
                .doesNotContain("x.\"pp\"");
        assertThatThrownBy(() -> FetchSql.lateral(Mappings.USERS, FetchRange.Binding.PARAMETERS, 8))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> FetchSql.lateral(Mappings.USERS, OUTER, 0))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void bothFormsReadTheSamePageOfEveryMappingAndNothingOfTheNeighbour() throws Exception {
        try (Connection c = db.connect()) {
            for (Mapping mapping : Mappings.ALL) {
                for (int limit : new int[] { 1, 100 }) {
                    List<String> single = single(c, mapping, limit);
                    List<String> lateral = lateral(c, mapping, limit);
                    assertThat(lateral).as(mapping.name() + " limit " + limit).isEqualTo(single);
                    assertThat(single).as(mapping.name() + " has rows").isNotEmpty().hasSizeLessThanOrEqualTo(limit);
                }
            }
            assertThat(single(c, Mappings.USERS, 100)).as("a live user and a deleted one").hasSize(2)
                    .anyMatch(r -> r.endsWith(" t")).anyMatch(r -> r.endsWith(" f"));
        }
    }

    private static List<String> single(Connection c, Mapping mapping, int limit) throws Exception {
        try (PreparedStatement ps = c.prepareStatement(mapping.fetchSql())) {
            int i = 1;
            for (Mapping.FetchParameter p : mapping.fetchParameters()) {
                switch (p) {
                    case TENANCY_ID -> ps.setObject(i++, tenancy.id());
                    case CURSOR -> ps.setLong(i++, -1);
                    case LIMIT -> ps.setInt(i++, limit);
                }
            }
            return rows(ps, mapping);
        }
    }

    private static List<String> lateral(Connection c, Mapping mapping, int limit) throws Exception {
        String sql = "SELECT p.* FROM (SELECT ?::uuid AS \"t\", -1::bigint AS \"c\") AS x CROSS JOIN LATERAL ("
                + FetchSql.lateral(mapping, OUTER, limit) + ") AS p ORDER BY p.\"sequence_id\"";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setObject(1, tenancy.id());
            return rows(ps, mapping);
        }
    }

    private static List<String> rows(PreparedStatement ps, Mapping mapping) throws Exception {
        List<String> rows = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                StringBuilder row = new StringBuilder();
                for (int k = 1; k <= mapping.columns().size() + 2; k++) {
                    row.append(k > 1 ? " " : "").append(rs.getString(k));
                }
                rows.add(row.toString());
            }
        }
        return rows;
    }

    private static int count(String text, String part) {
        int n = 0;
        for (int i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + 1)) {
            n++;
        }
        return n;
    }
}
