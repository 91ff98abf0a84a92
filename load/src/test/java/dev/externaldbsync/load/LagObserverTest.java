package dev.externaldbsync.load;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.time.Duration;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

class LagObserverTest {

    private static final String INSERT_USER = """
            INSERT INTO users (id, display_name, signed_up_at, server_metadata)
            VALUES (?, 'x', now(), jsonb_build_object('loadCommitMs', (extract(epoch FROM clock_timestamp()) * 1000)::bigint - ?))""";

    @Test
    void seesEachNewStampOnceWithItsAge() throws Exception {
        TestDatabase target = TestPostgres.createDatabase("bench_lag_observer");
        Mappings.USERS.ddl().forEach(target::execute);
        try (Connection c = target.connect()) {
            LagObserver.install(c, "public");
        }
        UUID stamped = UUID.randomUUID();
        Percentiles seen;
        long began = System.nanoTime();
        try (LagObserver observer = LagObserver.start(target.connect(), "public", 2)) {
            target.update(INSERT_USER, stamped, 40);
            target.update("INSERT INTO users (id, display_name, signed_up_at) VALUES (?, 'no stamp', now())", UUID.randomUUID());
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> observer.snapshot().count() == 1);

            target.update("UPDATE users SET display_name = 'renamed' WHERE id = ?", stamped); // same stamp: not a change
            target.update("""
                    UPDATE users SET server_metadata = jsonb_build_object('loadCommitMs',
                        (extract(epoch FROM clock_timestamp()) * 1000)::bigint - 500) WHERE id = ?""", stamped);
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> observer.snapshot().count() == 2);
            seen = observer.snapshot();
        }

        // An age is at least the offset written into the stamp and at most that plus the time this test has run:
        // bounds that hold on a loaded machine as on a quiet one.
        double ranMs = (System.nanoTime() - began) / 1e6;
        assertThat(seen.percentile(50)).isBetween(39.0, 40.0 + ranMs + 1);
        assertThat(seen.max()).isBetween(499.0, 500.0 + ranMs + 1);
        assertThat(target.queryLong("SELECT count(*) FROM \"_bench_lag_log\"")).as("the log is drained").isZero();
    }

    @Test
    void theFinalStateComparisonCountsMissingStaleAndLeftoverUsers() throws Exception {
        TestDatabase internal = FixtureTest.migratedDatabase("bench_lag_internal");
        TestDatabase target = TestPostgres.createDatabase("bench_lag_final");
        FixtureTest.runFixture("--internal-url", internal.postgresUrl(), "--huge-tenancies", "2", "--users-per-huge",
                "3", "--target-url", target.postgresUrl(), "--seed", "lagcmp");
        FixtureTest.runFixture("--internal-url", internal.postgresUrl(), "--small-tenancies", "2",
                "--target-url", target.postgresUrl(), "--seed", "unrelated");
        internal.update("""
                UPDATE "ProjectUser" SET "serverMetadata" = jsonb_build_object('loadCommitMs', 1000 + length("displayName"))""");
        Mappings.USERS.ddl().forEach(target::execute);
        // The target mirrors the six "lagcmp" users exactly...
        var rows = internal.queryRows("""
                SELECT u."projectUserId", u."serverMetadata"::text FROM "ProjectUser" u
                JOIN "Project" p ON p."id" = u."projectId" WHERE p."displayName" LIKE 'load lagcmp:%'""");
        assertThat(rows).hasSize(6);
        for (var row : rows) {
            target.update("INSERT INTO users (id, signed_up_at, server_metadata) VALUES (?, now(), ?::jsonb)",
                    row.get(0), row.get(1));
        }
        PostgresUrl in = PostgresUrl.parse(internal.postgresUrl());
        PostgresUrl out = PostgresUrl.parse(target.postgresUrl());
        assertThat(Bench.compareFinalState(in, out, "lagcmp")).isZero();

        // ...then one stale stamp, one missing user and one user that no longer exists internally.
        target.update("UPDATE users SET server_metadata = '{\"loadCommitMs\": 1}' WHERE id = ?", rows.get(0).get(0));
        target.update("DELETE FROM users WHERE id = ?", rows.get(1).get(0));
        target.update("INSERT INTO users (id, signed_up_at) VALUES (?, now())", UUID.randomUUID());

        assertThat(Bench.compareFinalState(in, out, "lagcmp")).isEqualTo(3);
    }
}
