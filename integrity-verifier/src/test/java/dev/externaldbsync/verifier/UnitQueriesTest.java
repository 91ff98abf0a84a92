package dev.externaldbsync.verifier;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.mapping.TargetColumn;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/** The Java key order must be exactly the order PostgreSQL sorts both streams in. */
class UnitQueriesTest {

    @Test
    void uuidKeysCompareInPostgresUuidOrder() {
        TestDatabase db = TestPostgres.createDatabase("iv_order");
        List<String> ids = new ArrayList<>(List.of("00000000-0000-0000-0000-000000000000",
                "7fffffff-ffff-ffff-ffff-ffffffffffff", "80000000-0000-0000-0000-000000000000",
                "ffffffff-ffff-ffff-ffff-ffffffffffff", "0a000000-0000-0000-0000-000000000000",
                "a0000000-0000-0000-0000-000000000000", "9fffffff-0000-0000-0000-000000000000"));
        for (int i = 0; i < 200; i++) {
            ids.add(UUID.randomUUID().toString());
        }
        @SuppressWarnings("unchecked")
        List<String> postgres = db.queryRows("SELECT u::text FROM unnest(?::uuid[]) AS u ORDER BY u",
                (Object) ids.toArray(String[]::new)).stream().map(r -> (String) r.get(0)).toList();
        UnitQueries q = new UnitQueries(Mappings.USERS, null);
        int width = Mappings.USERS.columns().size();
        List<String> java = ids.stream().sorted(Comparator.comparing(id -> row(id, width), q::compareKeys)).toList();
        assertThat(java).containsExactlyElementsOf(postgres);
    }

    @Test
    void textKeysCompareInCollateCOrderAndIntegersNumerically() {
        TestDatabase db = TestPostgres.createDatabase("iv_order");
        List<String> texts = List.of("b", "B", "a", "ä", "Z", "z", "𝔸", "\uFFFD", "a b", "ab", "a-b", "10", "9");
        @SuppressWarnings("unchecked")
        List<String> postgres = db.queryRows("SELECT t FROM unnest(?::text[]) AS t ORDER BY t COLLATE \"C\"",
                (Object) texts.toArray(String[]::new)).stream().map(r -> (String) r.get(0)).toList();
        assertThat(texts.stream().sorted(UnitQueries::compareCodePoints).toList()).containsExactlyElementsOf(postgres);

        Mapping numbered = new Mapping("numbered", "X", "X", List.of("n", "name"),
                List.of(new TargetColumn("n", "bigint"), new TargetColumn("name", "text")), List.of(), null, "SELECT 1");
        UnitQueries q = new UnitQueries(numbered, null);
        assertThat(q.compareKeys(new String[] {"9", "a"}, new String[] {"10", "a"})).isNegative();
        assertThat(q.compareKeys(new String[] {"10", "b"}, new String[] {"10", "a"})).isPositive();
        assertThat(q.targetSql()).contains("ORDER BY t.\"n\", (t.\"name\")::text COLLATE \"C\"");
        assertThat(q.internalSql()).contains("ORDER BY p.\"n\", (p.\"name\")::text COLLATE \"C\"");
    }

    private static String[] row(String id, int width) {
        String[] row = new String[width];
        row[Mappings.USERS.keyIndexes()[0]] = id;
        return row;
    }
}
