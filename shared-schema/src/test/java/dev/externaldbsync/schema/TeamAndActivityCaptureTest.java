package dev.externaldbsync.schema;

import static dev.externaldbsync.schema.ChangeLog.entry;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.schema.ChangeLog.Entry;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/** Capture for the nine tables of db/sync V40, as change-log entries: cascades and the team → invitation link. */
class TeamAndActivityCaptureTest {

    private static TestDatabase db;
    private static StackAuthFixtures fixtures;

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("capture_teams");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        fixtures = new StackAuthFixtures(db);
    }

    @Test
    void deletingAUserWritesAnEntryForEverythingItsForeignKeysCascadeTo() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Member", "member@example.com");
        UUID channel = (UUID) db.queryValue("SELECT \"id\" FROM \"ContactChannel\" WHERE \"projectUserId\" = ?", user);
        UUID team = fixtures.createTeam(tenancy, "Team");
        fixtures.addMember(tenancy, team, user, "Member of Team");
        fixtures.grantTeamPermission(tenancy, team, user, "team_admin");
        fixtures.grantProjectPermission(tenancy, user, "project_admin");
        UUID preference = fixtures.setNotificationPreference(tenancy, user, UUID.randomUUID(), false);
        UUID account = fixtures.connectAccount(tenancy, user, "github", "member@github.example");

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> fixtures.deleteUser(tenancy, user));

        UUID t = tenancy.id();
        assertThat(written).containsExactlyInAnyOrder(
                entry("ProjectUser", "tenancyId", t, "projectUserId", user),
                entry("ContactChannel", "tenancyId", t, "projectUserId", user, "id", channel),
                entry("ProjectUser", "tenancyId", t, "projectUserId", user), // its primary email went too
                entry("TeamMember", "tenancyId", t, "projectUserId", user, "teamId", team),
                entry("TeamMemberDirectPermission", "tenancyId", t, "projectUserId", user, "teamId", team,
                        "permissionId", "team_admin"),
                entry("ProjectUserDirectPermission", "tenancyId", t, "projectUserId", user, "permissionId",
                        "project_admin"),
                entry("UserNotificationPreference", "tenancyId", t, "id", preference),
                entry("ProjectUserOAuthAccount", "tenancyId", t, "id", account));
    }

    @Test
    void deletingATeamWritesItsMembershipsPermissionsAndInvitations() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Member", null);
        UUID team = fixtures.createTeam(tenancy, "Doomed");
        fixtures.addMember(tenancy, team, user, null);
        fixtures.grantTeamPermission(tenancy, team, user, "read");
        UUID invitation = fixtures.inviteToTeam(tenancy, team, "invitee@example.com");

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> fixtures.deleteTeam(tenancy, team));

        UUID t = tenancy.id();
        assertThat(written).containsExactlyInAnyOrder(
                entry("Team", "tenancyId", t, "teamId", team),
                entry("VerificationCode_TEAM_INVITATION", "id", invitation),
                entry("TeamMember", "tenancyId", t, "projectUserId", user, "teamId", team),
                entry("TeamMemberDirectPermission", "tenancyId", t, "projectUserId", user, "teamId", team,
                        "permissionId", "read"));
    }

    @Test
    void renamingATeamWritesEntriesForThatTeamsInvitationsOnly() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID renamed = fixtures.createTeam(tenancy, "Old name");
        UUID other = fixtures.createTeam(tenancy, "Other");
        UUID invitationOfRenamed = fixtures.inviteToTeam(tenancy, renamed, "a@example.com");
        UUID secondInvitationOfRenamed = fixtures.inviteToTeam(tenancy, renamed, "c@example.com");
        fixtures.inviteToTeam(tenancy, other, "b@example.com");

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> fixtures.renameTeam(tenancy, renamed, "New name"));

        assertThat(written).containsExactlyInAnyOrder(
                entry("Team", "tenancyId", tenancy.id(), "teamId", renamed),
                entry("VerificationCode_TEAM_INVITATION", "id", invitationOfRenamed),
                entry("VerificationCode_TEAM_INVITATION", "id", secondInvitationOfRenamed));
    }

    @Test
    void aTeamChangeThatNoInvitationReadsWritesOnlyTheTeam() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID team = fixtures.createTeam(tenancy, "Pictured");
        fixtures.inviteToTeam(tenancy, team, "a@example.com");

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> db.update(
                "UPDATE \"Team\" SET \"profileImageUrl\" = 'https://img.example/t.png' WHERE \"teamId\" = ?", team));

        assertThat(written).containsExactly(entry("Team", "tenancyId", tenancy.id(), "teamId", team));
    }

    @Test
    void creatingRenamingAndDeletingATeamWithoutInvitationsWritesOnlyTheTeam() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID other = fixtures.createTeam(tenancy, "Other");
        fixtures.inviteToTeam(tenancy, other, "other@example.com");
        UUID[] team = new UUID[1];

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> {
            team[0] = fixtures.createTeam(tenancy, "Quiet");
            fixtures.renameTeam(tenancy, team[0], "Still quiet");
            fixtures.deleteTeam(tenancy, team[0]);
        });

        assertThat(written).extracting(Entry::tableName).containsExactly("Team", "Team", "Team");
        assertThat(written).extracting(Entry::key)
                .containsOnly(ChangeLog.key("tenancyId", tenancy.id(), "teamId", team[0]));
    }

    @Test
    void onlyTeamInvitationsAmongVerificationCodesWriteEntries() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID team = fixtures.createTeam(tenancy, "Team");
        long before = ChangeLog.total(db);

        UUID otp = fixtures.createOneTimePassword(tenancy);
        db.update("UPDATE \"VerificationCode\" SET \"data\" = '{\"changed\": true}', \"expiresAt\" = now() WHERE \"id\" = ?",
                otp);
        fixtures.deleteVerificationCode(tenancy, otp);
        assertThat(ChangeLog.total(db)).as("a one-time password's insert, update and delete").isEqualTo(before);

        UUID invitation = fixtures.inviteToTeam(tenancy, team, "invitee@example.com");
        db.update("UPDATE \"VerificationCode\" SET \"expiresAt\" = \"expiresAt\" + interval '1 day' WHERE \"id\" = ?",
                invitation);
        fixtures.deleteVerificationCode(tenancy, invitation);
        assertThat(ChangeLog.keys(db, tenancy.id(), "VerificationCode_TEAM_INVITATION"))
                .containsExactly(ChangeLog.key("id", invitation), ChangeLog.key("id", invitation),
                        ChangeLog.key("id", invitation));
    }

    @Test
    void anInvitationsEntryCarriesTheTenancyOfItsProjectAndBranch() {
        Tenancy main = fixtures.createTenancy();
        UUID devTenancy = UUID.randomUUID();
        db.update("""
                INSERT INTO "Tenancy" ("id", "updatedAt", "projectId", "branchId", "hasNoOrganization")
                VALUES (?, now(), ?, 'dev', 'TRUE')""", devTenancy, main.projectId());
        Tenancy dev = new Tenancy(devTenancy, main.projectId(), "dev");
        UUID team = fixtures.createTeam(dev, "Dev team");

        UUID invitation = fixtures.inviteToTeam(dev, team, "dev@example.com");

        assertThat(ChangeLog.keys(db, devTenancy, "VerificationCode_TEAM_INVITATION"))
                .containsExactly(ChangeLog.key("id", invitation));
        assertThat(ChangeLog.keys(db, main.id(), "VerificationCode_TEAM_INVITATION")).isEmpty();
    }

    @Test
    void aDeletedRefreshTokenAndAnUpdatedEmailWriteTheirKeysOnly() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Session owner", null);
        UUID token = fixtures.createRefreshToken(tenancy, user);
        UUID email = fixtures.createEmail(tenancy, "welcome");

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> {
            db.update("UPDATE \"EmailOutbox\" SET \"isPaused\" = true WHERE \"id\" = ?", email);
            fixtures.deleteSessionsOf(tenancy, user);
        });

        assertThat(written).containsExactly(entry("EmailOutbox", "id", email),
                entry("ProjectUserRefreshToken", "tenancyId", tenancy.id(), "id", token));
        assertThat(db.queryValue("SELECT \"status\"::text FROM \"EmailOutbox\" WHERE \"id\" = ?", email)).isEqualTo("PAUSED");
        assertThat(db.queryLong("SELECT count(*) FROM \"DeletedRow\" WHERE \"tenancyId\" = ?", tenancy.id()))
                .as("the session's token is kept nowhere").isZero();
    }
}
