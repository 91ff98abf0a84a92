package dev.externaldbsync.load;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import org.junit.jupiter.api.Test;

import java.io.PrintStream;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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
        assertThat(sync.queryLong("SELECT count(*) FROM \"SyncChange\" WHERE \"sequenceId\" IS NULL"))
                .as("the change log stamped, as the sequencer leaves it").isZero();
        assertThat(sync.queryLong("SELECT count(*) FROM \"SyncChange\""))
                .as("compacted to one entry per key: each tenancy's user and its channel").isEqualTo(50);
        assertThat(overhead.changeLogEntries()).isEqualTo(50);
        assertThat(TriggerOverhead.scripts()).containsOnlyKeys("users", "teams", "lastactive", "signin");
        assertThat(TriggerOverhead.scripts().values()).allSatisfy(script -> assertThat(colonsInLiterals(script))
                .as("pgbench substitutes every :name, even in a literal").isZero());
    }

    @Test
    void everyWorkloadRunsOnBothSidesAndOnlyTheActivityBumpWritesNoChangeLogEntry() throws Exception {
        TestDatabase base = TestPostgres.createDatabase("bench_trig_wl_base");
        TestDatabase sync = TestPostgres.createDatabase("bench_trig_wl_sync");
        TriggerOverhead overhead = new TriggerOverhead("pgbench", PostgresUrl.parse(base.postgresUrl()),
                PostgresUrl.parse(sync.postgresUrl()), 25, 1, 1, 1, new PrintStream(PrintStream.nullOutputStream()));
        overhead.prepare();
        Map<String, String> scripts = TriggerOverhead.scripts();

        Map<String, List<String>> written = new LinkedHashMap<>();
        for (Map.Entry<String, String> script : scripts.entrySet()) {
            long before = sync.queryLong("SELECT coalesce(max(\"id\"), 0) FROM \"SyncChange\"");
            runOnce(base, script.getValue(), 7, 25);
            runOnce(sync, script.getValue(), 7, 25);
            written.put(script.getKey(), sync.queryRows(
                    "SELECT DISTINCT \"tableName\" FROM \"SyncChange\" WHERE \"id\" > ? ORDER BY 1", before)
                    .stream().map(row -> (String) row.get(0)).toList());
        }

        assertThat(written.get("users")).containsExactly("ContactChannel", "ProjectUser");
        assertThat(written.get("teams")).containsExactly("Team", "TeamMember");
        assertThat(written.get("lastactive")).as("an unmapped column: nothing is synced").isEmpty();
        assertThat(written.get("signin")).as("the token is synced, the activity bump is not")
                .containsExactly("ProjectUserRefreshToken");
        assertThat(sync.queryLong("SELECT count(*) FROM \"SyncChange\" WHERE \"tableName\" = 'ProjectUserRefreshToken'"))
                .isEqualTo(1);
        for (TestDatabase db : new TestDatabase[] {base, sync}) {
            assertThat(db.queryLong("SELECT count(*) FROM \"ProjectUserRefreshToken\"")).isEqualTo(1);
            // Both bumps hit the fixture's user of tenancy 7, so the empty change log above is not a missed row.
            assertThat(db.queryLong("""
                    SELECT count(*) FROM "ProjectUser"
                    WHERE "tenancyId" = md5(concat('pgbench', chr(58), 's', chr(58), 7, chr(58), 't'))::uuid
                      AND "lastActiveAt" > "createdAt" + interval '1 millisecond'
                      AND "projectUserId" = md5(concat(concat('pgbench', chr(58), 's', chr(58), 7), chr(58), 'u', chr(58), '1'))::uuid""")).isEqualTo(1);
        }
    }

    /**
     * One transaction of a pgbench script over JDBC, so that the scripts are checked without pgbench installed:
     * {@code \set t …} is pinned to {@code t}, {@code \gset} binds the query's columns, and every {@code :name} is
     * replaced by its value as a literal (pgbench binds it as a parameter of unknown type, which casts alike).
     */
    private static void runOnce(TestDatabase db, String script, int t, int tenancies) throws SQLException {
        Map<String, String> vars = new LinkedHashMap<>();
        vars.put("tenancies", Integer.toString(tenancies));
        StringBuilder statement = new StringBuilder();
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            for (String line : script.split("\n")) {
                if (line.startsWith("\\set ")) {
                    vars.put(line.split("\\s+")[1], Integer.toString(t));
                    continue;
                }
                statement.append(line).append('\n');
                boolean gset = line.endsWith("\\gset");
                if (!gset && !line.strip().endsWith(";")) {
                    continue;
                }
                String sql = substitute(statement.toString().replace("\\gset", ""), vars);
                statement.setLength(0);
                if (gset) {
                    try (ResultSet rs = st.executeQuery(sql)) {
                        assertThat(rs.next()).isTrue();
                        for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
                            vars.put(rs.getMetaData().getColumnLabel(i), rs.getString(i));
                        }
                    }
                } else {
                    st.execute(sql);
                }
            }
        }
        assertThat(statement.toString()).as("every statement of the script was run").isBlank();
    }

    private static String substitute(String sql, Map<String, String> vars) {
        Matcher m = Pattern.compile("(?<!:):([a-z]+)").matcher(sql);
        StringBuilder result = new StringBuilder();
        while (m.find()) {
            String value = vars.get(m.group(1));
            assertThat(value).as("pgbench variable :" + m.group(1) + " is set before it is used").isNotNull();
            m.appendReplacement(result, Matcher.quoteReplacement("'" + value.replace("'", "''") + "'"));
        }
        m.appendTail(result);
        return result.toString();
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
