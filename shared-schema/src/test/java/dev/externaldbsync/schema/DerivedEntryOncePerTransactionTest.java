package dev.externaldbsync.schema;

import static dev.externaldbsync.schema.ChangeLog.entry;
import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.schema.ChangeLog.Entry;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * db/sync V64: a primary channel written in the transaction that wrote its user adds no second user entry; any other
 * primary channel still writes its owner's entry.
 */
class DerivedEntryOncePerTransactionTest {

    private static TestDatabase db;
    private static StackAuthFixtures fixtures;

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("derived_once");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        fixtures = new StackAuthFixtures(db);
    }

    @Test
    void aUserAndItsPrimaryEmailWrittenInOneTransactionLeaveOneUserEntry() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = UUID.randomUUID();
        UUID channel = UUID.randomUUID();

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> inOneTransaction(c -> {
            insertUser(c, tenancy, user);
            insertPrimaryEmail(c, tenancy, user, channel);
        }));

        assertThat(written).containsExactly(userEntry(tenancy, user), channelEntry(tenancy, user, channel));
    }

    @Test
    void aPrimaryEmailAddedInALaterTransactionWritesItsUserBesideTheUsersStillUnstampedEntry() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = UUID.randomUUID();
        UUID channel = UUID.randomUUID();

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> {
            inOneTransaction(c -> insertUser(c, tenancy, user));
            inOneTransaction(c -> insertPrimaryEmail(c, tenancy, user, channel));
        });

        assertThat(written).as("the first entry may be stamped before the channel commits")
                .containsExactly(userEntry(tenancy, user), channelEntry(tenancy, user, channel), userEntry(tenancy, user));
    }

    @Test
    void aUserWrittenInsideASavepointStillGetsItsDerivedEntry() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = UUID.randomUUID();
        UUID channel = UUID.randomUUID();

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> inOneTransaction(c -> {
            try (Statement st = c.createStatement()) {
                st.execute("SAVEPOINT user_written");
                insertUser(c, tenancy, user);
                st.execute("RELEASE SAVEPOINT user_written");
            }
            insertPrimaryEmail(c, tenancy, user, channel);
        }));

        assertThat(written).as("the user's entry carries the savepoint's id, not the transaction's")
                .containsExactly(userEntry(tenancy, user), channelEntry(tenancy, user, channel), userEntry(tenancy, user));
    }

    @Test
    void aBulkImportOfUsersAndTheirPrimaryEmailsInOneTransactionWritesOneEntryPerRow() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        int users = 500;

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> inOneTransaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                               "updatedAt")
                    SELECT ?, md5(?::text || n)::uuid, ?, 'main', now() FROM generate_series(1, ?) n""")) {
                ps.setObject(1, tenancy.id());
                ps.setObject(2, tenancy.id());
                ps.setString(3, tenancy.projectId());
                ps.setInt(4, users);
                ps.executeUpdate();
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                                                  "isVerified", "value", "usedForAuth")
                    SELECT "tenancyId", "projectUserId", gen_random_uuid(), now(), 'EMAIL', 'TRUE', true,
                           "projectUserId" || '@example.com', 'TRUE'
                    FROM "ProjectUser" WHERE "tenancyId" = ?""")) {
                ps.setObject(1, tenancy.id());
                ps.executeUpdate();
            }
        }));

        assertThat(written.stream().filter(e -> e.tableName().equals("ProjectUser")).count()).isEqualTo(users);
        assertThat(written.stream().filter(e -> e.tableName().equals("ContactChannel")).count()).isEqualTo(users);
    }

    @Test
    void deletingAUserWithItsPrimaryEmailStillWritesTheUserAndTheChannel() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = UUID.randomUUID();
        UUID channel = UUID.randomUUID();
        inOneTransaction(c -> {
            insertUser(c, tenancy, user);
            insertPrimaryEmail(c, tenancy, user, channel);
        });

        List<Entry> written = ChangeLog.written(db, tenancy.id(), () -> inOneTransaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM \"ProjectUser\" WHERE \"projectUserId\" = ?")) {
                ps.setObject(1, user);
                ps.executeUpdate();
            }
        }));

        assertThat(written).contains(userEntry(tenancy, user), channelEntry(tenancy, user, channel));
    }

    @Test
    void theCaptureFunctionStillRunsAsItsOwnerWithItsPinnedSettings() {
        List<List<Object>> attributes = db.queryRows("""
                SELECT p.prosecdef, array_to_string(p.proconfig, ',') FROM pg_proc p
                WHERE p.proname = 'sync_change_contact_channel_rows'""");

        assertThat(attributes).singleElement().satisfies(row -> {
            assertThat(row.get(0)).isEqualTo(true);
            assertThat((String) row.get(1)).contains("search_path=", "enable_seqscan=off");
        });
    }

    private interface Work {
        void run(Connection c) throws SQLException;
    }

    private static void inOneTransaction(Work work) {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            work.run(c);
            c.commit();
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void insertUser(Connection c, Tenancy tenancy, UUID user) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt") VALUES (?, ?, ?, 'main', now())""")) {
            ps.setObject(1, tenancy.id());
            ps.setObject(2, user);
            ps.setString(3, tenancy.projectId());
            ps.executeUpdate();
        }
    }

    private static void insertPrimaryEmail(Connection c, Tenancy tenancy, UUID user, UUID channel) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                                              "isVerified", "value", "usedForAuth")
                VALUES (?, ?, ?, now(), 'EMAIL', 'TRUE', true, ?, 'TRUE')""")) {
            ps.setObject(1, tenancy.id());
            ps.setObject(2, user);
            ps.setObject(3, channel);
            ps.setString(4, channel + "@example.com");
            ps.executeUpdate();
        }
    }

    private static Entry userEntry(Tenancy tenancy, UUID user) {
        return entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", user);
    }

    private static Entry channelEntry(Tenancy tenancy, UUID user, UUID channel) {
        return entry("ContactChannel", "tenancyId", tenancy.id(), "projectUserId", user, "id", channel);
    }
}
