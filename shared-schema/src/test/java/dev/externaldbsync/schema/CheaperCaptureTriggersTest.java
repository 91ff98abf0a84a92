package dev.externaldbsync.schema;

import static dev.externaldbsync.schema.ChangeLog.entry;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.StringReader;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.PGConnection;

import dev.externaldbsync.schema.ChangeLog.Entry;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * What capture costs a writer (db/sync V60): derived changes are entries, never an UPDATE of another row; INSERT and
 * DELETE are captured once per statement (COPY included); an unmapped update calls no trigger function.
 */
class CheaperCaptureTriggersTest {

    private static TestDatabase db;
    private static StackAuthFixtures fixtures;

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("capture_cost");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        fixtures = new StackAuthFixtures(db);
        // Counts the UPDATE statements that reach "VerificationCode" (a statement trigger fires even for zero rows).
        db.execute("CREATE TABLE invitation_updates (n int)",
                """
                CREATE FUNCTION count_invitation_update() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN INSERT INTO invitation_updates VALUES (1); RETURN NULL; END $$""",
                """
                CREATE TRIGGER count_invitation_update AFTER UPDATE ON "VerificationCode" FOR EACH STATEMENT
                EXECUTE FUNCTION count_invitation_update()""");
    }

    @Test
    void aSignUpInOneTransactionWritesItsEntriesWithoutRewritingTheUser() throws SQLException {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = UUID.randomUUID();
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            insertUser(c, tenancy, user);
            insertPrimaryEmail(c, tenancy, user, "signup@example.com");
            assertThat(updatesThisTransaction(c, "ProjectUser")).as("user rows rewritten by the channel trigger").isZero();
            c.commit();
        }
        assertThat(ChangeLog.entries(db, tenancy.id())).extracting(Entry::tableName)
                .as("the user's own entry covers the primary email's (V64)")
                .containsExactlyInAnyOrder("ProjectUser", "ContactChannel");
    }

    @Test
    void aUserRenamedAndGivenAnEmailInOneTransactionIsRewrittenOnlyByItsWriter() throws SQLException {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Before", null);
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
        assertThat(ChangeLog.keys(db, tenancy.id(), "ProjectUser")).as("insert, rename (which covers the email, V64)")
                .hasSize(2);
    }

    @Test
    void renamingATeamWithAnInvitationWritesItsEntryWithoutUpdatingTheInvitation() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID team = fixtures.createTeam(tenancy, "Old");
        UUID invitation = fixtures.inviteToTeam(tenancy, team, "invitee@example.com");
        long before = invitationUpdates();

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> fixtures.renameTeam(tenancy, team, "New"));

        assertThat(written).contains(entry("VerificationCode_TEAM_INVITATION", "id", invitation));
        assertThat(invitationUpdates()).isEqualTo(before);
    }

    @Test
    void reCreatingADeletedTeamWritesAnEntryForItsOrphanedInvitation() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID team = fixtures.createTeam(tenancy, "Phoenix");
        UUID invitation = fixtures.inviteToTeam(tenancy, team, "phoenix@example.com");
        fixtures.deleteTeam(tenancy, team);

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> db.update("""
                INSERT INTO "Team" ("tenancyId", "teamId", "mirroredProjectId", "mirroredBranchId", "updatedAt", "displayName")
                VALUES (?, ?, ?, ?, now(), 'Phoenix again')""", tenancy.id(), team, tenancy.projectId(), tenancy.branchId()));

        assertThat(written).containsExactlyInAnyOrder(entry("Team", "tenancyId", tenancy.id(), "teamId", team),
                entry("VerificationCode_TEAM_INVITATION", "id", invitation));
    }

    @Test
    void aMultiRowInsertWritesOneEntryPerRowFromOneTriggerCall() throws SQLException {
        Tenancy tenancy = fixtures.createTenancy();
        int rows = 250;
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.execute("SET LOCAL track_functions = 'pl'");
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                               "updatedAt", "displayName")
                    SELECT ?, gen_random_uuid(), ?, 'main', now(), 'bulk ' || n FROM generate_series(1, ?) AS n""")) {
                ps.setObject(1, tenancy.id());
                ps.setString(2, tenancy.projectId());
                ps.setInt(3, rows);
                assertThat(ps.executeUpdate()).isEqualTo(rows);
            }
            assertThat(callsThisTransaction(c, "sync_change_ProjectUser_rows")).as("statement-level").isEqualTo(1);

            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE \"ProjectUser\" SET \"lastActiveAt\" = now() + interval '1 hour' WHERE \"tenancyId\" = ?")) {
                ps.setObject(1, tenancy.id());
                assertThat(ps.executeUpdate()).isEqualTo(rows);
            }
            assertThat(callsThisTransaction(c, "sync_change_ProjectUser_update")).as("an unmapped update").isZero();

            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE "ProjectUser" SET "displayName" = 'renamed'
                    WHERE "tenancyId" = ? AND "displayName" = 'bulk 1'""")) {
                ps.setObject(1, tenancy.id());
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
            assertThat(callsThisTransaction(c, "sync_change_ProjectUser_update")).as("a mapped update").isEqualTo(1);
            c.commit();
        }
        assertThat(ChangeLog.keys(db, tenancy.id(), "ProjectUser")).hasSize(rows + 1);
        assertThat(ChangeLog.keys(db, tenancy.id(), "ProjectUser").stream().distinct()).hasSize(rows);
        assertThat(db.queryLong("""
                SELECT count(*) FROM "SyncChange" s JOIN "ProjectUser" u
                  ON u."tenancyId" = s."tenancyId" AND u."projectUserId" = (s."primaryKey" ->> 'projectUserId')::uuid
                WHERE s."tenancyId" = ? AND s."tableName" = 'ProjectUser' AND s."sequenceId" IS NULL""", tenancy.id()))
                .as("every entry names an inserted user, unstamped").isEqualTo(rows + 1);
    }

    @Test
    void aMultiRowDeleteWritesOneEntryPerRow() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Granted", null);
        for (int i = 0; i < 20; i++) {
            fixtures.grantProjectPermission(tenancy, user, "perm_" + i);
        }

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> db.update(
                "DELETE FROM \"ProjectUserDirectPermission\" WHERE \"tenancyId\" = ?", tenancy.id()));

        assertThat(written).hasSize(20).extracting(e -> e.key().get("permissionId")).doesNotHaveDuplicates()
                .allMatch(p -> p.startsWith("perm_"));
    }

    @Test
    void aCopyIntoProjectUserWritesAnEntryPerRow() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        StringBuilder csv = new StringBuilder();
        int rows = 100;
        for (int i = 0; i < rows; i++) {
            csv.append(tenancy.id()).append(',').append(UUID.randomUUID()).append(',').append(tenancy.projectId())
                    .append(",main,2026-01-01 00:00:00,copied ").append(i).append('\n');
        }
        try (Connection c = db.connect()) {
            long copied = c.unwrap(PGConnection.class).getCopyAPI().copyIn("""
                    COPY "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId", "updatedAt",
                                        "displayName") FROM STDIN WITH (FORMAT csv)""", new StringReader(csv.toString()));
            assertThat(copied).isEqualTo(rows);
        }

        assertThat(ChangeLog.keys(db, tenancy.id(), "ProjectUser")).hasSize(rows).doesNotHaveDuplicates();
    }

    @Test
    void anUpsertCapturesItsInsertAndItsUpdate() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Prefers", null);
        UUID category = UUID.randomUUID();

        UUID preference = fixtures.setNotificationPreference(tenancy, user, category, true);
        fixtures.setNotificationPreference(tenancy, user, category, false);
        fixtures.setNotificationPreference(tenancy, user, category, false); // changes nothing

        assertThat(ChangeLog.keys(db, tenancy.id(), "UserNotificationPreference"))
                .containsExactly(ChangeLog.key("tenancyId", tenancy.id(), "id", preference),
                        ChangeLog.key("tenancyId", tenancy.id(), "id", preference));
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

    /** Calls of a PL/pgSQL function in this transaction so far (needs track_functions; NULL, read 0, when none). */
    private static long callsThisTransaction(Connection c, String function) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_stat_get_xact_function_calls(?::regproc)")) {
            ps.setString(1, "\"" + function + "\"");
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private static long invitationUpdates() {
        return db.queryLong("SELECT count(*) FROM invitation_updates");
    }
}
