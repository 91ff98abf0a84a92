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

import dev.externaldbsync.schema.SourceTable;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.agroal.api.AgroalDataSource;

/**
 * "VerificationCode" has no tenancy column: team invitations are claimed per tenancy through "Tenancy" on
 * (projectId, branchId), their tenancy is enqueued, and codes of any other type are never touched.
 */
class InvitationSequencingTest {

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
        while (!sequencer.runOnce().nothingMarked()) {
            // each test starts with nothing marked
        }
    }

    @Test
    void anInvitationIsStampedAndItsTenancyEnqueuedWhileAOneTimePasswordIsNeverTouched() throws Exception {
        Tenancy inviting = fixtures.createTenancy();
        Tenancy otpOnly = fixtures.createTenancy();
        UUID team = fixtures.createTeam(inviting, "Crew");
        UUID invitation = fixtures.inviteToTeam(inviting, team, "new@example.com");
        UUID otp = fixtures.createOneTimePassword(otpOnly);
        UUID otpOfInviting = fixtures.createOneTimePassword(inviting);
        // Codes that predate the sync layer keep the column default (marked) forever; they must stay untouched.
        db.update("UPDATE \"VerificationCode\" SET \"shouldUpdateSequenceId\" = true WHERE \"id\" IN (?, ?)", otp,
                otpOfInviting);
        Sequencer sequencer = new Sequencer(pool, new Sequencer.Settings(1000, 1000), Clock.systemUTC());

        SequencingBatch batch = sequencer.runOnce();

        assertThat(batch.rowsPerTable()).containsEntry(SourceTable.VERIFICATION_CODE, 1)
                .containsEntry(SourceTable.TEAM, 1);
        assertThat(codeState(invitation)).isEqualTo("stamped false");
        assertThat(codeState(otp)).isEqualTo("unstamped true");
        assertThat(codeState(otpOfInviting)).isEqualTo("unstamped true");
        assertThat(pendingRequests(inviting)).isEqualTo(1);
        assertThat(pendingRequests(otpOnly)).as("nothing of this tenancy is synced").isZero();
        assertThat(sequencer.waitingRows(100)).containsEntry(SourceTable.VERIFICATION_CODE, 0L);
        assertThat(sequencer.runOnce().nothingMarked()).as("marked OTP codes do not count as work").isTrue();

        // Renaming the team re-marks its invitation, which gets a newer stamp.
        long first = stamp(invitation);
        fixtures.renameTeam(inviting, team, "Crew 2");
        assertThat(sequencer.runOnce().rowsPerTable()).containsEntry(SourceTable.VERIFICATION_CODE, 1);
        assertThat(stamp(invitation)).isGreaterThan(first).isGreaterThan(teamStamp(inviting, team));
        assertThat(codeState(otp)).isEqualTo("unstamped true");

        // Deleting it writes a tombstone for its tenancy, stamped with DeletedRow.
        fixtures.deleteVerificationCode(inviting, invitation);
        assertThat(sequencer.runOnce().rowsPerTable()).containsEntry(SourceTable.DELETED_ROW, 1);
        assertThat(db.queryLong("""
                SELECT count(*) FROM "DeletedRow" WHERE "tenancyId" = ? AND "tableName" = 'VerificationCode_TEAM_INVITATION'
                  AND "sequenceId" IS NOT NULL""", inviting.id())).isEqualTo(1);
    }

    @Test
    void tenanciesWithInvitationsAreServedRoundRobinOverProjectAndBranch() throws Exception {
        List<Tenancy> tenancies = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Tenancy tenancy = fixtures.createTenancy();
            tenancies.add(tenancy);
            // Teams are stamped in their own table; the invitation of a missing team still needs its stamp.
            for (int j = 0; j < 3; j++) {
                fixtures.inviteToTeam(tenancy, UUID.randomUUID(), "x" + j + "@example.com");
            }
        }
        // One tenancy per batch, one row per tenancy: every batch must serve a tenancy the previous did not.
        Sequencer sequencer = new Sequencer(pool, new Sequencer.Settings(1, 1), Clock.systemUTC());
        List<UUID> served = new ArrayList<>();
        for (int batch = 0; batch < 9; batch++) {
            int before = stampedPerTenancy(tenancies).hashCode();
            SequencingBatch result = sequencer.runOnce();
            assertThat(result.rowsPerTable()).containsEntry(SourceTable.VERIFICATION_CODE, 1);
            assertThat(stampedPerTenancy(tenancies).hashCode()).isNotEqualTo(before);
            served.add(tenancyStampedLast(tenancies));
        }
        assertThat(sequencer.runOnce().nothingMarked()).isTrue();
        for (int round = 0; round < 3; round++) {
            Set<UUID> roundServed = new HashSet<>(served.subList(round * 3, round * 3 + 3));
            assertThat(roundServed).as("round " + round + " serves every tenancy once").hasSize(3);
        }
        for (Tenancy tenancy : tenancies) {
            assertThat(pendingRequests(tenancy)).isEqualTo(1);
        }
    }

    @Test
    void everyInvitationStatementReadsMarksThroughThePartialFlagIndex() throws Exception {
        TableStatements statements = TableStatements.of(SourceTable.VERIFICATION_CODE);
        UUID some = fixtures.createTenancy().id();
        String nil = "'00000000-0000-0000-0000-000000000000'";
        String max = "'ffffffff-ffff-ffff-ffff-ffffffffffff'";
        List<String> explained = List.of(
                statements.anyMarked(),
                statements.tenancyAfter().replaceFirst("\\?", nil).replaceFirst("\\?", max).replaceFirst("\\?", max)
                        .replaceFirst("\\?", "10"),
                statements.claim().replaceFirst("\\?", "ARRAY['" + some + "']").replaceFirst("\\?", "10"),
                statements.waiting().replaceFirst("\\?", "10"));
        for (String sql : explained) {
            StringBuilder plan = new StringBuilder();
            try (var c = db.connect(); var st = c.createStatement()) {
                c.setAutoCommit(false);
                st.execute("SET LOCAL enable_seqscan = off"); // tiny test tables: make the index choice visible
                try (var rs = st.executeQuery("EXPLAIN " + sql)) {
                    while (rs.next()) {
                        plan.append(rs.getString(1)).append('\n');
                    }
                }
                c.rollback();
            }
            assertThat(plan.toString()).as(sql).contains("VerificationCode_shouldUpdateSequenceId_type_idx")
                    .doesNotContain("Seq Scan on \"VerificationCode\"");
        }
    }

    private static List<Long> stampedPerTenancy(List<Tenancy> tenancies) {
        List<Long> counts = new ArrayList<>();
        for (Tenancy t : tenancies) {
            counts.add(db.queryLong("""
                    SELECT count(*) FROM "VerificationCode" WHERE "projectId" = ? AND "sequenceId" IS NOT NULL""",
                    t.projectId()));
        }
        return counts;
    }

    private static UUID tenancyStampedLast(List<Tenancy> tenancies) {
        String projectId = (String) db.queryValue("""
                SELECT "projectId" FROM "VerificationCode" WHERE "sequenceId" IS NOT NULL
                ORDER BY "sequenceId" DESC LIMIT 1""");
        return tenancies.stream().filter(t -> t.projectId().equals(projectId)).findFirst().orElseThrow().id();
    }

    private static String codeState(UUID id) {
        return db.queryValue("""
                SELECT CASE WHEN "sequenceId" IS NULL THEN 'unstamped ' ELSE 'stamped ' END || "shouldUpdateSequenceId"::text
                FROM "VerificationCode" WHERE "id" = ?""", id).toString();
    }

    private static long stamp(UUID code) {
        return db.queryLong("SELECT \"sequenceId\" FROM \"VerificationCode\" WHERE \"id\" = ?", code);
    }

    private static long teamStamp(Tenancy tenancy, UUID team) {
        return db.queryLong("SELECT \"sequenceId\" FROM \"Team\" WHERE \"tenancyId\" = ? AND \"teamId\" = ?",
                tenancy.id(), team);
    }

    private static long pendingRequests(Tenancy tenancy) {
        return db.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ? AND "startedFulfillingAt" IS NULL""",
                tenancy.id());
    }
}
