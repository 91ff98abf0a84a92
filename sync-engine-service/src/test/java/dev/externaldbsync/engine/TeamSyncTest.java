package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.assertMirrors;
import static dev.externaldbsync.engine.EngineTestSupport.row;
import static dev.externaldbsync.engine.EngineTestSupport.rows;
import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;

/**
 * Teams, memberships, team permissions and invitations reach the target exactly (mission §12, second paragraph),
 * through signed POST /api/v1/sync calls, including the deletes the internal database cascades.
 */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class TeamSyncTest {

    @InjectTestDatabase
    TestDatabase internal;

    StackAuthFixtures fixtures;
    Tenancy tenancy;
    TestDatabase target;

    @BeforeEach
    void tenancyWithTarget() {
        fixtures = new StackAuthFixtures(internal);
        tenancy = fixtures.createTenancy();
        target = TestPostgres.createDatabase("teams");
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
    }

    /** The newest stamp of an invitation's change-log entries. */
    private long invitationStamp(UUID invitation) {
        return internal.queryLong("""
                SELECT max("sequenceId") FROM "SyncChange"
                WHERE "tableName" = 'VerificationCode_TEAM_INVITATION' AND "primaryKey" ->> 'id' = ?""",
                invitation.toString());
    }

    private JsonPath stampAndSync() {
        stamp(internal);
        JsonPath result = sync(tenancy.id());
        assertThat(result.getString("results[0].outcome")).as(result.prettify()).isEqualTo("SYNCED");
        assertThat(result.getString("results[0].targets[0].outcome")).as(result.prettify()).isEqualTo("SYNCED");
        return result;
    }

    private String internalText(String sql, Object... params) {
        return String.valueOf(internal.queryValue(sql, params));
    }

    private String team(UUID team) {
        return row(target, """
                SELECT id::text, display_name, profile_image_url, created_at::text, client_metadata::text,
                       client_read_only_metadata::text, server_metadata::text FROM teams WHERE id = ?""", team);
    }

    private String teamCreatedAt(UUID team) {
        return internalText("SELECT \"createdAt\"::text FROM \"Team\" WHERE \"teamId\" = ?", team);
    }

    private String memberCreatedAt(UUID team, UUID user) {
        return internalText("SELECT \"createdAt\"::text FROM \"TeamMember\" WHERE \"teamId\" = ? AND \"projectUserId\" = ?",
                team, user);
    }

    @Test
    void teamsMembershipsPermissionsAndInvitationsReachTheTargetWithEveryColumn() {
        UUID ada = fixtures.createUser(tenancy, "Ada", "ada@example.com");
        UUID crew = fixtures.createTeam(tenancy, "Crew");
        internal.update("""
                UPDATE "Team" SET "profileImageUrl" = 'https://img.example/crew.png',
                       "clientReadOnlyMetadata" = '{"ro": 1}', "serverMetadata" = '{"secret": "no"}'
                WHERE "teamId" = ?""", crew);
        fixtures.addMember(tenancy, crew, ada, "Captain Ada");
        fixtures.grantTeamPermission(tenancy, crew, ada, "$admin");
        UUID invitation = fixtures.inviteToTeam(tenancy, crew, "new@example.com");

        JsonPath result = stampAndSync();

        assertThat(result.getInt("results[0].targets[0].appliedRows.teams")).isEqualTo(1);
        assertThat(result.getInt("results[0].targets[0].appliedRows.team_invitations")).isEqualTo(1);
        assertThat(team(crew)).isEqualTo(crew + "|Crew|https://img.example/crew.png|" + teamCreatedAt(crew)
                + "|{\"tier\": \"gold\"}|{\"ro\": 1}|{\"secret\": \"no\"}");
        assertThat(row(target, """
                SELECT team_id::text, user_id::text, display_name, profile_image_url, created_at::text
                FROM team_member_profiles""")).isEqualTo(crew + "|" + ada + "|Captain Ada|null|"
                        + memberCreatedAt(crew, ada));
        assertThat(row(target, "SELECT team_id::text, user_id::text, permission_id, created_at::text FROM team_permissions"))
                .isEqualTo(crew + "|" + ada + "|$admin|" + internalText(
                        "SELECT \"createdAt\"::text FROM \"TeamMemberDirectPermission\" WHERE \"teamId\" = ?", crew));
        long expiresMillis = internal.queryLong("""
                SELECT (EXTRACT(EPOCH FROM ("expiresAt" AT TIME ZONE 'UTC')) * 1000)::bigint FROM "VerificationCode"
                WHERE "id" = ?""", invitation);
        assertThat(row(target, """
                SELECT id::text, team_id::text, team_display_name, recipient_email, expires_at_millis::text,
                       created_at::text FROM team_invitations""")).isEqualTo(invitation + "|" + crew
                        + "|Crew|new@example.com|" + expiresMillis + "|" + internalText(
                                "SELECT \"createdAt\"::text FROM \"VerificationCode\" WHERE \"id\" = ?", invitation));

        // Updates: team fields, the member's own display name and image, the invitation's recipient and expiry.
        internal.update("""
                UPDATE "Team" SET "displayName" = 'Crew Two', "profileImageUrl" = NULL, "clientMetadata" = NULL,
                       "updatedAt" = now() WHERE "teamId" = ?""", crew);
        internal.update("""
                UPDATE "TeamMember" SET "displayName" = NULL, "profileImageUrl" = 'https://img.example/ada.png'
                WHERE "teamId" = ?""", crew);
        internal.update("""
                UPDATE "VerificationCode" SET "method" = '{"email": "other@example.com"}',
                       "expiresAt" = '2030-01-02 03:04:05.678' WHERE "id" = ?""", invitation);
        stampAndSync();

        assertThat(team(crew)).isEqualTo(crew + "|Crew Two|null|" + teamCreatedAt(crew)
                + "|{}|{\"ro\": 1}|{\"secret\": \"no\"}");
        assertThat(row(target, "SELECT display_name, profile_image_url FROM team_member_profiles"))
                .isEqualTo("null|https://img.example/ada.png");
        assertThat(row(target, "SELECT team_display_name, recipient_email, expires_at_millis::text FROM team_invitations"))
                .isEqualTo("Crew Two|other@example.com|1893553445678");
        assertMirrors(internal, tenancy.id(), target);

        // Deletes, one at a time.
        fixtures.revokeTeamPermission(tenancy, crew, ada, "$admin");
        fixtures.deleteVerificationCode(tenancy, invitation);
        stampAndSync();
        assertThat(target.queryLong("SELECT count(*) FROM team_permissions")).isZero();
        assertThat(target.queryLong("SELECT count(*) FROM team_invitations")).isZero();
        assertThat(target.queryLong("SELECT count(*) FROM team_member_profiles")).isOne();

        fixtures.removeMember(tenancy, crew, ada);
        stampAndSync();
        assertThat(target.queryLong("SELECT count(*) FROM team_member_profiles")).isZero();

        fixtures.deleteTeam(tenancy, crew);
        stampAndSync();
        assertThat(target.queryLong("SELECT count(*) FROM teams")).isZero();
        assertMirrors(internal, tenancy.id(), target);
    }

    @Test
    void deletingATeamRemovesItsMembershipsPermissionsAndInvitationsButNoOtherTeams() {
        UUID ada = fixtures.createUser(tenancy, "Ada", null);
        UUID bob = fixtures.createUser(tenancy, "Bob", null);
        UUID doomed = fixtures.createTeam(tenancy, "Doomed");
        UUID kept = fixtures.createTeam(tenancy, "Kept");
        for (UUID team : new UUID[] {doomed, kept}) {
            fixtures.addMember(tenancy, team, ada, null);
            fixtures.addMember(tenancy, team, bob, null);
            fixtures.grantTeamPermission(tenancy, team, ada, "read");
            fixtures.grantTeamPermission(tenancy, team, bob, "write");
            fixtures.inviteToTeam(tenancy, team, "invitee@example.com");
        }
        stampAndSync();
        assertThat(target.queryLong("SELECT count(*) FROM team_member_profiles")).isEqualTo(4);
        assertThat(target.queryLong("SELECT count(*) FROM team_invitations")).isEqualTo(2);

        // The foreign keys cascade to memberships and permissions; the invitations (no FK) stay in the internal
        // database, but their team is gone, so they leave the target.
        fixtures.deleteTeam(tenancy, doomed);
        JsonPath result = stampAndSync();

        assertThat(result.getInt("results[0].targets[0].appliedRows.team_invitations")).isOne();
        assertThat(rows(target, "SELECT id::text FROM teams")).containsExactly(kept.toString());
        assertThat(rows(target, "SELECT DISTINCT team_id::text FROM team_member_profiles")).containsExactly(kept.toString());
        assertThat(rows(target, "SELECT DISTINCT team_id::text FROM team_permissions")).containsExactly(kept.toString());
        assertThat(rows(target, "SELECT team_id::text || ' ' || team_display_name FROM team_invitations"))
                .containsExactly(kept + " Kept");
        assertThat(internal.queryLong("""
                SELECT count(*) FROM "VerificationCode" WHERE "data" ->> 'team_id' = ?""", doomed.toString()))
                .as("the invitation row itself survives internally").isOne();
        assertMirrors(internal, tenancy.id(), target);
    }

    @Test
    void renamingATeamUpdatesOnlyItsOwnInvitations() {
        UUID red = fixtures.createTeam(tenancy, "Red");
        UUID blue = fixtures.createTeam(tenancy, "Blue");
        UUID toRed = fixtures.inviteToTeam(tenancy, red, "r@example.com");
        UUID toBlue = fixtures.inviteToTeam(tenancy, blue, "b@example.com");
        stampAndSync();
        long blueStamp = invitationStamp(toBlue);

        fixtures.renameTeam(tenancy, red, "Crimson");
        JsonPath result = stampAndSync();

        assertThat(result.getInt("results[0].targets[0].appliedRows.team_invitations")).isOne();
        assertThat(rows(target, "SELECT id::text || ' ' || team_display_name FROM team_invitations ORDER BY team_display_name"))
                .containsExactly(toBlue + " Blue", toRed + " Crimson");
        assertThat(invitationStamp(toBlue)).as("the other team's invitation has no new entry").isEqualTo(blueStamp);
    }

    @Test
    void anInvitationToAMissingTeamNeverFailsTheTargetAndAppearsOnceTheTeamExists() {
        UUID later = UUID.randomUUID();
        UUID orphan = fixtures.inviteToTeam(tenancy, later, "early@example.com");
        fixtures.createUser(tenancy, "Someone", null);

        JsonPath result = stampAndSync();

        assertThat(result.getBoolean("results[0].retry")).isFalse();
        assertThat(target.queryLong("SELECT count(*) FROM team_invitations")).isZero();
        assertThat(target.queryLong("SELECT count(*) FROM users")).isOne();
        assertThat(target.queryLong("""
                SELECT last_synced_sequence_id FROM _stack_sync_metadata WHERE mapping_name = 'team_invitations'"""))
                .as("the cursor moved past it").isEqualTo(invitationStamp(orphan));

        // Creating the team (same id) re-marks the invitation, which now appears with the team's name.
        internal.update("""
                INSERT INTO "Team" ("tenancyId", "teamId", "mirroredProjectId", "mirroredBranchId", "updatedAt", "displayName")
                VALUES (?, ?, ?, ?, now(), 'Late team')""", tenancy.id(), later, tenancy.projectId(), tenancy.branchId());
        stampAndSync();
        assertThat(rows(target, "SELECT id::text || ' ' || team_display_name FROM team_invitations"))
                .containsExactly(orphan + " Late team");
        assertMirrors(internal, tenancy.id(), target);
    }

    @Test
    void removeAndReAddOfAMembershipOrPermissionWithinOneWindowEndsPresent() {
        UUID ada = fixtures.createUser(tenancy, "Ada", null);
        UUID crew = fixtures.createTeam(tenancy, "Crew");
        fixtures.addMember(tenancy, crew, ada, "first");
        fixtures.grantTeamPermission(tenancy, crew, ada, "read");
        fixtures.grantProjectPermission(tenancy, ada, "admin");
        stampAndSync();

        // Within one window (no stamp in between): remove everything and add it back (new permission row ids).
        fixtures.removeMember(tenancy, crew, ada);
        fixtures.revokeProjectPermission(tenancy, ada, "admin");
        fixtures.addMember(tenancy, crew, ada, "second");
        fixtures.grantTeamPermission(tenancy, crew, ada, "read");
        fixtures.grantProjectPermission(tenancy, ada, "admin");
        stampAndSync();

        assertThat(rows(target, "SELECT user_id::text || ' ' || display_name FROM team_member_profiles"))
                .containsExactly(ada + " second");
        assertThat(rows(target, "SELECT permission_id FROM team_permissions")).containsExactly("read");
        assertThat(rows(target, "SELECT permission_id FROM project_permissions")).containsExactly("admin");

        // And the other way round: add then remove within one window ends absent.
        fixtures.revokeTeamPermission(tenancy, crew, ada, "read");
        fixtures.grantTeamPermission(tenancy, crew, ada, "read");
        fixtures.revokeTeamPermission(tenancy, crew, ada, "read");
        stampAndSync();
        assertThat(target.queryLong("SELECT count(*) FROM team_permissions")).isZero();
        assertMirrors(internal, tenancy.id(), target);
    }
}
