package dev.externaldbsync.schema;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

class CaptureTriggersTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static TestDatabase db;
    private static StackAuthFixtures fixtures;

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("capture");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        fixtures = new StackAuthFixtures(db);
    }

    @Test
    void insertMarksTheRowEvenWhenTheWriterCopiesAnOldStamp() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = UUID.randomUUID();
        db.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                    "updatedAt", "sequenceId", "shouldUpdateSequenceId") VALUES (?, ?, ?, 'main', now(), 42, false)""",
                tenancy.id(), user, tenancy.projectId());

        assertThat(mark(tenancy, user)).containsExactly(true, null);
    }

    @Test
    void updateMarksAStampedRowAndStampingDoesNotMarkIt() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Ada", "ada@example.com");
        stamp(tenancy, user);
        assertThat(mark(tenancy, user).get(0)).as("after stamping").isEqualTo(false);

        fixtures.renameUser(tenancy, user, "Ada Lovelace");

        assertThat(mark(tenancy, user).get(0)).as("after a writer's update").isEqualTo(true);
    }

    @Test
    void updateThatChangesNothingIsNotAChange() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Same", null);
        stamp(tenancy, user);

        db.update("UPDATE \"ProjectUser\" SET \"displayName\" = 'Same' WHERE \"projectUserId\" = ?", user);

        assertThat(mark(tenancy, user).get(0)).isEqualTo(false);
    }

    @Test
    void rolledBackUpdateLeavesNoMark() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Before", null);
        stamp(tenancy, user);

        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE \"ProjectUser\" SET \"displayName\" = 'Rolled back' WHERE \"projectUserId\" = ?")) {
                ps.setObject(1, user);
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
            c.rollback();
        }

        assertThat(mark(tenancy, user).get(0)).isEqualTo(false);
        assertThat(db.queryValue("SELECT \"displayName\" FROM \"ProjectUser\" WHERE \"projectUserId\" = ?", user))
                .isEqualTo("Before");
    }

    @Test
    void deleteWritesExactlyOneTombstonePerRowWithStackKeyNamesAndASnapshot() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Grace", "grace@example.com");
        UUID channel = (UUID) db.queryValue("SELECT \"id\" FROM \"ContactChannel\" WHERE \"projectUserId\" = ?", user);
        db.update("UPDATE \"ProjectUser\" SET \"totpSecret\" = '\\xdeadbeef'::bytea WHERE \"projectUserId\" = ?", user);

        fixtures.deleteUser(tenancy, user); // cascades to the contact channel

        List<List<Object>> tombstones = db.queryRows("""
                SELECT "tableName", "primaryKey"::text, "data"::text, "tenancyId", "shouldUpdateSequenceId", "sequenceId"
                FROM "DeletedRow" WHERE "tenancyId" = ? ORDER BY "tableName" """, tenancy.id());
        assertThat(tombstones).hasSize(2);

        List<Object> channelTombstone = tombstones.get(0);
        assertThat(channelTombstone.get(0)).isEqualTo("ContactChannel");
        assertThat(JSON.readTree((String) channelTombstone.get(1))).isEqualTo(JSON.valueToTree(Map.of(
                "tenancyId", tenancy.id().toString(), "projectUserId", user.toString(), "id", channel.toString())));

        List<Object> userTombstone = tombstones.get(1);
        assertThat(userTombstone.get(0)).isEqualTo("ProjectUser");
        assertThat(JSON.readTree((String) userTombstone.get(1))).isEqualTo(JSON.valueToTree(Map.of(
                "tenancyId", tenancy.id().toString(), "projectUserId", user.toString())));
        JsonNode snapshot = JSON.readTree((String) userTombstone.get(2));
        assertThat(snapshot.get("displayName").asText()).isEqualTo("Grace");
        assertThat(snapshot.get("mirroredProjectId").asText()).isEqualTo(tenancy.projectId());
        assertThat(snapshot.has("totpSecret")).as("secrets do not outlive their row").isFalse();
        assertThat(userTombstone.get(3)).isEqualTo(tenancy.id());
        assertThat(userTombstone.get(4)).isEqualTo(true);
        assertThat(userTombstone.get(5)).isNull();
    }

    @Test
    void primaryContactChannelChangeMarksItsUserButAnotherChannelDoesNot() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Linus", "linus@example.com");
        UUID secondary = fixtures.addEmail(tenancy, user, "other@example.com", false);
        stamp(tenancy, user);

        db.update("UPDATE \"ContactChannel\" SET \"value\" = 'renamed@example.com' WHERE \"id\" = ?", secondary);
        assertThat(mark(tenancy, user).get(0)).as("after a non-primary change").isEqualTo(false);

        db.update("""
                UPDATE "ContactChannel" SET "value" = 'linus@kernel.org'
                WHERE "projectUserId" = ? AND "isPrimary" = 'TRUE'""", user);
        assertThat(mark(tenancy, user).get(0)).as("after the primary email changed").isEqualTo(true);
    }

    @Test
    void aPrimaryEmailAddedWhileTheSequencerStampsItsUserMarksTheUserAgainAfterTheStamp() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Racing", null);
        java.util.concurrent.ExecutorService writer = java.util.concurrent.Executors.newSingleThreadExecutor();
        try (Connection sequencer = db.connect()) {
            sequencer.setAutoCommit(false);
            try (PreparedStatement stamp = sequencer.prepareStatement("""
                    UPDATE "ProjectUser" SET "sequenceId" = nextval('global_seq_id'), "shouldUpdateSequenceId" = false
                    WHERE "tenancyId" = ? AND "projectUserId" = ?""")) {
                stamp.setObject(1, tenancy.id());
                stamp.setObject(2, user);
                assertThat(stamp.executeUpdate()).isEqualTo(1);
            }
            // While the stamp is uncommitted, a writer adds the user's primary email (its users row derives from it).
            var email = writer.submit(() -> fixtures.addEmail(tenancy, user, "racing@example.com", true));
            // Commit the stamp only once the writer has either finished or is waiting for the stamped row's lock.
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> email.isDone()
                    || db.queryLong("""
                            SELECT count(*) FROM pg_stat_activity
                            WHERE datname = current_database() AND wait_event_type = 'Lock'""") > 0);
            sequencer.commit();
            email.get(30, java.util.concurrent.TimeUnit.SECONDS);
        } finally {
            writer.shutdownNow();
        }

        assertThat(mark(tenancy, user).get(0)).as("the user must be stamped again after its email arrived").isEqualTo(true);
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

    private static long pendingRequests(Tenancy tenancy) {
        return db.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ? AND "startedFulfillingAt" IS NULL""",
                tenancy.id());
    }

    /** What the sequencer does to a row: a new stamp, mark cleared. */
    private static void stamp(Tenancy tenancy, UUID user) {
        db.update("""
                UPDATE "ProjectUser" SET "sequenceId" = nextval('global_seq_id'), "shouldUpdateSequenceId" = false
                WHERE "tenancyId" = ? AND "projectUserId" = ?""", tenancy.id(), user);
    }

    private static List<Object> mark(Tenancy tenancy, UUID user) {
        return db.queryRows("""
                SELECT "shouldUpdateSequenceId", "sequenceId" FROM "ProjectUser"
                WHERE "tenancyId" = ? AND "projectUserId" = ?""", tenancy.id(), user).get(0);
    }
}
