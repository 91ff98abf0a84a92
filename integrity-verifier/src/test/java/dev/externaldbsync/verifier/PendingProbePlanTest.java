package dev.externaldbsync.verifier;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * The verifier asks, per unit, whether the tenancy has any change of the table not applied at the cursor. Autovacuum
 * analyzes the log rarely: statistics taken while a bulk load was still unstamped must not turn that probe into a
 * scan of the whole log once everything is stamped.
 */
class PendingProbePlanTest {

    @Test
    void theUnappliedChangeProbeReadsTheIndexesWhileStatisticsSayTheLogIsUnstamped() throws Exception {
        TestDatabase db = TestPostgres.createDatabase("iv_pending_plan");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
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
            UUID busy = (UUID) db.queryValue("SELECT md5('7')::uuid");
            long cursor = db.queryLong("SELECT max(\"sequenceId\") FROM \"SyncChange\" WHERE \"tenancyId\" = ?", busy);

            c.setAutoCommit(false);
            long before = sequentialScansSoFar(c);
            try (PreparedStatement probe = c.prepareStatement(UnitComparer.ANY_UNAPPLIED_CHANGE)) {
                // Past pgjdbc's prepare threshold, so that the later executions reuse one server-side plan.
                for (int i = 0; i < 8; i++) {
                    assertThat(anyUnapplied(probe, busy, cursor)).as("probe %d", i).isFalse();
                }
                assertThat(sequentialScansSoFar(c) - before).as("sequential scans of the change log").isZero();

                assertThat(anyUnapplied(probe, busy, cursor - 1)).as("an entry above a lower cursor").isTrue();
                try (Statement st = c.createStatement()) {
                    st.execute("INSERT INTO \"SyncChange\" (\"tenancyId\", \"tableName\", \"primaryKey\") "
                            + "VALUES (md5('7')::uuid, 'ProjectUser', '{\"late\": true}')");
                }
                assertThat(anyUnapplied(probe, busy, cursor)).as("after one unstamped entry").isTrue();
            }
            c.rollback();
        }
    }

    private static boolean anyUnapplied(PreparedStatement probe, UUID tenancy, long cursor) throws SQLException {
        probe.setObject(1, tenancy);
        probe.setString(2, "ProjectUser");
        probe.setLong(3, cursor);
        probe.setObject(4, tenancy);
        probe.setObject(5, tenancy);
        probe.setString(6, "ProjectUser");
        try (ResultSet rs = probe.executeQuery()) {
            rs.next();
            return rs.getBoolean(1);
        }
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
