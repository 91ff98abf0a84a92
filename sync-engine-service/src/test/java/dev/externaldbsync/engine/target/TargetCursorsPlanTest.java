package dev.externaldbsync.engine.target;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * A shared target's cursor table starts empty and grows by thousands of rows a second while tenancies sync for the
 * first time, and autovacuum analyzes it at most once a minute. The reads by tenancy must not keep a plan chosen
 * while it was small (a sequential scan, which would then read the whole table for every batch).
 */
class TargetCursorsPlanTest {

    @Test
    void readsByTenancyUseTheKeyAfterTheTableGrewUnanalyzedUnderThemOnOneSession() throws Exception {
        try (Connection tc = cursorTable("cursor_plan_target")) {
            try (Statement st = tc.createStatement()) {
                st.execute("ALTER TABLE \"_stack_sync_metadata\" SET (autovacuum_enabled = false)");
            }
            // What autovacuum saw early on: a table of a few tenancies, analyzed.
            insertCursors(tc, 1, 100);
            try (Statement st = tc.createStatement()) {
                st.execute("ANALYZE \"_stack_sync_metadata\"");
            }
            List<UUID> someTenancies = List.of(UUID.randomUUID(), UUID.randomUUID());
            // Past pgjdbc's prepare threshold and PostgreSQL's five custom plans, while the table is that small.
            List<TargetCursors.Move> noMoves = List.of(new TargetCursors.Move(someTenancies.get(0), "users", 1, 2));
            for (int i = 0; i < 12; i++) {
                assertThat(TargetCursors.readAll(tc, someTenancies)).isEmpty();
                assertThat(TargetCursors.readPositions(tc, someTenancies)).isEmpty();
                assertThat(TargetCursors.readState(tc, someTenancies).cursors()).isEmpty();
                assertThat(TargetCursors.read(tc, someTenancies.get(0), "users")).isEqualTo(-1);
                assertThat(TargetCursors.advance(tc, noMoves)).isZero();
            }
            insertCursors(tc, 101, 25_000);
            UUID known;
            try (Statement st = tc.createStatement()) {
                try (ResultSet rs = st.executeQuery("SELECT md5('7'::text)::uuid")) {
                    rs.next();
                    known = rs.getObject(1, UUID.class);
                }
            }

            tc.setAutoCommit(false);
            long before = sequentialScansSoFar(tc);
            Map<UUID, Map<String, Long>> read = TargetCursors.readAll(tc, List.of(known, UUID.randomUUID()));
            TargetCursors.readPositions(tc, List.of(known));
            assertThat(TargetCursors.readState(tc, List.of(known)).cursors()).isEqualTo(read);
            assertThat(TargetCursors.read(tc, known, "teams")).isEqualTo(7);
            assertThat(TargetCursors.advance(tc, List.of(new TargetCursors.Move(known, "users", 7, 8)))).isOne();
            assertThat(read).containsOnlyKeys(known);
            assertThat(read.get(known)).containsEntry("users", 7L).containsEntry("teams", 7L);
            assertThat(sequentialScansSoFar(tc) - before).as("sequential scans of the cursor table").isZero();
            tc.commit();
        }
    }

    @Test
    void oneReadOfTheStateReturnsWhatTheCursorAndPositionReadsReturn() throws Exception {
        try (Connection tc = cursorTable("cursor_state_target")) {
            insertCursors(tc, 1, 3);
            UUID first;
            UUID second;
            try (Statement st = tc.createStatement();
                    ResultSet rs = st.executeQuery("SELECT md5('1'::text)::uuid, md5('2'::text)::uuid")) {
                rs.next();
                first = rs.getObject(1, UUID.class);
                second = rs.getObject(2, UUID.class);
            }
            assertThat(TargetCursors.savePosition(tc, first, "users", 1,
                    new TargetCursors.Position(40, new String[] {"k1", "k2"}))).isTrue();
            assertThat(TargetCursors.savePosition(tc, second, "teams", 2, new TargetCursors.Position(50, null)))
                    .isTrue();
            List<UUID> asked = List.of(first, second, UUID.randomUUID());

            TargetCursors.State state = TargetCursors.readState(tc, asked);

            assertThat(state.cursors()).isEqualTo(TargetCursors.readAll(tc, asked)).containsOnlyKeys(first, second);
            Map<UUID, Map<String, TargetCursors.Position>> positions = TargetCursors.readPositions(tc, asked);
            assertThat(state.positions()).containsOnlyKeys(positions.keySet()).containsOnlyKeys(first, second);
            assertThat(state.positions().get(first)).containsOnlyKeys("users");
            assertThat(state.positions().get(first).get("users").high()).isEqualTo(40);
            assertThat(state.positions().get(first).get("users").after()).containsExactly("k1", "k2");
            assertThat(state.positions().get(second)).containsOnlyKeys("teams");
            assertThat(state.positions().get(second).get("teams").high()).isEqualTo(50);
            assertThat(state.positions().get(second).get("teams").after()).isNull();
        }
    }

    /** A connection to a new database holding an empty cursor table, position columns included. */
    private static Connection cursorTable(String database) throws SQLException {
        TestDatabase target = TestPostgres.createDatabase(database);
        Connection tc = target.connect();
        try (Statement st = tc.createStatement()) {
            st.execute(Mappings.METADATA_DDL);
            st.execute(TargetCursors.POSITION_DDL);
        } catch (SQLException | RuntimeException e) {
            tc.close();
            throw e;
        }
        return tc;
    }

    /** Cursors of tenancies {@code md5(from)::uuid} … {@code md5(to)::uuid}, users and teams at the number. */
    private static void insertCursors(Connection tc, int from, int to) throws SQLException {
        try (PreparedStatement ps = tc.prepareStatement("""
                INSERT INTO "_stack_sync_metadata" ("tenancy_id", "mapping_name", "last_synced_sequence_id")
                SELECT md5(g::text)::uuid, m, g FROM generate_series(?, ?) g, (VALUES ('users'), ('teams')) v(m)""")) {
            ps.setInt(1, from);
            ps.setInt(2, to);
            ps.executeUpdate();
        }
    }

    /** This session's sequential scans of the cursor table that the statistics system has not been sent yet. */
    private static long sequentialScansSoFar(Connection tc) throws SQLException {
        try (PreparedStatement ps = tc.prepareStatement(
                "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = '_stack_sync_metadata'");
                ResultSet rs = ps.executeQuery()) {
            return rs.next() ? rs.getLong(1) : 0;
        }
    }
}
