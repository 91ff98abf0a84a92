package dev.externaldbsync.mapping;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/**
 * The capture triggers skip an update that leaves every column some mapping reads unchanged, so each mapping's
 * declared source columns must be exactly what its SQL reads: every {@code alias."column"} of the fetch (both forms)
 * and of the projection is checked against the declaration, and every declared column must be read. A mapping that
 * starts reading a new column without declaring it fails here, not in production as a change that never syncs.
 */
class MappingSourceColumnsTest {

    /** {@code FROM "Table" alias} / {@code JOIN "Table" alias}. */
    private static final Pattern TABLE_ALIAS = Pattern.compile("(?:FROM|JOIN)\\s+\"(\\w+)\"\\s+(?:AS\\s+)?(\\w+)");

    /** {@code alias."column"}. */
    private static final Pattern REFERENCE = Pattern.compile("\\b([A-Za-z_]\\w*)\\.\"(\\w+)\"");

    /** Aliases of derived tables and of the log itself, whose columns are not source columns. */
    private static final Set<String> DERIVED = Set.of(FetchSql.CHANGE, "pe", "st", "x");

    /** The change log, read by every mapping, is not a source. */
    private static final String LOG = "SyncChange";

    @Test
    void everyColumnTheSqlOfAMappingReadsIsDeclaredAndEveryDeclaredColumnIsRead() {
        FetchRange.Binding outer = new FetchRange.Binding("x.\"t\"", "x.\"c\"");
        for (Mapping mapping : Mappings.ALL) {
            Map<String, Set<String>> read = new TreeMap<>();
            List<String> sqls = new java.util.ArrayList<>(List.of(mapping.fetchSql(), FetchSql.lateral(mapping, outer, 8),
                    mapping.projectionSql()));
            if (mapping.scan() != null) {
                sqls.add("SELECT " + mapping.scan().select() + " FROM \"" + mapping.sourceTable() + "\" "
                        + mapping.scan().alias() + "\n" + mapping.scan().joins());
            }
            for (String sql : sqls) {
                read(mapping.name(), sql).forEach((t, c) -> read.computeIfAbsent(t, k -> new LinkedHashSet<>()).addAll(c));
            }
            Map<String, Set<String>> declared = new TreeMap<>();
            mapping.sourceColumns().forEach((t, c) -> declared.put(t, new LinkedHashSet<>(c)));
            assertThat(read).as(mapping.name() + " reads exactly what it declares").isEqualTo(declared);
            assertThat(mapping.sourceColumns()).as(mapping.name()).containsKey(mapping.sourceTable());
            mapping.sourceColumns().values().forEach(columns ->
                    assertThat(columns).as(mapping.name() + ": no column twice").doesNotHaveDuplicates());
        }
    }

    @Test
    void theRegistryListsPerSourceTableTheUnionOfWhatEveryMappingReadsThere() {
        Map<String, Set<String>> union = new TreeMap<>();
        for (Mapping mapping : Mappings.ALL) {
            mapping.sourceColumns().forEach((t, c) -> union.computeIfAbsent(t, k -> new LinkedHashSet<>()).addAll(c));
        }
        assertThat(Mappings.SOURCE_COLUMNS).isEqualTo(union);
        // The derived reads the capture's derived entries stand for.
        assertThat(Mappings.SOURCE_COLUMNS.get("ContactChannel")).contains("isPrimary", "value", "isVerified", "type");
        assertThat(Mappings.SOURCE_COLUMNS.get("Team")).contains("mirroredProjectId", "mirroredBranchId", "displayName");
        assertThat(Mappings.SOURCE_COLUMNS.get("ProjectUser")).doesNotContain("lastActiveAt", "sequenceId",
                "shouldUpdateSequenceId", "updatedAt");
        Mappings.SOURCE_COLUMNS.values().forEach(columns -> assertThat(columns)
                .doesNotContain("sequenceId", "shouldUpdateSequenceId"));
    }

    @Test
    void theParserFindsAnUndeclaredColumnAndAnUnknownAlias() {
        assertThat(read("t", "SELECT u.\"lastActiveAt\" FROM \"ProjectUser\" u"))
                .isEqualTo(Map.of("ProjectUser", Set.of("lastActiveAt")));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> read("t", "SELECT q.\"a\" FROM \"ProjectUser\" u"))
                .isInstanceOf(AssertionError.class).hasMessageContaining("q");
    }

    /** Source table → columns referenced in {@code sql} through the table's alias. */
    private static Map<String, Set<String>> read(String mapping, String sql) {
        Map<String, String> tables = new HashMap<>();
        Matcher aliases = TABLE_ALIAS.matcher(sql);
        while (aliases.find()) {
            String previous = tables.put(aliases.group(2), aliases.group(1));
            assertThat(previous).as(mapping + ": alias " + aliases.group(2) + " names one table")
                    .isIn(null, aliases.group(1));
        }
        Map<String, Set<String>> read = new LinkedHashMap<>();
        Matcher references = REFERENCE.matcher(sql);
        while (references.find()) {
            String alias = references.group(1);
            String table = tables.get(alias);
            if (table == null) {
                assertThat(DERIVED).as(mapping + ": alias " + alias + " is a table or a known derived table")
                        .contains(alias);
                continue;
            }
            if (!table.equals(LOG)) {
                read.computeIfAbsent(table, t -> new LinkedHashSet<>()).add(references.group(2));
            }
        }
        return read;
    }
}
