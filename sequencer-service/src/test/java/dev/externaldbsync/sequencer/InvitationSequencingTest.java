package dev.externaldbsync.sequencer;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.agroal.api.AgroalDataSource;

/**
 * "VerificationCode" has no tenancy column: the capture writes team invitations' entries under the tenancy of their
 * (projectId, branchId), so the sequencer serves and enqueues them per tenancy like any other entry, and codes of any
 * other type never reach it.
 */
class InvitationSequencingTest {

    private static final String INVITATIONS = "VerificationCode_TEAM_INVITATION";

    private static TestDatabase db;
    private static AgroalDataSource pool;
    private static StackAuthFixtures fixtures;

    @BeforeAll
    static void migrate() {
        db = TestPools.migratedDatabase("invitations");
        pool = TestPools.pool(db, 4);
        fixtures = new StackAuthFixtures(db);
    }

    @AfterAll
    static void closePool() {
        pool.close();
    }

    @BeforeEach
    void drain() throws Exception {
        Sequencer sequencer = new Sequencer(pool, new Sequencer.Settings(1000, 1000), Clock.systemUTC());
        while (!sequencer.runOnce().nothingWaiting()) {
            // each test starts with nothing unstamped
        }
    }

    @Test
    void anInvitationIsStampedAndItsTenancyEnqueuedWhileAOneTimePasswordNeverReachesTheSequencer() throws Exception {
        Tenancy inviting = fixtures.createTenancy();
        Tenancy otpOnly = fixtures.createTenancy();
        UUID team = fixtures.createTeam(inviting, "Crew");
        UUID invitation = fixtures.inviteToTeam(inviting, team, "new@example.com");
        UUID otp = fixtures.createOneTimePassword(otpOnly);
        UUID otpOfInviting = fixtures.createOneTimePassword(inviting);
        // Upstream's explicit mark on a code of another type is not a change of anything synced.
        db.update("UPDATE \"VerificationCode\" SET \"shouldUpdateSequenceId\" = true WHERE \"id\" IN (?, ?)", otp,
                otpOfInviting);
        Sequencer sequencer = new Sequencer(pool, new Sequencer.Settings(1000, 1000), Clock.systemUTC());

        SequencingBatch batch = sequencer.runOnce();

        assertThat(batch.entriesPerTable()).containsEntry(INVITATIONS, 1).containsEntry("Team", 1);
        assertThat(invitationStamps(inviting, invitation)).singleElement().isNotNull();
        assertThat(db.queryLong("SELECT count(*) FROM \"SyncChange\" WHERE \"primaryKey\" ->> 'id' IN (?, ?)",
                otp.toString(), otpOfInviting.toString())).isZero();
        assertThat(pendingRequests(inviting)).isEqualTo(1);
        assertThat(pendingRequests(otpOnly)).as("nothing of this tenancy is synced").isZero();
        assertThat(sequencer.runOnce().nothingWaiting()).isTrue();

        // Renaming the team writes an entry for its invitation, which gets a newer stamp and replaces the old one.
        long first = invitationStamps(inviting, invitation).get(0);
        fixtures.renameTeam(inviting, team, "Crew 2");
        SequencingBatch renamed = sequencer.runOnce();
        assertThat(renamed.entriesPerTable()).containsEntry(INVITATIONS, 1).containsEntry("Team", 1);
        assertThat(invitationStamps(inviting, invitation)).singleElement()
                .satisfies(s -> assertThat(s).isGreaterThan(first));

        // Deleting it writes its last entry: stamped, with no live code behind it.
        long second = invitationStamps(inviting, invitation).get(0);
        fixtures.deleteVerificationCode(inviting, invitation);
        assertThat(sequencer.runOnce().entriesPerTable()).containsEntry(INVITATIONS, 1);
        assertThat(invitationStamps(inviting, invitation)).singleElement()
                .satisfies(s -> assertThat(s).isGreaterThan(second));
        assertThat(db.queryLong("SELECT count(*) FROM \"VerificationCode\" WHERE \"id\" = ?", invitation)).isZero();
    }

    @Test
    void tenanciesWithInvitationsAreServedRoundRobin() throws Exception {
        List<Tenancy> tenancies = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Tenancy tenancy = fixtures.createTenancy();
            tenancies.add(tenancy);
            // The invitation of a missing team still needs its stamp (the engine exports it as deleted).
            for (int j = 0; j < 3; j++) {
                fixtures.inviteToTeam(tenancy, UUID.randomUUID(), "x" + j + "@example.com");
            }
        }
        // One tenancy per batch, one entry per tenancy: every batch must serve a tenancy the previous did not.
        Sequencer sequencer = new Sequencer(pool, new Sequencer.Settings(1, 1), Clock.systemUTC());
        List<UUID> served = new ArrayList<>();
        for (int batch = 0; batch < 9; batch++) {
            SequencingBatch result = sequencer.runOnce();
            assertThat(result.entriesPerTable()).containsEntry(INVITATIONS, 1);
            served.add(tenancyStampedLast());
        }
        assertThat(sequencer.runOnce().nothingWaiting()).isTrue();
        for (int round = 0; round < 3; round++) {
            Set<UUID> roundServed = new HashSet<>(served.subList(round * 3, round * 3 + 3));
            assertThat(roundServed).as("round " + round + " serves every tenancy once").hasSize(3);
        }
        for (Tenancy tenancy : tenancies) {
            assertThat(pendingRequests(tenancy)).isEqualTo(1);
            assertThat(db.queryLong("""
                    SELECT count(*) FROM "SyncChange"
                    WHERE "tenancyId" = ? AND "tableName" = ? AND "sequenceId" IS NOT NULL""",
                    tenancy.id(), INVITATIONS)).isEqualTo(3);
        }
    }

    private static List<Long> invitationStamps(Tenancy tenancy, UUID invitation) {
        return db.queryRows("""
                SELECT "sequenceId" FROM "SyncChange"
                WHERE "tenancyId" = ? AND "tableName" = ? AND "primaryKey" ->> 'id' = ? ORDER BY "id\"""",
                tenancy.id(), INVITATIONS, invitation.toString()).stream()
                .map(row -> row.get(0) == null ? null : ((Number) row.get(0)).longValue()).toList();
    }

    private static UUID tenancyStampedLast() {
        return (UUID) db.queryValue("""
                SELECT "tenancyId" FROM "SyncChange" WHERE "sequenceId" IS NOT NULL
                ORDER BY "sequenceId" DESC LIMIT 1""");
    }

    private static long pendingRequests(Tenancy tenancy) {
        return db.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ? AND "startedFulfillingAt" IS NULL""",
                tenancy.id());
    }
}
