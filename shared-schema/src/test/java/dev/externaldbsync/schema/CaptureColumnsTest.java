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
 * The update triggers' WHEN clauses (db/sync V60), read back from the catalog, against the columns the mappings
 * declare they read ({@link Mappings#SOURCE_COLUMNS}, itself checked against the mappings' SQL by
 * MappingSourceColumnsTest): a column a mapping reads but the clause does not compare would be a change that never
 * syncs; a column the clause compares but no mapping reads would re-sync unchanged rows.
 */
class CaptureColumnsTest {

    /** {@code OLD."column"}: what a WHEN clause or trigger function compares. */
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
    void theUpdateTriggerComparesExactlyTheColumnsTheMappingsRead(String table) {
        String when = updateTriggerDefinition(table);

        Set<String> compared = oldColumns(when);
        assertThat(compared).as("an explicit mark has its own BEFORE trigger").doesNotContain(FLAG);
        assertThat(compared).as("columns compared by %s", when)
                .containsExactlyInAnyOrderElementsOf(Mappings.SOURCE_COLUMNS.get(table));
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

    private static String updateTriggerDefinition(String table) {
        return (String) db.queryValue("""
                SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = ?::regclass AND tgname = ?""",
                "\"" + table + "\"", table + "_sync_change_update");
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
