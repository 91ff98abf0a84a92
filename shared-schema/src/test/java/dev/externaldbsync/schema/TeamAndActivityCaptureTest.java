package dev.externaldbsync.schema;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/** Capture for the nine tables of db/sync V40: marks, tombstones (cascaded too) and the team → invitation link. */
class TeamAndActivityCaptureTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static TestDatabase db;
    private static StackAuthFixtures fixtures;

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("capture_teams");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        fixtures = new StackAuthFixtures(db);
    }

    @Test
    void deletingAUserTombstonesEverythingItsForeignKeysCascadeTo() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Member", "member@example.com");
        UUID team = fixtures.createTeam(tenancy, "Team");
        fixtures.addMember(tenancy, team, user, "Member of Team");
        fixtures.grantTeamPermission(tenancy, team, user, "team_admin");
        fixtures.grantProjectPermission(tenancy, user, "project_admin");
        fixtures.setNotificationPreference(tenancy, user, UUID.randomUUID(), false);
        fixtures.connectAccount(tenancy, user, "github", "member@github.example");

        fixtures.deleteUser(tenancy, user);

        assertThat(tombstones(tenancy)).containsOnlyKeys("ProjectUser", "ContactChannel", "TeamMember",
                "TeamMemberDirectPermission", "ProjectUserDirectPermission", "UserNotificationPreference",
                "ProjectUserOAuthAccount");
        assertThat(JSON.readTree(tombstones(tenancy).get("TeamMemberDirectPermission"))).isEqualTo(JSON.valueToTree(Map.of(
                "tenancyId", tenancy.id().toString(), "projectUserId", user.toString(), "teamId", team.toString(),
                "permissionId", "team_admin")));
        assertThat(JSON.readTree(tombstones(tenancy).get("ProjectUserDirectPermission"))).isEqualTo(JSON.valueToTree(Map.of(
                "tenancyId", tenancy.id().toString(), "projectUserId", user.toString(), "permissionId", "project_admin")));
    }

    @Test
    void deletingATeamTombstonesItsMembershipsAndPermissionsAndMarksItsInvitations() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Member", null);
        UUID team = fixtures.createTeam(tenancy, "Doomed");
        fixtures.addMember(tenancy, team, user, null);
        fixtures.grantTeamPermission(tenancy, team, user, "read");
        UUID invitation = fixtures.inviteToTeam(tenancy, team, "invitee@example.com");
        stampAll("VerificationCode");

        fixtures.deleteTeam(tenancy, team);

        assertThat(tombstones(tenancy)).containsOnlyKeys("Team", "TeamMember", "TeamMemberDirectPermission");
        assertThat(marked("VerificationCode", invitation)).as("the invitation of a deleted team is marked").isTrue();
    }

    @Test
    void renamingATeamMarksOnlyThatTeamsInvitations() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID renamed = fixtures.createTeam(tenancy, "Old name");
        UUID other = fixtures.createTeam(tenancy, "Other");
        UUID invitationOfRenamed = fixtures.inviteToTeam(tenancy, renamed, "a@example.com");
        UUID invitationOfOther = fixtures.inviteToTeam(tenancy, other, "b@example.com");
        stampAll("VerificationCode");

        fixtures.renameTeam(tenancy, renamed, "New name");

        assertThat(marked("VerificationCode", invitationOfRenamed)).isTrue();
        assertThat(marked("VerificationCode", invitationOfOther)).isFalse();
    }

    @Test
    void onlyTeamInvitationsAmongVerificationCodesAreCapturedAndTheirTombstonesFindTheirTenancy() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID team = fixtures.createTeam(tenancy, "Team");
        UUID invitation = fixtures.inviteToTeam(tenancy, team, "invitee@example.com");
        UUID otp = fixtures.createOneTimePassword(tenancy);

        assertThat(marked("VerificationCode", invitation)).isTrue();
        assertThat(marked("VerificationCode", otp)).isFalse();

        fixtures.deleteVerificationCode(tenancy, otp);
        fixtures.deleteVerificationCode(tenancy, invitation);

        Map<String, String> tombstones = tombstones(tenancy);
        assertThat(tombstones).containsOnlyKeys("VerificationCode_TEAM_INVITATION");
        assertThat(JSON.readTree(tombstones.get("VerificationCode_TEAM_INVITATION")))
                .isEqualTo(JSON.valueToTree(Map.of("id", invitation.toString())));
    }

    @Test
    void refreshTokensAreTombstonedWithoutTheirSecretAndEmailsAreMarkedOnEveryUpdate() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Session owner", null);
        fixtures.createRefreshToken(tenancy, user);
        UUID email = fixtures.createEmail(tenancy, "welcome");
        stampAll("EmailOutbox");

        db.update("UPDATE \"EmailOutbox\" SET \"isPaused\" = true WHERE \"id\" = ?", email);
        fixtures.deleteSessionsOf(tenancy, user);

        assertThat(marked("EmailOutbox", email)).isTrue();
        assertThat(db.queryValue("SELECT \"status\"::text FROM \"EmailOutbox\" WHERE \"id\" = ?", email)).isEqualTo("PAUSED");
        String snapshot = (String) db.queryValue("""
                SELECT "data"::text FROM "DeletedRow" WHERE "tenancyId" = ? AND "tableName" = 'ProjectUserRefreshToken'""",
                tenancy.id());
        assertThat(JSON.readTree(snapshot).get("projectUserId").asText()).isEqualTo(user.toString());
        assertThat(snapshot).doesNotContain("secret-refresh-token");
    }

    private static Map<String, String> tombstones(Tenancy tenancy) {
        List<List<Object>> rows = db.queryRows("""
                SELECT "tableName", "primaryKey"::text FROM "DeletedRow" WHERE "tenancyId" = ?""", tenancy.id());
        java.util.Map<String, String> byTable = new java.util.HashMap<>();
        rows.forEach(r -> byTable.put((String) r.get(0), (String) r.get(1)));
        return byTable;
    }

    private static void stampAll(String table) {
        db.update("UPDATE \"" + table + "\" SET \"sequenceId\" = nextval('global_seq_id'), \"shouldUpdateSequenceId\" = false "
                + "WHERE \"shouldUpdateSequenceId\"");
    }

    private static boolean marked(String table, UUID id) {
        return (Boolean) db.queryValue("SELECT \"shouldUpdateSequenceId\" FROM \"" + table + "\" WHERE \"id\" = ?", id);
    }
}
