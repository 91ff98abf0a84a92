package dev.externaldbsync.schema;

import static dev.externaldbsync.schema.ChangeLog.entry;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

import dev.externaldbsync.schema.ChangeLog.Entry;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * db/sync V60: users and contact channels write change-log entries ("SyncChange"), never a mark on a row; the primary
 * email → user derivation; what writers no longer do (NOTIFY, wait for a stamping transaction); the request queue.
 */
class CaptureTriggersTest {

    private static TestDatabase db;
    private static StackAuthFixtures fixtures;

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("capture");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        fixtures = new StackAuthFixtures(db);
    }

    @Test
    void anInsertWritesOneUnstampedEntryEvenWhenTheWriterCopiesAnOldStamp() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = UUID.randomUUID();
        db.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                    "updatedAt", "sequenceId", "shouldUpdateSequenceId") VALUES (?, ?, ?, 'main', now(), 42, false)""",
                tenancy.id(), user, tenancy.projectId());

        assertThat(ChangeLog.entries(db, tenancy.id()))
                .containsExactly(entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", user));
        assertThat(db.queryRows("""
                SELECT "sequenceId", "shouldUpdateSequenceId" FROM "ProjectUser" WHERE "projectUserId" = ?""", user))
                .as("the writer's own values are left as written").containsExactly(Arrays.asList(42L, false));
    }

    @Test
    void aMappedUpdateWritesAnEntryAndNeverStampsOrMarksTheRow() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Ada", null);

        fixtures.renameUser(tenancy, user, "Ada Lovelace");

        assertThat(ChangeLog.entries(db, tenancy.id())).containsExactly(
                entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", user),
                entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", user));
        assertThat(db.queryRows("""
                SELECT "sequenceId", "shouldUpdateSequenceId" FROM "ProjectUser" WHERE "projectUserId" = ?""", user))
                .containsExactly(Arrays.asList(null, false));
    }

    @Test
    void anUpdateThatChangesNothingWritesNoEntry() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Same", null);

        db.update("UPDATE \"ProjectUser\" SET \"displayName\" = 'Same' WHERE \"projectUserId\" = ?", user);

        assertThat(ChangeLog.entries(db, tenancy.id())).hasSize(1);
    }

    @Test
    void aRolledBackTransactionLeavesNoEntry() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Before", null);
        List<Entry> before = ChangeLog.entries(db, tenancy.id());

        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE \"ProjectUser\" SET \"displayName\" = 'Rolled back' WHERE \"projectUserId\" = ?")) {
                ps.setObject(1, user);
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                                                  "isVerified", "value", "usedForAuth")
                    VALUES (?, ?, gen_random_uuid(), now(), 'EMAIL', 'TRUE', true, 'gone@example.com', 'TRUE')""")) {
                ps.setObject(1, tenancy.id());
                ps.setObject(2, user);
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
            c.rollback();
        }

        assertThat(ChangeLog.entries(db, tenancy.id())).isEqualTo(before);
        assertThat(db.queryValue("SELECT \"displayName\" FROM \"ProjectUser\" WHERE \"projectUserId\" = ?", user))
                .isEqualTo("Before");
    }

    @Test
    void aDeleteWritesOneEntryPerRowWithStackKeyNamesAndKeepsNothingOfTheRow() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Grace", "grace@example.com");
        UUID channel = (UUID) db.queryValue("SELECT \"id\" FROM \"ContactChannel\" WHERE \"projectUserId\" = ?", user);
        int before = ChangeLog.entries(db, tenancy.id()).size();

        fixtures.deleteUser(tenancy, user); // cascades to the contact channel

        List<Entry> written = ChangeLog.entries(db, tenancy.id()).subList(before, before + 3);
        assertThat(written).containsExactlyInAnyOrder(
                entry("ContactChannel", "tenancyId", tenancy.id(), "projectUserId", user, "id", channel),
                // the channel was the user's primary email: its delete writes the user too
                entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", user),
                entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", user));
        assertThat(ChangeLog.entries(db, tenancy.id())).hasSize(before + 3);
        assertThat(db.queryLong("SELECT count(*) FROM \"DeletedRow\" WHERE \"tenancyId\" = ?", tenancy.id()))
                .as("no tombstone with the deleted user's data").isZero();
    }

    @Test
    void aKeyChangeWritesTheOldAndTheNewKeyAlsoForTheRowsItCascadesTo() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Renumbered", "renumbered@example.com");
        UUID channel = (UUID) db.queryValue("SELECT \"id\" FROM \"ContactChannel\" WHERE \"projectUserId\" = ?", user);
        int before = ChangeLog.entries(db, tenancy.id()).size();
        UUID newId = UUID.randomUUID();

        db.update("UPDATE \"ProjectUser\" SET \"projectUserId\" = ? WHERE \"projectUserId\" = ?", newId, user);

        List<Entry> written = ChangeLog.entries(db, tenancy.id());
        assertThat(written.subList(before, written.size())).containsExactlyInAnyOrder(
                entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", newId),
                entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", user),
                // ON UPDATE CASCADE moves the channel: its old and new key, and (primary) its old and new owner
                entry("ContactChannel", "tenancyId", tenancy.id(), "projectUserId", newId, "id", channel),
                entry("ContactChannel", "tenancyId", tenancy.id(), "projectUserId", user, "id", channel),
                entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", newId),
                entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", user));
    }

    @Test
    void aPrimaryEmailInsertWritesTheChannelAndItsUserButASecondaryOneOnlyTheChannel() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Linus", null);
        int before = ChangeLog.entries(db, tenancy.id()).size();

        UUID primary = fixtures.addEmail(tenancy, user, "linus@example.com", true);
        UUID secondary = fixtures.addEmail(tenancy, user, "other@example.com", false);

        List<Entry> written = ChangeLog.entries(db, tenancy.id());
        assertThat(written.subList(before, written.size())).containsExactlyInAnyOrder(
                entry("ContactChannel", "tenancyId", tenancy.id(), "projectUserId", user, "id", primary),
                entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", user),
                entry("ContactChannel", "tenancyId", tenancy.id(), "projectUserId", user, "id", secondary));
    }

    @Test
    void changingThePrimaryEmailsValueOrVerificationWritesItsUser() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Linus", "linus@example.com");
        UUID channel = (UUID) db.queryValue("SELECT \"id\" FROM \"ContactChannel\" WHERE \"projectUserId\" = ?", user);

        assertThat(written(tenancy, () -> db.update(
                "UPDATE \"ContactChannel\" SET \"value\" = 'linus@kernel.org' WHERE \"id\" = ?", channel)))
                .as("value").containsExactlyInAnyOrder(channelEntry(tenancy, user, channel), userEntry(tenancy, user));
        assertThat(written(tenancy, () -> db.update(
                "UPDATE \"ContactChannel\" SET \"isVerified\" = false WHERE \"id\" = ?", channel)))
                .as("isVerified").containsExactlyInAnyOrder(channelEntry(tenancy, user, channel), userEntry(tenancy, user));
        assertThat(written(tenancy, () -> db.update(
                "UPDATE \"ContactChannel\" SET \"usedForAuth\" = NULL WHERE \"id\" = ?", channel)))
                .as("usedForAuth: the channel's own column, not the user's")
                .containsExactly(channelEntry(tenancy, user, channel));
    }

    @Test
    void aSecondaryChannelChangeWritesOnlyTheChannel() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Linus", "linus@example.com");
        UUID secondary = fixtures.addEmail(tenancy, user, "other@example.com", false);

        assertThat(written(tenancy, () -> db.update(
                "UPDATE \"ContactChannel\" SET \"value\" = 'renamed@example.com' WHERE \"id\" = ?", secondary)))
                .containsExactly(channelEntry(tenancy, user, secondary));
    }

    @Test
    void becomingAndStoppingBeingPrimaryWritesTheUser() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Switcher", null);
        UUID channel = fixtures.addEmail(tenancy, user, "switch@example.com", false);

        assertThat(written(tenancy, () -> db.update(
                "UPDATE \"ContactChannel\" SET \"isPrimary\" = 'TRUE' WHERE \"id\" = ?", channel)))
                .as("becoming primary").containsExactlyInAnyOrder(channelEntry(tenancy, user, channel), userEntry(tenancy, user));
        assertThat(written(tenancy, () -> db.update(
                "UPDATE \"ContactChannel\" SET \"isPrimary\" = NULL WHERE \"id\" = ?", channel)))
                .as("stopping being primary").containsExactlyInAnyOrder(channelEntry(tenancy, user, channel), userEntry(tenancy, user));
    }

    @Test
    void aPrimaryChannelMovedToAnotherOwnerWritesTheOldAndTheNewOwner() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID from = fixtures.createUser(tenancy, "From", "moving@example.com");
        UUID to = fixtures.createUser(tenancy, "To", null);
        UUID channel = (UUID) db.queryValue("SELECT \"id\" FROM \"ContactChannel\" WHERE \"projectUserId\" = ?", from);

        assertThat(written(tenancy, () -> db.update(
                "UPDATE \"ContactChannel\" SET \"projectUserId\" = ? WHERE \"id\" = ?", to, channel)))
                .containsExactlyInAnyOrder(channelEntry(tenancy, to, channel), channelEntry(tenancy, from, channel),
                        userEntry(tenancy, to), userEntry(tenancy, from));
    }

    @Test
    void deletingAPrimaryEmailWritesItsUserButDeletingASecondaryOneDoesNot() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Deleter", "primary@example.com");
        UUID primary = (UUID) db.queryValue("""
                SELECT "id" FROM "ContactChannel" WHERE "projectUserId" = ? AND "isPrimary" = 'TRUE'""", user);
        UUID secondary = fixtures.addEmail(tenancy, user, "secondary@example.com", false);

        assertThat(written(tenancy, () -> db.update("DELETE FROM \"ContactChannel\" WHERE \"id\" = ?", secondary)))
                .containsExactly(channelEntry(tenancy, user, secondary));
        assertThat(written(tenancy, () -> db.update("DELETE FROM \"ContactChannel\" WHERE \"id\" = ?", primary)))
                .containsExactlyInAnyOrder(channelEntry(tenancy, user, primary), userEntry(tenancy, user));
    }

    @Test
    void aPrimaryEmailAddedWhileTheSequencerStampsItsUserDoesNotWaitAndLeavesAnUnstampedEntry() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Racing", null);
        ExecutorService writer = Executors.newSingleThreadExecutor();
        try (Connection sequencer = db.connect()) {
            sequencer.setAutoCommit(false);
            try (PreparedStatement stamp = sequencer.prepareStatement("""
                    UPDATE "SyncChange" SET "sequenceId" = nextval('global_seq_id')
                    WHERE "tenancyId" = ? AND "sequenceId" IS NULL""")) {
                stamp.setObject(1, tenancy.id());
                assertThat(stamp.executeUpdate()).isEqualTo(1);
            }
            // The old triggers re-marked the user row and had to wait for the stamping transaction's row lock.
            Future<UUID> email = writer.submit(() -> fixtures.addEmail(tenancy, user, "racing@example.com", true));
            email.get(30, TimeUnit.SECONDS);
            sequencer.commit();
        } finally {
            writer.shutdownNow();
        }

        List<Entry> entries = ChangeLog.entries(db, tenancy.id());
        assertThat(entries.get(0).sequenceId()).as("the stamped insert").isNotNull();
        assertThat(entries.subList(1, entries.size())).as("the email's entries wait for the next stamp")
                .extracting(Entry::tableName, Entry::sequenceId)
                .containsExactlyInAnyOrder(tuple("ContactChannel", null),
                        tuple("ProjectUser", null));
    }

    @Test
    void writersSendNoNotificationWhileAConfigChangeStillSignalsASyncRequest() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        try (Connection listener = db.connect()) {
            listener.setAutoCommit(true);
            try (Statement s = listener.createStatement()) {
                s.execute("LISTEN external_db_sync_changes");
                s.execute("LISTEN external_db_sync_requests");
            }
            PGConnection pg = listener.unwrap(PGConnection.class);
            List<String> received = new ArrayList<>();

            UUID user = fixtures.createUser(tenancy, "Quiet", "quiet@example.com");
            fixtures.renameUser(tenancy, user, "Still quiet");
            UUID team = fixtures.createTeam(tenancy, "Quiet team");
            fixtures.inviteToTeam(tenancy, team, "quiet-invitee@example.com");
            fixtures.deleteUser(tenancy, user);
            Awaitility.await().during(Duration.ofMillis(700)).atMost(Duration.ofSeconds(5)).until(() -> {
                drain(pg, received);
                return received.isEmpty();
            });

            fixtures.configureTargets(tenancy, Map.of("main", "postgresql://u:p@localhost:5432/target"));
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> {
                drain(pg, received);
                return !received.isEmpty();
            });
            assertThat(received).containsOnly("external_db_sync_requests");
        }
    }

    @Test
    void secondPendingRequestForAKeyIsRefusedWhileAClaimedOneMayCoexist() {
        String key = "sentinel-sync-key-" + UUID.randomUUID();
        String insert = """
                INSERT INTO "OutgoingRequest" ("id", "deduplicationKey", "qstashOptions") VALUES (gen_random_uuid(), ?, '{}')""";
        db.update(insert, key);

        assertThatThrownBy(() -> db.update(insert, key)).hasMessageContaining("OutgoingRequest_deduplicationKey_pending_key");

        db.update("UPDATE \"OutgoingRequest\" SET \"startedFulfillingAt\" = now() WHERE \"deduplicationKey\" = ?", key);
        db.update(insert, key);
        assertThat(db.queryLong("SELECT count(*) FROM \"OutgoingRequest\" WHERE \"deduplicationKey\" = ?", key)).isEqualTo(2);
        assertThat(db.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "deduplicationKey" = ? AND "startedFulfillingAt" IS NULL""", key))
                .isEqualTo(1);
    }

    @Test
    void enqueueKeepsOnePendingRequestPerTenancy() {
        UUID a = UUID.randomUUID();
        UUID b = UUID.randomUUID();

        db.queryValue("SELECT sync_enqueue_tenancies(?::uuid[])", (Object) new String[] { a.toString(), b.toString(), a.toString() });
        db.queryValue("SELECT sync_enqueue_tenancies(?::uuid[])", (Object) new String[] { a.toString() });

        assertThat(db.queryLong("SELECT count(*) FROM \"OutgoingRequest\" WHERE \"tenancyId\" IN (?, ?)", a, b)).isEqualTo(2);
        assertThat(db.queryValue("SELECT \"deduplicationKey\" FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", a))
                .isEqualTo("sentinel-sync-key-" + a);
    }

    @Test
    void configuringATargetEnqueuesASyncForTheTenancy() {
        Tenancy tenancy = fixtures.createTenancy();
        assertThat(pendingRequests(tenancy)).isZero();

        fixtures.configureTargets(tenancy, Map.of("main", "postgresql://u:p@localhost:5432/target"));

        assertThat(pendingRequests(tenancy)).isEqualTo(1);
    }

    private static void drain(PGConnection pg, List<String> received) throws java.sql.SQLException {
        PGNotification[] notifications = pg.getNotifications(50);
        if (notifications != null) {
            for (PGNotification n : notifications) {
                received.add(n.getName());
            }
        }
    }

    private static long pendingRequests(Tenancy tenancy) {
        return db.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ? AND "startedFulfillingAt" IS NULL""",
                tenancy.id());
    }

    private static List<Entry> written(Tenancy tenancy, Runnable write) {
        return ChangeLog.written(db, tenancy.id(), write);
    }

    private static Entry userEntry(Tenancy tenancy, UUID user) {
        return entry("ProjectUser", "tenancyId", tenancy.id(), "projectUserId", user);
    }

    private static Entry channelEntry(Tenancy tenancy, UUID user, UUID channel) {
        return entry("ContactChannel", "tenancyId", tenancy.id(), "projectUserId", user, "id", channel);
    }
}
