package dev.externaldbsync.schema;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * Every column of every source table, changed alone (db/sync V60): an update of a column no mapping reads writes no
 * entry, an update of a column some mapping reads writes exactly one, a key change writes the old and the new key, and
 * an upstream writer's rise of "shouldUpdateSequenceId" is a change. The columns come from the catalog, so a column
 * Stack Auth adds is checked too; the mapped ones from {@link Mappings#SOURCE_COLUMNS}.
 * <p>
 * This class's own database has the tables' CHECK and FOREIGN KEY constraints dropped: they are Stack Auth's business
 * rules (an email's status columns move together, a membership needs its user), not capture's, and without them each
 * column can be changed on its own.
 */
class SourceTableCaptureTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Upstream's own columns: the rule for them is the upstream-writer test's, not the unmapped one's. */
    private static final Set<String> UPSTREAM = Set.of("sequenceId", "shouldUpdateSequenceId");

    private static TestDatabase db;
    private static Tenancy tenancy;

    /** A row as the statement that wrote it returned it: its ctid (valid until its next update) and its values. */
    private record Row(String ctid, JsonNode values) {
    }

    /** An entry as written: its tenancy, table and key. */
    private record Written(UUID tenancyId, String tableName, Map<String, String> key) {
    }

    /**
     * One column of a source table, from the catalog; {@code fixed}: a NOT NULL enum of one label (this schema's
     * "ContactChannelType" is only EMAIL), which no update can change.
     */
    private record Column(String name, String type, boolean isEnum, boolean generated, boolean fixed) {
    }

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("capture_columns_each");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        tenancy = new StackAuthFixtures(db).createTenancy();
        db.execute("""
                DO $$
                DECLARE c RECORD;
                BEGIN
                    FOR c IN SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
                             WHERE contype IN ('c', 'f') AND conrelid::regclass::text = ANY (ARRAY[%s])
                    LOOP
                        EXECUTE format('ALTER TABLE %%s DROP CONSTRAINT %%I', c.tbl, c.conname);
                    END LOOP;
                END $$""".formatted(String.join(", ",
                SourceTables.NAMES.stream().map(t -> "'\"" + t + "\"'").toList())));
    }

    static List<String> sourceTables() {
        return SourceTables.NAMES;
    }

    @ParameterizedTest
    @MethodSource("sourceTables")
    void anInsertAnUpdateAndADeleteEachWriteOneEntryWithTheRowsKey(String table) {
        Row[] row = new Row[1];
        assertThat(written(() -> row[0] = insert(table))).as("insert").containsExactly(entryOf(table, row[0]));

        Column mapped = columns(table).stream()
                .filter(c -> !c.generated() && !keyish(table).contains(c.name())
                        && Mappings.SOURCE_COLUMNS.get(table).contains(c.name()))
                // an invitation moved to a project without a tenancy has no entries left to write
                .filter(c -> !Set.of("projectId", "branchId").contains(c.name()))
                .findFirst().orElseThrow();
        assertThat(written(() -> row[0] = change(table, row[0], mapped))).as("update of %s", mapped.name())
                .containsExactly(entryOf(table, row[0]));

        assertThat(written(() -> delete(table, row[0]))).as("delete").containsExactly(entryOf(table, row[0]));
    }

    @ParameterizedTest
    @MethodSource("sourceTables")
    void anUpdateOfAColumnNoMappingReadsWritesNoEntry(String table) {
        Map<String, List<Written>> writtenByColumn = new LinkedHashMap<>();
        for (Column column : columns(table)) {
            if (column.generated() || column.fixed() || UPSTREAM.contains(column.name())
                    || Mappings.SOURCE_COLUMNS.get(table).contains(column.name())) {
                continue;
            }
            Row row = insert(table);
            writtenByColumn.put(column.name(), written(() -> change(table, row, column)));
        }

        assertThat(writtenByColumn.keySet()).as("unmapped columns of %s", table)
                .containsAll(UNMAPPED_EXAMPLES.getOrDefault(table, List.of()));
        assertThat(writtenByColumn).allSatisfy((column, written) -> assertThat(written).as(column).isEmpty());
    }

    @ParameterizedTest
    @MethodSource("sourceTables")
    void anUpdateOfEachColumnAMappingReadsWritesExactlyOneEntry(String table) {
        Map<String, List<Written>> writtenByColumn = new LinkedHashMap<>();
        for (Column column : columns(table)) {
            if (column.generated() || column.fixed() || keyish(table).contains(column.name())
                    || !Mappings.SOURCE_COLUMNS.get(table).contains(column.name())) {
                continue;
            }
            Row row = insert(table);
            writtenByColumn.put(column.name(), written(() -> change(table, row, column)).stream()
                    .filter(w -> w.tableName().equals(SourceTables.entryTable(table))).toList());
        }

        assertThat(writtenByColumn).isNotEmpty();
        assertThat(writtenByColumn).allSatisfy((column, written) -> assertThat(written).as(column).hasSize(1));
    }

    @ParameterizedTest
    @MethodSource("sourceTables")
    void anUpdateThatSetsEveryMappedColumnToItsOwnValueWritesNoEntry(String table) {
        Row row = insert(table);
        String sameValues = Mappings.SOURCE_COLUMNS.get(table).stream()
                .filter(name -> columns(table).stream().anyMatch(c -> c.name().equals(name) && !c.generated()))
                .map(name -> "\"" + name + "\" = r.\"" + name + "\"")
                .collect(java.util.stream.Collectors.joining(", "));

        assertThat(written(() -> assertThat(update(table, row, sameValues, "true")).isNotNull()))
                .as("the trigger fires for the SET list, the function finds nothing changed").isEmpty();
    }

    @ParameterizedTest
    @MethodSource("sourceTables")
    void aKeyChangeWritesTheOldAndTheNewKey(String table) {
        for (String keyColumn : keyish(table)) {
            Column column = columns(table).stream().filter(c -> c.name().equals(keyColumn)).findFirst().orElseThrow();
            Row before = insert(table);
            Row[] after = new Row[1];

            List<Written> written = written(() -> after[0] = change(table, before, column));

            assertThat(written).as(keyColumn).containsExactlyInAnyOrder(entryOf(table, after[0]), entryOf(table, before));
        }
    }

    @ParameterizedTest
    @MethodSource("sourceTables")
    void anUpstreamWritersMarkIsAChangeEveryTimeAndIsClearedAtOnce(String table) {
        Row row = insert(table);
        Row[] current = { row };
        assertThat(row.values().get("shouldUpdateSequenceId").asBoolean()).as("a new row is not marked").isFalse();

        assertThat(written(() -> current[0] = set(table, current[0], "shouldUpdateSequenceId", "false")))
                .as("writing the flag false").isEmpty();
        assertThat(written(() -> current[0] = set(table, current[0], "sequenceId", "nextval('global_seq_id')")))
                .as("an old sequencer's stamp").isEmpty();
        assertThat(written(() -> current[0] = set(table, current[0], "shouldUpdateSequenceId", "true")))
                .as("an explicit mark").containsExactly(entryOf(table, row));
        assertThat(current[0].values().get("shouldUpdateSequenceId").asBoolean()).as("the mark is cleared").isFalse();
        assertThat(written(() -> current[0] = set(table, current[0], "shouldUpdateSequenceId", "true")))
                .as("the next explicit mark").containsExactly(entryOf(table, row));
    }

    @Test
    void anUnmappedColumnThatChangesAMappedGeneratedColumnWritesAnEntry() {
        Row row = insert("EmailOutbox");
        row = set("EmailOutbox", row, "renderedByWorkerId", "gen_random_uuid()");
        row = set("EmailOutbox", row, "startedRenderingAt", "now()");
        row = set("EmailOutbox", row, "finishedRenderingAt", "now()");
        assertThat(row.values().get("status").asText()).isEqualTo("SCHEDULED");
        Row[] queued = new Row[1];
        Row rendered = row;

        List<Written> written = written(() -> queued[0] = set("EmailOutbox", rendered, "isQueued", "true"));

        assertThat(queued[0].values().get("status").asText()).isEqualTo("QUEUED");
        assertThat(written).as("\"isQueued\" is read by no mapping, but \"status\" is generated from it")
                .containsExactly(entryOf("EmailOutbox", rendered));
    }

    /** The issue's own examples of columns no mapping reads: each must be among those the test changes. */
    private static final Map<String, List<String>> UNMAPPED_EXAMPLES = Map.of(
            "ProjectUser", List.of("lastActiveAt", "updatedAt", "totpSecret", "requiresTotpMfa"),
            "ContactChannel", List.of("updatedAt"),
            "VerificationCode", List.of("attemptCount", "usedAt", "code", "redirectUrl", "updatedAt"),
            "ProjectUserRefreshToken", List.of("lastActiveAtIpInfo", "refreshToken", "updatedAt"),
            "TeamMember", List.of("isSelected", "updatedAt"),
            "EmailOutbox", List.of("renderedHtml", "isQueued", "updatedAt"));

    /** The columns whose change moves an entry's key (the key, and the entry's tenancy). */
    private static List<String> keyish(String table) {
        List<String> keys = new ArrayList<>(SourceTables.ENTRY_KEYS.get(table));
        if (!keys.contains("tenancyId") && !table.equals("VerificationCode")) {
            keys.add("tenancyId");
        }
        return keys;
    }

    private static Written entryOf(String table, Row row) {
        Map<String, String> key = new LinkedHashMap<>();
        for (String k : SourceTables.ENTRY_KEYS.get(table)) {
            key.put(k, row.values().get(k).asText());
        }
        UUID tenancyId = table.equals("VerificationCode") ? tenancy.id()
                : UUID.fromString(row.values().get("tenancyId").asText());
        return new Written(tenancyId, SourceTables.entryTable(table), key);
    }

    private static List<Written> written(Runnable write) {
        long last = db.queryLong("SELECT coalesce(max(\"id\"), 0) FROM \"SyncChange\"");
        write.run();
        List<Written> written = new ArrayList<>();
        for (List<Object> r : db.queryRows("""
                SELECT "tenancyId", "tableName", "primaryKey"::text FROM "SyncChange" WHERE "id" > ? ORDER BY "id"
                """, last)) {
            Map<String, String> key = new LinkedHashMap<>();
            readTree((String) r.get(2)).fields().forEachRemaining(f -> key.put(f.getKey(), f.getValue().asText()));
            written.add(new Written((UUID) r.get(0), (String) r.get(1), key));
        }
        return written;
    }

    private static Row insert(String table) {
        String sql = SourceTables.INSERTS.get(table)
                .replace("INSERT INTO \"" + table + "\" (", "INSERT INTO \"" + table + "\" AS r (")
                .replace("${t}", "'" + tenancy.id() + "'").replace("${p}", "'" + tenancy.projectId() + "'")
                + " RETURNING r.ctid::text, to_jsonb(r)::text";
        return single(sql);
    }

    /** Changes {@code column} of the row to a different value, chosen by its type. */
    private static Row change(String table, Row row, Column column) {
        String c = "\"" + column.name() + "\"";
        String value = column.isEnum()
                ? "(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = '%s'::regtype AND e.enumlabel IS DISTINCT FROM r.%s::text ORDER BY e.enumsortorder LIMIT 1)::%s"
                        .formatted(column.type(), c, column.type())
                : switch (column.type()) {
                    case "uuid" -> "gen_random_uuid()";
                    case "text" -> "coalesce(r." + c + ", '') || 'x'";
                    case "boolean" -> "NOT coalesce(r." + c + ", false)";
                    case "jsonb" -> "coalesce(r." + c + ", '{}') || '{\"changed\": true}'";
                    case "integer", "smallint", "bigint" -> "coalesce(r." + c + ", 0) + 1";
                    case "bytea" -> "coalesce(r." + c + ", '\\x00'::bytea) || '\\x01'::bytea";
                    default -> {
                        if (column.type().startsWith("timestamp")) {
                            yield "coalesce(r." + c + ", '2020-01-01') + interval '1 day'";
                        }
                        throw new IllegalStateException("no change for " + table + "." + column.name() + " of type "
                                + column.type() + ": add one");
                    }
                };
        Row changed = update(table, row, c + " = " + value, "r." + c + " IS DISTINCT FROM " + value);
        assertThat(changed).as("%s.%s changed", table, column.name()).isNotNull();
        return changed;
    }

    private static Row set(String table, Row row, String column, String value) {
        Row changed = update(table, row, "\"" + column + "\" = " + value, "true");
        assertThat(changed).as("%s.%s set", table, column).isNotNull();
        return changed;
    }

    private static Row update(String table, Row row, String assignment, String condition) {
        List<Row> rows = rows("UPDATE \"" + table + "\" AS r SET " + assignment + " WHERE r.ctid = '" + row.ctid()
                + "'::tid AND " + condition + " RETURNING r.ctid::text, to_jsonb(r)::text");
        return rows.isEmpty() ? null : rows.get(0);
    }

    private static void delete(String table, Row row) {
        assertThat(db.update("DELETE FROM \"" + table + "\" WHERE ctid = ?::tid", row.ctid())).isEqualTo(1);
    }

    private static List<Column> columns(String table) {
        return db.queryRows("""
                SELECT a.attname, format_type(a.atttypid, NULL), t.typtype = 'e', a.attgenerated <> '',
                       a.attnotnull AND t.typtype = 'e' AND (SELECT count(*) FROM pg_enum e WHERE e.enumtypid = t.oid) = 1
                FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                WHERE a.attrelid = ?::regclass AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attnum""", "\"" + table + "\"").stream()
                .map(r -> new Column((String) r.get(0), (String) r.get(1), (Boolean) r.get(2), (Boolean) r.get(3),
                        (Boolean) r.get(4)))
                .toList();
    }

    private static Row single(String sql) {
        List<Row> rows = rows(sql);
        assertThat(rows).hasSize(1);
        return rows.get(0);
    }

    private static List<Row> rows(String sql) {
        try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
            List<Row> rows = new ArrayList<>();
            while (rs.next()) {
                rows.add(new Row(rs.getString(1), readTree(rs.getString(2))));
            }
            return rows;
        } catch (SQLException e) {
            throw new IllegalStateException(sql + ": " + e.getMessage(), e);
        }
    }

    private static JsonNode readTree(String json) {
        try {
            return JSON.readTree(json);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
