package dev.externaldbsync.load;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import org.junit.jupiter.api.Test;

import java.io.PrintStream;

import static org.assertj.core.api.Assertions.assertThat;

class TriggerOverheadTest {

    @Test
    void preparesTheSameTenanciesWithAndWithoutTheSyncLayer() throws Exception {
        TestDatabase base = TestPostgres.createDatabase("bench_trig_base");
        TestDatabase sync = TestPostgres.createDatabase("bench_trig_sync");
        TriggerOverhead overhead = new TriggerOverhead("pgbench", PostgresUrl.parse(base.postgresUrl()),
                PostgresUrl.parse(sync.postgresUrl()), 25, 1, 1, 1, new PrintStream(PrintStream.nullOutputStream()));

        overhead.prepare();

        for (TestDatabase db : new TestDatabase[] {base, sync}) {
            assertThat(db.queryLong("SELECT count(*) FROM \"ProjectUser\"")).isEqualTo(25);
            assertThat(db.queryLong("SELECT count(*) FROM \"ContactChannel\" WHERE \"isPrimary\" = 'TRUE'")).isEqualTo(25);
            // The script computes the fixture's ids itself: tenancy 7's user must be where it looks for it.
            assertThat(db.queryLong("""
                    SELECT count(*) FROM "ProjectUser"
                    WHERE "tenancyId" = md5(concat('pgbench', chr(58), 's', chr(58), 7, chr(58), 't'))::uuid
                      AND "projectUserId" = md5(concat(concat('pgbench', chr(58), 's', chr(58), 7), chr(58), 'u', chr(58), '1'))::uuid
                      AND "mirroredProjectId" = md5(concat('pgbench', chr(58), 's', chr(58), 7, chr(58), 'p'))::uuid::text""")).isEqualTo(1);
        }
        assertThat(base.queryLong("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")).as("no sync layer").isZero();
        assertThat(base.queryLong("SELECT count(*) FROM pg_proc WHERE proname LIKE 'sync\\_%'")).isZero();
        assertThat(sync.queryLong("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE '%sync%'"))
                .isGreaterThan(20);
        assertThat(sync.queryLong("SELECT count(*) FROM \"ProjectUser\" WHERE \"shouldUpdateSequenceId\""))
                .as("stamped, as the sequencer leaves rows").isZero();
        assertThat(TriggerOverhead.scripts()).containsOnlyKeys("users", "teams");
        assertThat(TriggerOverhead.scripts().values()).allSatisfy(script -> assertThat(colonsInLiterals(script))
                .as("pgbench substitutes every :name, even in a literal").isZero());
    }

    private static int colonsInLiterals(String sql) {
        int colons = 0;
        boolean inLiteral = false;
        for (char ch : sql.toCharArray()) {
            if (ch == '\'') {
                inLiteral = !inLiteral;
            } else if (ch == ':' && inLiteral) {
                colons++;
            }
        }
        return colons;
    }
}
