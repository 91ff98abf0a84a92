package dev.externaldbsync.sequencer;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.TestDatabase;

/**
 * A bulk load is analyzed while its change-log entries are still unstamped (autovacuum analyzes a table rarely, after
 * enough of it changed), so once it is stamped the statistics still say most of the log is unstamped. The
 * sequencer's idle probe and its waiting count run all the time; they must keep reading the partial index of
 * unstamped entries instead of scanning the whole log.
 */
class IdleProbePlanTest {

    @Test
    void theIdleProbeAndTheWaitingCountReadThePartialIndexWhileStatisticsSayTheLogIsUnstamped() throws Exception {
        TestDatabase db = TestPools.migratedDatabase("idle_probe");
        try (Connection c = db.connect()) {
            try (Statement st = c.createStatement()) {
                st.execute("ALTER TABLE \"SyncChange\" SET (autovacuum_enabled = false)");
                st.execute("""
                        INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey")
                        SELECT md5((g % 50)::text)::uuid, 'ProjectUser',
                               jsonb_build_object('tenancyId', md5((g % 50)::text)::uuid,
                                                  'projectUserId', md5(g::text)::uuid)
                        FROM generate_series(1, 30000) g""");
                st.execute("ANALYZE \"SyncChange\"");
                st.execute("UPDATE \"SyncChange\" SET \"sequenceId\" = \"id\"");
            }

            c.setAutoCommit(false);
            long before = sequentialScansSoFar(c);
            try (PreparedStatement probe = c.prepareStatement(Sequencer.ANY_UNSTAMPED);
                    PreparedStatement waiting = c.prepareStatement(Sequencer.WAITING)) {
                // Past pgjdbc's prepare threshold, so the later executions reuse one server-side plan, as the loop's.
                for (int i = 0; i < 8; i++) {
                    assertThat(anyUnstamped(probe)).as("probe %d", i).isFalse();
                    assertThat(waiting(waiting)).as("waiting count %d", i).isEmpty();
                }
                assertThat(sequentialScansSoFar(c) - before).as("sequential scans of the change log").isZero();

                try (Statement st = c.createStatement()) {
                    st.execute("""
                            INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey")
                            VALUES (md5('late')::uuid, 'ContactChannel', '{"id": "late"}')""");
                }
                assertThat(anyUnstamped(probe)).as("after one new entry").isTrue();
                assertThat(waiting(waiting)).containsExactly(Map.entry("ContactChannel", 1L));
            }
            c.rollback();
        }
    }

    private static boolean anyUnstamped(PreparedStatement probe) throws SQLException {
        try (ResultSet rs = probe.executeQuery()) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    private static Map<String, Long> waiting(PreparedStatement waiting) throws SQLException {
        waiting.setLong(1, Sequencer.WAITING_CAP + 1L);
        Map<String, Long> counts = new HashMap<>();
        try (ResultSet rs = waiting.executeQuery()) {
            while (rs.next()) {
                counts.put(rs.getString(1), rs.getLong(2));
            }
        }
        return counts;
    }

    /** This transaction's own sequential scans of the change log so far (its statistics are not flushed yet). */
    private static long sequentialScansSoFar(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'SyncChange'")) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
