package dev.externaldbsync.load;

import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The bench's vacuum watch against a real server: a vacuum that runs during the clock is seen, with its table. */
class VacuumWatchTest {

    @Test
    void aVacuumRunningDuringTheClockIsReportedWithItsTableAndOneThatDidNotRunIsNot() throws Exception {
        TestDatabase db = database();
        List<String> failures = new ArrayList<>();
        VacuumWatch.Result seen;
        try (Connection watched = db.connect()) {
            seen = watchSlowVacuum(db, watched, db.name() + ".vac_probe", failures);
        }

        assertThat(failures).isEmpty();
        assertThat(seen.relations()).contains(db.name() + ".vac_probe").doesNotContain(db.name() + ".vac_idle");
        assertThat(seen.seconds()).isPositive();
        assertThat(seen.describe()).contains(db.name() + ".vac_probe");
        assertThat(new VacuumWatch.Result(0, Set.of()).describe()).isEqualTo("none");
    }

    @Test
    void aRoleThatCannotSeeAnotherRolesVacuumStillCountsIt() throws Exception {
        TestDatabase db = database();
        db.execute("""
                DO $$ BEGIN
                    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_vacuum_watcher') THEN
                        CREATE ROLE bench_vacuum_watcher LOGIN PASSWORD 'watcher';
                    END IF;
                END $$""");
        List<String> failures = new ArrayList<>();
        VacuumWatch.Result seen;
        try (Connection watched = DriverManager.getConnection(db.jdbcUrl(), "bench_vacuum_watcher", "watcher")) {
            seen = watchSlowVacuum(db, watched, db.name() + ".(hidden from this role)", failures);
        }

        assertThat(failures).isEmpty();
        assertThat(seen.relations()).contains(db.name() + ".(hidden from this role)")
                .doesNotContain(db.name() + ".vac_probe");
        assertThat(seen.seconds()).isPositive();
    }

    private static TestDatabase database() {
        TestDatabase db = TestPostgres.createDatabase("bench_vacuum_watch");
        db.execute("CREATE TABLE vac_probe (n int, pad text) WITH (autovacuum_enabled = false)",
                "CREATE TABLE vac_idle (n int) WITH (autovacuum_enabled = false)",
                "INSERT INTO vac_probe SELECT n, repeat('x', 200) FROM generate_series(1, 20000) AS n",
                "DELETE FROM vac_probe");
        return db;
    }

    /**
     * Runs a clock on {@code watched} during which a superuser's session vacuums {@code vac_probe}, slowly by
     * configuration rather than by the machine's speed (cost-based delay: 100 ms after every page), until the watch has
     * seen {@code expected}; then cancels the vacuum.
     */
    private static VacuumWatch.Result watchSlowVacuum(TestDatabase db, Connection watched, String expected,
            List<String> failures) throws Exception {
        String[] ended = new String[1];
        VacuumWatch.Result seen;
        try (Connection vacuuming = db.connect()) {
            int vacuumPid = pid(vacuuming);
            VacuumWatch watch = new VacuumWatch(watched);
            seen = watch.around(() -> {
                CompletableFuture<String> vacuum = CompletableFuture.supplyAsync(() -> {
                    try (Statement st = vacuuming.createStatement()) {
                        st.execute("SET vacuum_cost_delay = '100ms'");
                        st.execute("SET vacuum_cost_limit = 1");
                        st.execute("VACUUM vac_probe");
                        return "finished";
                    } catch (SQLException e) {
                        return e.getSQLState();
                    }
                });
                await().atMost(Duration.ofSeconds(60)).until(() -> watch.seenSoFar().contains(expected));
                db.queryValue("SELECT pg_cancel_backend(?)", vacuumPid);
                ended[0] = vacuum.get(60, TimeUnit.SECONDS);
            }, failures::add);
        }
        assertThat(ended[0]).as("the vacuum ran until cancelled (query_canceled)").isEqualTo("57014");
        return seen;
    }

    private static int pid(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); var rs = st.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return rs.getInt(1);
        }
    }
}
