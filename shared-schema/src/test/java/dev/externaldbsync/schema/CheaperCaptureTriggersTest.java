package dev.externaldbsync.schema;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * db/sync V42: the derived-row marks skip only work that cannot matter (an owner row this transaction wrote and
 * marked; a team without invitations), and still mark in every other case. The race with a concurrent stamp is
 * covered by {@link CaptureTriggersTest#aPrimaryEmailAddedWhileTheSequencerStampsItsUserMarksTheUserAgainAfterTheStamp}.
 */
class CheaperCaptureTriggersTest {

    private static TestDatabase db;
    private static StackAuthFixtures fixtures;

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("capture_v42");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        fixtures = new StackAuthFixtures(db);
        // Counts the UPDATE statements that reach "VerificationCode" (a statement trigger fires even for zero rows).
        db.execute("CREATE TABLE v42_invitation_updates (n int)",
                """
                CREATE FUNCTION v42_count_invitation_update() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN INSERT INTO v42_invitation_updates VALUES (1); RETURN NULL; END $$""",
                """
                CREATE TRIGGER v42_count AFTER UPDATE ON "VerificationCode" FOR EACH STATEMENT
                EXECUTE FUNCTION v42_count_invitation_update()""");
    }

    @Test
    void aSignUpInOneTransactionMarksItsUserWithoutRewritingIt() throws SQLException {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = UUID.randomUUID();
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            insertUser(c, tenancy, user);
            insertPrimaryEmail(c, tenancy, user, "signup@example.com");
            assertThat(updatesThisTransaction(c, "ProjectUser")).as("owner rows rewritten by the channel trigger").isZero();
            c.commit();
        }
        assertThat(userMarked(user)).isTrue();
    }

    @Test
    void aPrimaryEmailAddedToAStampedUserMarksIt() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Stamped", null);
        stampUsers();
        assertThat(userMarked(user)).isFalse();

        fixtures.addEmail(tenancy, user, "later@example.com", true);

        assertThat(userMarked(user)).isTrue();
    }

    @Test
    void aUserRenamedAndGivenAnEmailInOneTransactionIsMarkedOnce() throws SQLException {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Before", null);
        stampUsers();
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE \"ProjectUser\" SET \"displayName\" = 'After' WHERE \"projectUserId\" = ?")) {
                ps.setObject(1, user);
                ps.executeUpdate();
            }
            insertPrimaryEmail(c, tenancy, user, "after@example.com");
            assertThat(updatesThisTransaction(c, "ProjectUser")).as("only the writer's own update").isEqualTo(1);
            c.commit();
        }
        assertThat(userMarked(user)).isTrue();
    }

    @Test
    void anEmailAddedInASavepointAfterTheUserStillMarksTheUser() throws SQLException {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Saved", null);
        stampUsers();
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            // The user row is rewritten inside a savepoint (another xid): the owner mark must take the UPDATE path.
            c.setSavepoint();
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE \"ProjectUser\" SET \"shouldUpdateSequenceId\" = false WHERE \"projectUserId\" = ?")) {
                ps.setObject(1, user);
                ps.executeUpdate();
            }
            insertPrimaryEmail(c, tenancy, user, "saved@example.com");
            c.commit();
        }
        assertThat(userMarked(user)).isTrue();
    }

    @Test
    void creatingATeamWithoutInvitationsLeavesVerificationCodesAlone() {
        Tenancy tenancy = fixtures.createTenancy();
        long before = invitationUpdates();

        UUID team = fixtures.createTeam(tenancy, "Quiet team");
        fixtures.renameTeam(tenancy, team, "Still quiet");

        assertThat(invitationUpdates()).isEqualTo(before);
    }

    @Test
    void renamingATeamWithAnInvitationStillMarksIt() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID team = fixtures.createTeam(tenancy, "Old");
        UUID invitation = fixtures.inviteToTeam(tenancy, team, "invitee@example.com");
        stampInvitations();
        long before = invitationUpdates();

        fixtures.renameTeam(tenancy, team, "New");

        assertThat(invitationUpdates()).isEqualTo(before + 1);
        assertThat(invitationMarked(invitation)).isTrue();
    }

    @Test
    void reCreatingADeletedTeamMarksItsOrphanedInvitation() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID team = fixtures.createTeam(tenancy, "Phoenix");
        UUID invitation = fixtures.inviteToTeam(tenancy, team, "phoenix@example.com");
        fixtures.deleteTeam(tenancy, team);
        stampInvitations();
        assertThat(invitationMarked(invitation)).isFalse();

        db.update("""
                INSERT INTO "Team" ("tenancyId", "teamId", "mirroredProjectId", "mirroredBranchId", "updatedAt", "displayName")
                VALUES (?, ?, ?, ?, now(), 'Phoenix again')""", tenancy.id(), team, tenancy.projectId(), tenancy.branchId());

        assertThat(invitationMarked(invitation)).isTrue();
    }

    private static void insertUser(Connection c, Tenancy tenancy, UUID user) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId", "updatedAt")
                VALUES (?, ?, ?, 'main', now())""")) {
            ps.setObject(1, tenancy.id());
            ps.setObject(2, user);
            ps.setString(3, tenancy.projectId());
            ps.executeUpdate();
        }
    }

    private static void insertPrimaryEmail(Connection c, Tenancy tenancy, UUID user, String email) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                                              "isVerified", "value", "usedForAuth")
                VALUES (?, ?, gen_random_uuid(), now(), 'EMAIL', 'TRUE', false, ?, 'TRUE')""")) {
            ps.setObject(1, tenancy.id());
            ps.setObject(2, user);
            ps.setString(3, email);
            ps.executeUpdate();
        }
    }

    /** Row updates this transaction made to {@code table} so far (PostgreSQL's per-transaction statistics). */
    private static long updatesThisTransaction(Connection c, String table) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_stat_get_xact_tuples_updated(?::regclass)")) {
            ps.setString(1, "\"" + table + "\"");
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private static void stampUsers() {
        db.update("""
                UPDATE "ProjectUser" SET "sequenceId" = nextval('global_seq_id'), "shouldUpdateSequenceId" = false
                WHERE "shouldUpdateSequenceId\"""");
    }

    private static void stampInvitations() {
        db.update("""
                UPDATE "VerificationCode" SET "sequenceId" = nextval('global_seq_id'), "shouldUpdateSequenceId" = false
                WHERE "shouldUpdateSequenceId\"""");
    }

    private static boolean userMarked(UUID user) {
        return (Boolean) db.queryValue("SELECT \"shouldUpdateSequenceId\" FROM \"ProjectUser\" WHERE \"projectUserId\" = ?", user);
    }

    private static boolean invitationMarked(UUID invitation) {
        return (Boolean) db.queryValue("SELECT \"shouldUpdateSequenceId\" FROM \"VerificationCode\" WHERE \"id\" = ?", invitation);
    }

    private static long invitationUpdates() {
        return db.queryLong("SELECT count(*) FROM v42_invitation_updates");
    }
}
