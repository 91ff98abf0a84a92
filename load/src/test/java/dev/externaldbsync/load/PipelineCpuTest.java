package dev.externaldbsync.load;

import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class PipelineCpuTest {

    @Test
    void countsTheServicesAndTheirTaggedAndTargetSessionsButNoOtherSession() throws Exception {
        TestDatabase internal = TestPostgres.createDatabase("load_cpu_internal");
        TestDatabase target = TestPostgres.createDatabase("load_cpu_target");
        Properties tag = new Properties();
        tag.setProperty("user", internal.user());
        tag.setProperty("password", internal.password());
        tag.setProperty("ApplicationName", Services.APPLICATION_NAME_PREFIX + "poller");
        try (Connection service = DriverManager.getConnection(internal.jdbcUrl(), tag);
                Connection writer = internal.connect();
                Connection engineOnTarget = target.connect();
                Connection observer = target.connect()) {
            // Reads /proc: meaningful only when the test server runs on this machine (embedded), not in a container.
            assumeTrue(isLocalPostgres(pid(service)), "the test PostgreSQL is not a local process");
            long self = ProcessHandle.current().pid();
            try (PipelineCpu cpu = new PipelineCpu(internal.connect(), Map.of("poller", self),
                    Services.APPLICATION_NAME_PREFIX, target.name(), "engine", List.of(pid(observer)))) {
                cpu.start();
                burn(service);
                burn(engineOnTarget);
                cpu.sample();
                burn(writer);
                burn(observer);
                long spin = System.nanoTime();
                long x = 0;
                while (System.nanoTime() - spin < 300_000_000L) {
                    x += Long.numberOfTrailingZeros(x + spin);
                }
                assertThat(x).isNotNegative();
                PipelineCpu.Result r = cpu.stop();

                assertThat(r.backendsSeen()).as("the tagged session and the target session, not the writer or observer")
                        .isEqualTo(2);
                assertThat(r.backendTicks()).isPositive();
                assertThat(r.serviceTicks()).isPositive();
                assertThat(r.seconds()).isPositive();
                assertThat(r.jvmTicks()).containsOnlyKeys("poller");
                assertThat(r.jitTicks()).containsOnlyKeys("poller");
                assertThat(r.jitTicks().get("poller")).isBetween(0L, r.jvmTicks().get("poller"));
                assertThat(r.sessionTicks()).as("the tagged session is the poller's, the target session the engine's")
                        .containsOnlyKeys("poller", "engine");
                assertThat(r.sessionTicks().values()).allSatisfy(ticks -> assertThat(ticks).isPositive());
                assertThat(r.perService()).startsWith("poller ");
            }
        }
    }

    private static void burn(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT count(*) FROM generate_series(1, 1000000) g WHERE md5(g::text) LIKE 'a%'")) {
            rs.next();
        }
    }

    private static int pid(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static boolean isLocalPostgres(int pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Integer.toString(pid), "cmdline"))).contains("postgres");
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
