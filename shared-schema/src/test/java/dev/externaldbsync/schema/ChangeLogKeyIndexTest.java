package dev.externaldbsync.schema;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * db/sync V63 and V63_1: {@code "SyncChange_key_idx"} becomes a hash index on {@code "primaryKey"}, under the same
 * name, on a log that already holds entries, and a key lookup shaped like its readers' is served by it.
 */
class ChangeLogKeyIndexTest {

    /** The verifier's pending check of one key: unstamped, or stamped above a cursor. */
    private static final String KEY_LOOKUP = """
            SELECT "id" FROM "SyncChange"
            WHERE "tenancyId" = ? AND "tableName" = ? AND ("sequenceId" > ? OR "sequenceId" IS NULL)
              AND "primaryKey" = ?::jsonb""";

    @Test
    void aLogWrittenBeforeTheHashIndexKeepsEveryKeyFindableThroughIt() throws Exception {
        TestDatabase db = TestPostgres.createDatabase("key_index");
        PartialMigration.upTo(db.dataSource(), SchemaMigrations.INTERNAL, "latest");
        PartialMigration.upTo(db.dataSource(), SchemaMigrations.SYNC, "62");
        assertThat(indexDefinition(db)).as("at V62").contains("USING btree");
        StackAuthFixtures fixtures = new StackAuthFixtures(db);
        Tenancy tenancy = fixtures.createTenancy();
        Tenancy other = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Ada", "ada@example.com");
        fixtures.renameUser(tenancy, user, "Ada L.");
        fixtures.createUser(tenancy, "Grace", "grace@example.com");
        fixtures.createUser(other, "Edsger", null);
        // a stamped entry, as the sequencer leaves one: the lookup must find it above a lower cursor only
        db.update("""
                UPDATE "SyncChange" SET "sequenceId" = nextval('global_seq_id')
                WHERE "id" = (SELECT min("id") FROM "SyncChange" WHERE "tableName" = 'ProjectUser')""");

        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);

        assertThat(indexDefinition(db)).contains("USING hash (\"primaryKey\")");
        assertThat(db.queryValue("""
                SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = '"SyncChange_key_idx"'::regclass""")).isEqualTo(true);
        assertThat(db.queryValue("SELECT to_regclass('\"SyncChange_key_hash_idx\"')")).as("the build name is gone").isNull();
        assertThat(SchemaMigrations.pending(db.dataSource(), SchemaMigrations.SYNC)).isEmpty();

        List<List<Object>> entries = db.queryRows("""
                SELECT "id", "tenancyId", "tableName", "primaryKey"::text FROM "SyncChange" ORDER BY "id\"""");
        assertThat(entries).hasSizeGreaterThanOrEqualTo(7);
        try (Connection c = db.connect()) {
            try (Statement s = c.createStatement()) {
                // A log of a handful of entries would otherwise be scanned; the plan is what is checked here.
                s.execute("SET enable_seqscan = off");
            }
            for (List<Object> entry : entries) {
                List<Long> found = lookup(c, (UUID) entry.get(1), (String) entry.get(2), -1, (String) entry.get(3));
                List<Long> expected = new ArrayList<>();
                for (List<Object> e : entries) {
                    if (e.get(1).equals(entry.get(1)) && e.get(2).equals(entry.get(2)) && e.get(3).equals(entry.get(3))) {
                        expected.add((Long) e.get(0));
                    }
                }
                assertThat(found).as("entries of key %s", entry.get(3)).containsExactlyInAnyOrderElementsOf(expected);
            }
            List<Object> first = entries.get(0);
            long stamp = db.queryLong("SELECT \"sequenceId\" FROM \"SyncChange\" WHERE \"id\" = ?", first.get(0));
            assertThat(lookup(c, (UUID) first.get(1), (String) first.get(2), stamp, (String) first.get(3)))
                    .as("at the entry's own stamp only the key's unstamped entries are left")
                    .doesNotContain((Long) first.get(0));
            assertThat(lookup(c, UUID.randomUUID(), (String) first.get(2), -1, (String) first.get(3)))
                    .as("the same key under another tenancy").isEmpty();

            StringBuilder plan = new StringBuilder();
            try (PreparedStatement ps = c.prepareStatement("EXPLAIN " + KEY_LOOKUP)) {
                bind(ps, (UUID) first.get(1), (String) first.get(2), -1, (String) first.get(3));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        plan.append(rs.getString(1)).append('\n');
                    }
                }
            }
            assertThat(plan.toString()).contains("SyncChange_key_idx")
                    .doesNotContain("SyncChange_stamped_idx", "SyncChange_unstamped_idx");
        }
    }

    private static String indexDefinition(TestDatabase db) {
        return (String) db.queryValue("SELECT pg_get_indexdef('\"SyncChange_key_idx\"'::regclass)");
    }

    private static List<Long> lookup(Connection c, UUID tenancy, String table, long above, String key) throws Exception {
        List<Long> ids = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(KEY_LOOKUP)) {
            bind(ps, tenancy, table, above, key);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getLong(1));
                }
            }
        }
        return ids;
    }

    private static void bind(PreparedStatement ps, UUID tenancy, String table, long above, String key) throws Exception {
        ps.setObject(1, tenancy);
        ps.setString(2, table);
        ps.setLong(3, above);
        ps.setString(4, key);
    }
}
