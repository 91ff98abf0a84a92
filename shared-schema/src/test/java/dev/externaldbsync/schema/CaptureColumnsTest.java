package dev.externaldbsync.schema;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * The update triggers (db/sync V62), read back from the catalog, against the columns the mappings declare they read
 * ({@link Mappings#SOURCE_COLUMNS}, itself checked against the mappings' SQL by MappingSourceColumnsTest): each trigger
 * fires only for its {@code UPDATE OF} list, and its function's first comparison decides whether the row changed. A
 * column a mapping reads but the list or the comparison leaves out would be a change that never syncs; a column they
 * name but no mapping reads would re-sync unchanged rows.
 */
class CaptureColumnsTest {

    /** {@code OLD."column"}: what a trigger function compares. */
    private static final Pattern OLD_COLUMN = Pattern.compile("(?i)\\bOLD\\.\"?(\\w+)\"?");

    /** Upstream's mark: an explicit mark is captured by its own trigger, never by the update trigger's comparison. */
    private static final String FLAG = "shouldUpdateSequenceId";

    private static TestDatabase db;

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("capture_columns");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
    }

    static List<String> sourceTables() {
        return SourceTables.NAMES;
    }

    @Test
    void everySourceTableIsReadBySomeMapping() {
        assertThat(Mappings.SOURCE_COLUMNS.keySet()).containsAll(SourceTables.NAMES);
    }

    @ParameterizedTest
    @MethodSource("sourceTables")
    void theUpdateTriggerFiresForExactlyTheColumnsTheMappingsRead(String table) {
        assertThat(updateTriggerColumns(table)).as("UPDATE OF list of %s", table)
                .doesNotContain(FLAG)
                .containsExactlyInAnyOrderElementsOf(Mappings.SOURCE_COLUMNS.get(table));
    }

    @ParameterizedTest
    @MethodSource("sourceTables")
    void theUpdateFunctionFirstComparesExactlyTheColumnsTheMappingsRead(String table) {
        String first = firstCondition(updateFunctionSource(table));

        Set<String> compared = oldColumns(first);
        assertThat(compared).as("an explicit mark has its own BEFORE trigger").doesNotContain(FLAG);
        assertThat(compared).as("columns compared by %s", first)
                .containsExactlyInAnyOrderElementsOf(Mappings.SOURCE_COLUMNS.get(table));
    }

    @ParameterizedTest
    @MethodSource("sourceTables")
    void theUpdateTriggerHasNoWhenClauseToCompilePerStatement(String table) {
        assertThat(db.queryValue("""
                SELECT tgqual IS NULL FROM pg_trigger WHERE tgrelid = ?::regclass AND tgname = ?""",
                "\"" + table + "\"", table + "_sync_change_update")).isEqualTo(true);
    }

    @ParameterizedTest
    @MethodSource("sourceTables")
    void theUpdateFunctionRunsAsItsOwnerWithAPinnedSearchPath(String table) {
        assertThat(db.queryValue("""
                SELECT p.prosecdef FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                WHERE t.tgrelid = ?::regclass AND t.tgname = ?""",
                "\"" + table + "\"", table + "_sync_change_update")).isEqualTo(true);
        assertThat(db.queryValue("""
                SELECT array_to_string(p.proconfig, ',') FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                WHERE t.tgrelid = ?::regclass AND t.tgname = ?""",
                "\"" + table + "\"", table + "_sync_change_update")).asString().startsWith("search_path=");
    }

    @ParameterizedTest
    @MethodSource("sourceTables")
    void eachSourceTableHasOnlyTheFourChangeLogTriggers(String table) {
        assertThat(db.queryRows("""
                SELECT tgname FROM pg_trigger WHERE tgrelid = ?::regclass AND NOT tgisinternal ORDER BY tgname""",
                "\"" + table + "\"").stream().map(r -> (String) r.get(0)).toList())
                .containsExactly(table + "_sync_change_delete", table + "_sync_change_explicit_mark",
                        table + "_sync_change_insert", table + "_sync_change_update");
    }

    @Test
    void aPrimaryChannelsUserEntryComparesWhatTheUsersMappingReadsOfTheChannel() {
        String derived = derivedCondition("sync_change_contact_channel_update", "'ProjectUser'");

        assertThat(oldColumns(derived)).as(derived)
                .containsAll(Mappings.USERS.sourceColumns().get("ContactChannel"));
    }

    @Test
    void aTeamsInvitationEntriesCompareWhatTheInvitationsMappingReadsOfTheTeam() {
        String derived = derivedCondition("sync_change_team_update", "'VerificationCode_TEAM_INVITATION'");

        assertThat(oldColumns(derived)).as(derived)
                .containsAll(Mappings.TEAM_INVITATIONS.sourceColumns().get("Team"));
    }

    @Test
    void noFunctionOfTheOldRowMarkingCaptureIsLeft() {
        assertThat(db.queryRows("""
                SELECT proname FROM pg_proc
                WHERE proname IN ('sync_mark_changed', 'sync_capture_delete', 'sync_notify_change',
                                  'sync_mark_channel_owner', 'sync_mark_invitation', 'sync_capture_invitation_delete',
                                  'sync_mark_team_invitations')""")).isEmpty();
        assertThat(db.queryRows("SELECT tgname FROM pg_trigger WHERE tgrelid = '\"DeletedRow\"'::regclass AND NOT tgisinternal"))
                .isEmpty();
    }

    private static List<String> updateTriggerColumns(String table) {
        return db.queryRows("""
                SELECT a.attname FROM pg_trigger t
                JOIN LATERAL unnest(t.tgattr::int2[]) AS k(attnum) ON true
                JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = k.attnum
                WHERE t.tgrelid = ?::regclass AND t.tgname = ?""",
                "\"" + table + "\"", table + "_sync_change_update").stream().map(r -> (String) r.get(0)).toList();
    }

    private static String updateFunctionSource(String table) {
        return (String) db.queryValue("""
                SELECT p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                WHERE t.tgrelid = ?::regclass AND t.tgname = ?""",
                "\"" + table + "\"", table + "_sync_change_update");
    }

    /** The condition of the function's first {@code IF}: from it to its {@code THEN}. */
    private static String firstCondition(String source) {
        int start = source.indexOf("IF ");
        assertThat(start).as("the function compares before it writes").isNotNegative();
        assertThat(source.indexOf("INSERT")).as("no entry is written before the first comparison").isGreaterThan(start);
        return source.substring(start, source.indexOf("THEN", start));
    }

    /**
     * The condition of the IF that guards the INSERT of {@code tableLiteral} entries in {@code function}: from the last
     * {@code IF} before the literal to its {@code THEN}.
     */
    private static String derivedCondition(String function, String tableLiteral) {
        String source = (String) db.queryValue("SELECT prosrc FROM pg_proc WHERE proname = ?", function);
        int literal = source.indexOf(tableLiteral);
        assertThat(literal).as("%s writes %s", function, tableLiteral).isPositive();
        int start = source.lastIndexOf("IF ", literal);
        int end = source.indexOf("THEN", start);
        assertThat(start).isNotNegative();
        return source.substring(start, end);
    }

    private static Set<String> oldColumns(String sql) {
        Set<String> columns = new LinkedHashSet<>();
        Matcher m = OLD_COLUMN.matcher(sql);
        while (m.find()) {
            columns.add(m.group(1));
        }
        return columns;
    }
}
