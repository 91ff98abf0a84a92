package dev.externaldbsync.schema;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * db/sync V60_1 on a database that ran the row-marking sync (V52): every row and every tombstoned key becomes one
 * entry, with the stamp a target's cursor already compares against, so that no cursor changes meaning.
 */
class ChangeLogConversionTest {

    /** The tables the old sequencer stamped, "DeletedRow" last (as it did). */
    private static final List<String> STAMPED = List.of("ProjectUser", "ContactChannel", "Team", "VerificationCode",
            "DeletedRow");

    @Test
    void stampedRowsKeepTheirStampMarkedOnesAreUnstampedAndEachTombstonedKeyGetsOneEntry() {
        TestDatabase db = TestPostgres.createDatabase("conversion");
        PartialMigration.upTo(db.dataSource(), SchemaMigrations.INTERNAL, "latest");
        PartialMigration.upTo(db.dataSource(), SchemaMigrations.SYNC, "52");
        assertThat(db.queryValue("SELECT to_regclass('\"SyncChange\"')")).as("at V52").isNull();
        StackAuthFixtures fixtures = new StackAuthFixtures(db);
        Tenancy tenancy = fixtures.createTenancy();

        UUID stamped = fixtures.createUser(tenancy, "Stamped", "stamped@example.com");
        UUID marked = fixtures.createUser(tenancy, "Marked", null);
        UUID team = fixtures.createTeam(tenancy, "Team");
        UUID invitation = fixtures.inviteToTeam(tenancy, team, "invitee@example.com");
        fixtures.createOneTimePassword(tenancy);
        UUID deletedTwice = fixtures.createUser(tenancy, "Deleted twice", null);
        UUID deletedThenPending = fixtures.createUser(tenancy, "Deleted, re-created, deleted", null);
        stampLikeTheOldSequencer(db);

        fixtures.deleteUser(tenancy, deletedTwice);
        fixtures.deleteUser(tenancy, deletedThenPending);
        stampLikeTheOldSequencer(db);
        recreate(db, tenancy, deletedTwice);
        recreate(db, tenancy, deletedThenPending);
        stampLikeTheOldSequencer(db);
        fixtures.deleteUser(tenancy, deletedTwice);
        stampLikeTheOldSequencer(db);
        // what the old sequencer had not stamped yet when the new version came
        fixtures.deleteUser(tenancy, deletedThenPending);
        fixtures.renameUser(tenancy, marked, "Marked again"); // the old trigger marks it, its stamp stays
        UUID neverStamped = fixtures.createUser(tenancy, "Never stamped", null);
        // a tombstone of a table no mapping reads (upstream may have written others)
        db.update("""
                INSERT INTO "DeletedRow" ("id", "tenancyId", "tableName", "primaryKey", "sequenceId", "shouldUpdateSequenceId")
                VALUES (gen_random_uuid(), ?, 'AuthMethod', '{"id": "x"}', nextval('global_seq_id'), false)""", tenancy.id());

        Long stampedUser = stampOf(db, "ProjectUser", stamped);
        Long stampedChannel = (Long) db.queryValue("SELECT \"sequenceId\" FROM \"ContactChannel\" WHERE \"projectUserId\" = ?",
                stamped);
        UUID channel = (UUID) db.queryValue("SELECT \"id\" FROM \"ContactChannel\" WHERE \"projectUserId\" = ?", stamped);
        Long stampedTeam = (Long) db.queryValue("SELECT \"sequenceId\" FROM \"Team\" WHERE \"teamId\" = ?", team);
        Long stampedInvitation = (Long) db.queryValue("SELECT \"sequenceId\" FROM \"VerificationCode\" WHERE \"id\" = ?",
                invitation);
        Long newestTombstone = (Long) db.queryValue("""
                SELECT max("sequenceId") FROM "DeletedRow" WHERE "primaryKey" ->> 'projectUserId' = ?""",
                deletedTwice.toString());
        assertThat(Arrays.asList(stampedUser, stampedChannel, stampedTeam, stampedInvitation, newestTombstone))
                .doesNotContainNull();
        assertThat(stampOf(db, "ProjectUser", marked)).as("a marked row still carries its old stamp").isNotNull();
        assertThat(db.queryLong("""
                SELECT count(*) FROM "DeletedRow" WHERE "primaryKey" ->> 'projectUserId' = ? AND "sequenceId" IS NOT NULL""",
                deletedThenPending.toString())).as("its first tombstone is stamped").isEqualTo(1);

        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);

        UUID t = tenancy.id();
        assertThat(entries(db, t)).containsExactlyInAnyOrder(
                List.of("ProjectUser", ChangeLog.key("tenancyId", t, "projectUserId", stamped), stampedUser),
                Arrays.asList("ProjectUser", ChangeLog.key("tenancyId", t, "projectUserId", marked), null),
                Arrays.asList("ProjectUser", ChangeLog.key("tenancyId", t, "projectUserId", neverStamped), null),
                List.of("ProjectUser", ChangeLog.key("tenancyId", t, "projectUserId", deletedTwice), newestTombstone),
                Arrays.asList("ProjectUser", ChangeLog.key("tenancyId", t, "projectUserId", deletedThenPending), null),
                List.of("ContactChannel", ChangeLog.key("tenancyId", t, "projectUserId", stamped, "id", channel),
                        stampedChannel),
                List.of("Team", ChangeLog.key("tenancyId", t, "teamId", team), stampedTeam),
                List.of("VerificationCode_TEAM_INVITATION", ChangeLog.key("id", invitation), stampedInvitation));
        assertThat(db.queryLong("SELECT count(*) FROM \"SyncChange\" WHERE \"tableName\" = 'AuthMethod'")).isZero();
    }

    @Test
    void aDatabaseWithoutRowsOrTombstonesConvertsToAnEmptyLog() {
        TestDatabase db = TestPostgres.createDatabase("conversion_empty");
        PartialMigration.upTo(db.dataSource(), SchemaMigrations.INTERNAL, "latest");
        PartialMigration.upTo(db.dataSource(), SchemaMigrations.SYNC, "52");

        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);

        assertThat(db.queryLong("SELECT count(*) FROM \"SyncChange\"")).isZero();
        assertThat(SchemaMigrations.pending(db.dataSource(), SchemaMigrations.SYNC)).isEmpty();
    }

    /** What the previous sequencer did: stamp every marked row and clear its mark (its update re-marks nothing). */
    private static void stampLikeTheOldSequencer(TestDatabase db) {
        for (String table : STAMPED) {
            db.update("UPDATE \"" + table + "\" SET \"sequenceId\" = nextval('global_seq_id'), \"shouldUpdateSequenceId\" = false"
                    + " WHERE \"shouldUpdateSequenceId\"");
        }
    }

    private static void recreate(TestDatabase db, Tenancy tenancy, UUID user) {
        db.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId", "updatedAt")
                VALUES (?, ?, ?, 'main', now())""", tenancy.id(), user, tenancy.projectId());
    }

    private static Long stampOf(TestDatabase db, String table, UUID user) {
        return (Long) db.queryValue("SELECT \"sequenceId\" FROM \"" + table + "\" WHERE \"projectUserId\" = ?", user);
    }

    /** (tableName, key, sequenceId) of every entry of the tenancy. */
    private static List<List<Object>> entries(TestDatabase db, UUID tenancy) {
        List<List<Object>> entries = new ArrayList<>();
        for (ChangeLog.Entry e : ChangeLog.entries(db, tenancy)) {
            entries.add(Arrays.asList(e.tableName(), e.key(), e.sequenceId()));
        }
        return entries;
    }
}
