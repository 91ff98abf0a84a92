package dev.externaldbsync.engine.read;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * The probe that lets a run skip what did not change, on a real migrated internal database (plain JUnit): it
 * reports exactly the mappings with stamped entries above each tenancy's cursors, for many tenancies in one
 * statement.
 */
class ChangedMappingsTest {

    private static TestDatabase db;
    private static StackAuthFixtures fixtures;
    private static final ChangedMappings PROBE = new ChangedMappings(30);
    private static final int USERS = Mappings.ALL.indexOf(Mappings.USERS);

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("changed_mappings");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        fixtures = new StackAuthFixtures(db);
    }

    /** A tenancy with no change-log entries yet (whatever creating it logged is removed). */
    private static Tenancy emptyTenancy() {
        Tenancy tenancy = fixtures.createTenancy();
        db.update("DELETE FROM \"SyncChange\" WHERE \"tenancyId\" = ?", tenancy.id());
        return tenancy;
    }

    private static void stampAll() {
        db.update("UPDATE \"SyncChange\" SET \"sequenceId\" = nextval('global_seq_id') WHERE \"sequenceId\" IS NULL");
    }

    /** Appends a stamped entry of {@code mapping}'s table and returns its sequence id. */
    private static long entry(Tenancy tenancy, Mapping mapping) {
        return db.queryLong("""
                INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
                VALUES (?, ?, ?::jsonb, nextval('global_seq_id')) RETURNING "sequenceId\"""", tenancy.id(),
                mapping.tombstoneTable(), "{\"id\": \"" + UUID.randomUUID() + "\"}");
    }

    private static long[] cursors(long value) {
        long[] cursors = new long[Mappings.ALL.size()];
        Arrays.fill(cursors, value);
        return cursors;
    }

    @Test
    void aTenancyWhoseOnlyEntriesAreOfUsersReportsOnlyUsers() throws Exception {
        Tenancy tenancy = emptyTenancy();
        entry(tenancy, Mappings.USERS);
        try (Connection c = db.connect()) {
            assertThat(PROBE.changed(c, tenancy.id(), cursors(-1))).containsExactly(Mappings.USERS.name());
        }
    }

    @Test
    void entriesAtOrBelowTheCursorAreNotReportedAndOneAboveIs() throws Exception {
        Tenancy tenancy = emptyTenancy();
        long first = entry(tenancy, Mappings.USERS);
        long[] cursors = cursors(-1);
        try (Connection c = db.connect()) {
            cursors[USERS] = first;
            assertThat(PROBE.changed(c, tenancy.id(), cursors)).isEmpty();
            long second = entry(tenancy, Mappings.USERS);
            assertThat(PROBE.changed(c, tenancy.id(), cursors)).containsExactly(Mappings.USERS.name());
            cursors[USERS] = second;
            assertThat(PROBE.changed(c, tenancy.id(), cursors)).isEmpty();
        }
    }

    @Test
    void twoTenanciesAreAnsweredInOneStatementEachWithItsOwnMappings() throws Exception {
        Tenancy a = emptyTenancy();
        Tenancy b = emptyTenancy();
        Mapping other = Mappings.ALL.stream().filter(m -> !m.tombstoneTable().equals(Mappings.USERS.tombstoneTable()))
                .findFirst().orElseThrow();
        entry(a, Mappings.USERS);
        entry(b, other);
        try (Connection c = db.connect()) {
            long before = ChangedMappings.statements();
            List<boolean[]> changed = PROBE.changed(c, List.of(new ChangedMappings.Probe(a.id(), cursors(-1)),
                    new ChangedMappings.Probe(b.id(), cursors(-1))));
            assertThat(ChangedMappings.statements() - before).isEqualTo(1);
            assertThat(ChangedMappings.names(changed.get(0))).containsExactly(Mappings.USERS.name());
            assertThat(ChangedMappings.names(changed.get(1))).isEqualTo(sharingTable(other));
        }
    }

    @Test
    void aDeletedUserCountsAsAChangeOfUsers() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Grace", "grace@example.com");
        stampAll();
        long high = db.queryLong("SELECT max(\"sequenceId\") FROM \"SyncChange\" WHERE \"tenancyId\" = ?",
                tenancy.id());
        try (Connection c = db.connect()) {
            assertThat(PROBE.changed(c, tenancy.id(), cursors(high))).isEmpty();
            fixtures.deleteUser(tenancy, user);
            stampAll();
            assertThat(PROBE.changed(c, tenancy.id(), cursors(high))).contains(Mappings.USERS.name());
        }
    }

    @Test
    void unstampedEntriesAndMappingsNotProbedAreNotReported() throws Exception {
        Tenancy tenancy = emptyTenancy();
        db.update("""
                INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey") VALUES (?, ?, '{"id": "x"}'::jsonb)""",
                tenancy.id(), Mappings.USERS.tombstoneTable());
        try (Connection c = db.connect()) {
            assertThat(PROBE.changed(c, tenancy.id(), cursors(-1))).isEmpty();
            entry(tenancy, Mappings.USERS);
            assertThat(PROBE.changed(c, tenancy.id(), cursors(ChangedMappings.NOT_PROBED))).isEmpty();
            assertThat(PROBE.changed(c, tenancy.id(), cursors(-1))).containsExactly(Mappings.USERS.name());
        }
    }

    @Test
    void theProbeIsRenderedFromTheMappingsAndWalksTheStampedIndexBackwards() {
        String sql = ChangedMappings.sql();
        for (Mapping m : Mappings.ALL) {
            assertThat(sql).contains("'" + m.tombstoneTable() + "'");
        }
        assertThat(sql).contains("\"sequenceId\" DESC").contains("\"sequenceId\" IS NOT NULL");
    }

    /** The mappings that read the same change-log table as {@code mapping} (an entry there changes them all). */
    private static Set<String> sharingTable(Mapping mapping) {
        return ChangedMappings.names(toMask(Mappings.ALL.stream()
                .map(m -> m.tombstoneTable().equals(mapping.tombstoneTable())).toList()));
    }

    private static boolean[] toMask(List<Boolean> flags) {
        boolean[] mask = new boolean[flags.size()];
        for (int k = 0; k < mask.length; k++) {
            mask[k] = flags.get(k);
        }
        return mask;
    }
}
