package dev.externaldbsync.sequencer;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.RoundTrips;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.agroal.api.AgroalDataSource;

/** What a stamp batch costs on the wire, and how durably it commits. */
class StampRoundTripTest {

    private static TestDatabase db;
    private static AgroalDataSource pool;
    private static StackAuthFixtures fixtures;
    private RoundTrips roundTrips;
    private Sequencer sequencer;

    @BeforeAll
    static void migrate() {
        db = TestPools.migratedDatabase("stamprt");
        pool = TestPools.pool(db, 2);
        fixtures = new StackAuthFixtures(db);
    }

    @AfterAll
    static void closePool() {
        pool.close();
    }

    @BeforeEach
    void countingSequencerOnADrainedLog() throws Exception {
        roundTrips = RoundTrips.over(pool);
        sequencer = new Sequencer(roundTrips.dataSource(), new Sequencer.Settings(1000, 1000), Clock.systemUTC());
        while (!sequencer.runOnce().nothingWaiting()) {
            // each test starts with nothing unstamped
        }
        roundTrips.reset();
    }

    @Test
    void aStampBatchIsOneRoundTripAndEverythingItStampedIsCommittedWhenItReturns() throws Exception {
        Tenancy a = fixtures.createTenancy();
        Tenancy b = fixtures.createTenancy();
        fixtures.createUser(a, "Ada", "ada@example.com");
        fixtures.createUser(b, "Bob", null);

        SequencingBatch batch = sequencer.stampBatch();

        assertThat(roundTrips.sent()).hasSize(1);
        assertThat(batch.tenancies()).isEqualTo(2);
        assertThat(batch.entries()).isGreaterThanOrEqualTo(3);
        // Read on another connection: what the one round trip did is committed, not merely done.
        assertThat(db.queryLong("SELECT count(*) FROM \"SyncChange\" WHERE \"sequenceId\" IS NULL")).isZero();
        assertThat(db.queryLong("""
                SELECT count(*) FROM "OutgoingRequest"
                WHERE "tenancyId" IN (?, ?) AND "startedFulfillingAt" IS NULL""", a.id(), b.id())).isEqualTo(2);
    }

    @Test
    void theStampTransactionWaitsForItsWalFlushEvenWhereTheSessionSaysNotTo() throws Exception {
        fixtures.createUser(fixtures.createTenancy(), "Cy", null);

        sequencer.stampBatch();

        assertThat(roundTrips.sent().get(0)).startsWith(Sequencer.BEGIN_BATCH);
        try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
            // As a role or database default of "off" would leave it, on the same connection as the batch's
            // statements and in one implicit transaction, as the batch runs.
            s.execute("SET synchronous_commit = off");
            try (PreparedStatement ps = c.prepareStatement(
                    Sequencer.BEGIN_BATCH + ";\nSELECT current_setting('synchronous_commit')")) {
                ps.setLong(1, Sequencer.STAMP_LOCK_KEY);
                ps.execute();
                assertThat(ps.getMoreResults()).isTrue();
                try (ResultSet rs = ps.getResultSet()) {
                    rs.next();
                    assertThat(rs.getString(1)).isEqualTo("on");
                }
            }
            try (ResultSet rs = s.executeQuery("SHOW synchronous_commit")) {
                rs.next();
                assertThat(rs.getString(1)).as("the setting is local to the stamp transaction").isEqualTo("off");
            }
            s.execute("RESET synchronous_commit");
        }
    }
}
