package dev.externaldbsync.load;

import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.util.List;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/** The COPY-ceiling phase on a small database: the same rows the pipeline would produce, staged and upserted. */
class CopyCeilingTest {

    @Test
    void movesEveryProjectedRowOfTheTenancyAndIsIdempotent() throws Exception {
        TestDatabase internal = FixtureTest.migratedDatabase("bench_copy_internal");
        TestDatabase target = TestPostgres.createDatabase("bench_copy_target");
        FixtureTest.runFixture("--internal-url", internal.postgresUrl(), "--huge-tenancies", "1", "--users-per-huge",
                "300", "--target-url", target.postgresUrl(), "--seed", "copytest");
        // A second, small tenancy that must not be copied.
        FixtureTest.runFixture("--internal-url", internal.postgresUrl(), "--small-tenancies", "5",
                "--target-url", target.postgresUrl(), "--seed", "other");
        UUID tenancy = (UUID) internal.queryValue("SELECT md5('copytest:h:10000001:t')::uuid");

        CopyCeiling.Result first;
        CopyCeiling.Result second;
        try (Connection in = internal.connect(); Connection out = target.connect()) {
            CopyCeiling ceiling = new CopyCeiling(in, out);
            first = ceiling.run(tenancy, List.of(Mappings.USERS, Mappings.CONTACT_CHANNELS));
            second = ceiling.run(tenancy, List.of(Mappings.USERS, Mappings.CONTACT_CHANNELS));
        }

        assertThat(first.rows()).isEqualTo(600);
        assertThat(first.rowsPerSecond()).isPositive();
        assertThat(second.rows()).as("a second run upserts the same rows").isEqualTo(600);
        assertThat(target.queryLong("SELECT count(*) FROM users")).isEqualTo(300);
        assertThat(target.queryLong("SELECT count(*) FROM contact_channels")).isEqualTo(300);
        assertThat(target.queryLong("""
                SELECT count(*) FROM users u JOIN contact_channels c ON c.user_id = u.id AND c.is_primary
                WHERE u.primary_email = c.value AND u.display_name LIKE 'User %'
                  AND u.client_metadata = '{"fixture": true}'::jsonb""")).isEqualTo(300);
        assertThat(target.queryLong("SELECT count(*) FROM pg_tables WHERE tablename LIKE '_bench_stage%'"))
                .as("staging tables are dropped at commit").isZero();
    }
}
