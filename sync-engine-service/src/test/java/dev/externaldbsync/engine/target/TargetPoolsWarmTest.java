package dev.externaldbsync.engine.target;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.config.TargetConfigParser;
import dev.externaldbsync.engine.EngineConfig;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.quarkus.runtime.configuration.DurationConverter;
import io.smallrye.config.SmallRyeConfig;
import io.smallrye.config.SmallRyeConfigBuilder;

/**
 * Warm pools against a real PostgreSQL target: the target's own {@code pg_stat_activity} says whether the engine holds
 * a session open. The engine's clock is a test clock, so warm-for elapses without waiting for it.
 */
class TargetPoolsWarmTest {

    private static final Duration WARM_FOR = Duration.ofMinutes(15);

    private final MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
    private TargetConfigParser.Rules previousRules;
    private TargetPools pools;
    private TestDatabase target;

    @BeforeEach
    void setUp() {
        // TargetPools installs its policy as the parser's global rules; put back whatever was there.
        previousRules = TargetConfigParser.rules();
        target = TestPostgres.createDatabase("warm_pool_target");
        SmallRyeConfig config = new SmallRyeConfigBuilder().withMapping(EngineConfig.class)
                .withConverter(Duration.class, 100, new DurationConverter())
                .withDefaultValues(Map.of(
                        "engine.targets.allow-loopback", "true",
                        "engine.targets.allow-internal-server", "true",
                        "engine.targets.min-sslmode", "disable",
                        "engine.pools.warm-for", WARM_FOR.toString(),
                        "engine.pools.idle-timeout", "PT1H"))
                .build();
        pools = new TargetPools();
        pools.config = config.getConfigMapping(EngineConfig.class);
        pools.clock = clock;
        pools.internalJdbcUrl = Optional.empty();
    }

    @AfterEach
    void tearDown() {
        pools.closeAll();
        TargetConfigParser.install(previousRules);
        target.execute("SELECT 1"); // the database still answers (the failure test drops its own)
    }

    @Test
    void aLeasedPoolKeepsOneSessionOpenWhileIdleAndDrainsOnceWarmForHasPassed() throws Exception {
        PostgresUrl url = PostgresUrl.parse(target.postgresUrl());
        useOnce(url);

        assertThat(pools.minConnections(url)).isEqualTo(OptionalInt.of(1));
        clock.advance(WARM_FOR.minusMinutes(1));
        pools.closeIdle();
        assertThat(sessionsOn(target)).as("still warm one minute before warm-for ends").isEqualTo(1);

        clock.advance(Duration.ofMinutes(2));
        pools.closeIdle();
        assertThat(pools.minConnections(url)).as("the pool stays open, cold").isEqualTo(OptionalInt.of(0));
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(sessionsOn(target)).isZero());

        useOnce(url);
        assertThat(pools.minConnections(url)).as("a new lease warms it again").isEqualTo(OptionalInt.of(1));
        assertThat(sessionsOn(target)).isEqualTo(1);
    }

    @Test
    void aTargetThatStopsAnsweringIsNotKeptWarm() throws Exception {
        TestDatabase doomed = TestPostgres.createDatabase("warm_pool_doomed");
        PostgresUrl url = PostgresUrl.parse(doomed.postgresUrl());
        useOnce(url);
        assertThat(pools.minConnections(url)).isEqualTo(OptionalInt.of(1));

        // The target goes away: its session is terminated and the database dropped, so every redial fails.
        target.execute("DROP DATABASE \"" + doomed.name() + "\" WITH (FORCE)");
        for (int attempt = 0; attempt < 2; attempt++) {
            // As a run does: a connection-level failure flushes the lease's pool.
            try (TargetPools.Lease lease = pools.lease(url)) {
                assertThatThrownBy(() -> {
                    try (Connection c = lease.connection()) {
                        c.createStatement().execute("SELECT 1");
                    }
                }).isInstanceOf(SQLException.class);
                lease.flush();
            }
        }

        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(pools.minConnections(url))
                .as("a failing target's pool holds no minimum to redial").isEqualTo(OptionalInt.of(0)));
        pools.closeIdle();
        assertThat(pools.minConnections(url)).as("the sweep does not warm it again").isEqualTo(OptionalInt.of(0));
    }

    private void useOnce(PostgresUrl url) throws SQLException {
        try (TargetPools.Lease lease = pools.lease(url); Connection c = lease.connection()) {
            c.createStatement().execute("SELECT 1");
        }
    }

    private static long sessionsOn(TestDatabase db) {
        return db.queryLong("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    }

    /** A clock the test moves by hand. */
    private static final class MutableClock extends Clock {
        private volatile Instant now;

        MutableClock(Instant start) {
            this.now = start;
        }

        void advance(Duration by) {
            now = now.plus(by);
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
