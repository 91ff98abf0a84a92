package dev.externaldbsync.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/** The one tenancy → config + pause join, on a migrated database. */
class TenancyDirectoryTest {

    private static TestDatabase db;
    private static StackAuthFixtures fixtures;

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("tenancy_directory");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        fixtures = new StackAuthFixtures(db);
    }

    @Test
    void findsTenanciesByIdWithTheirConfigAndPauseInTheRequestedOrder() throws Exception {
        Tenancy configured = fixtures.createTenancy();
        Tenancy bare = fixtures.createTenancy();
        fixtures.configureTargets(configured, Map.of("main", "postgresql://u:p@db.example:5432/x"));
        db.update("INSERT INTO \"ExternalDbSyncTenancyPause\" (\"tenancyId\", \"pausedAt\", \"reason\") "
                + "VALUES (?, now(), 'why')", bare.id());
        UUID unknown = UUID.randomUUID();
        try (Connection c = db.connect()) {
            Map<UUID, TenancyDirectory.Entry> found = TenancyDirectory.byIds(c, List.of(bare.id(), unknown,
                    configured.id()));

            assertThat(found.keySet()).containsExactly(bare.id(), configured.id());
            TenancyDirectory.Entry withConfig = found.get(configured.id());
            assertThat(withConfig.projectId()).isEqualTo(configured.projectId());
            assertThat(withConfig.paused()).isFalse();
            assertThat(withConfig.targets().targets()).extracting(TargetConfig::id).containsExactly("main");
            TenancyDirectory.Entry paused = found.get(bare.id());
            assertThat(paused.paused()).isTrue();
            assertThat(paused.pauseReason()).isEqualTo("why");
            assertThat(paused.config()).isNull();
            assertThat(paused.targets().isEmpty()).isTrue();
            assertThat(TenancyDirectory.byId(c, unknown)).isEmpty();
            assertThat(TenancyDirectory.byIds(c, List.of())).isEmpty();
            assertThat(TenancyDirectory.byProject(c, configured.projectId(), 20)).extracting(
                    TenancyDirectory.Entry::tenancyId).containsExactly(configured.id());
        }
    }

    @Test
    void eachTenancysConfigIsUnpackedOnceHoweverManyColumnsReadIt() throws Exception {
        List<UUID> ids = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Tenancy t = fixtures.createTenancy();
            fixtures.configureTargets(t, Map.of("main", "postgresql://u:p@db" + i + ".example:5432/x"));
            ids.add(t.id());
        }
        String plan;
        try (Connection c = db.connect(); java.sql.PreparedStatement ps = c.prepareStatement(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + TenancyDirectory.ENTRY_COLUMNS + TenancyDirectory.FROM_TENANCIES
                        + "WHERE t.\"id\" = ANY(?::uuid[])")) {
            ps.setArray(1, c.createArrayOf("uuid", ids.toArray()));
            try (java.sql.ResultSet rs = ps.executeQuery()) {
                rs.next();
                plan = rs.getString(1);
            }
        }
        List<com.fasterxml.jackson.databind.JsonNode> unpacks = new ArrayList<>();
        new com.fasterxml.jackson.databind.ObjectMapper().readTree(plan).findParents("Function Name").stream()
                .filter(n -> n.get("Function Name").asText().equals("jsonb_each")).forEach(unpacks::add);
        assertThat(unpacks.stream().mapToLong(n -> n.get("Actual Loops").asLong()).sum())
                .as("jsonb_each calls in %s", plan).isEqualTo(ids.size());
    }

    @Test
    void pagesThroughEveryTenancyByIdWithAnOffsetOnlyOnTheFirstPage() throws Exception {
        for (int i = 0; i < 5; i++) {
            fixtures.createTenancy();
        }
        try (Connection c = db.connect()) {
            List<UUID> expected = db.queryRows("SELECT \"id\" FROM \"Tenancy\" ORDER BY \"id\" OFFSET 1").stream()
                    .map(r -> (UUID) r.get(0)).toList();
            List<UUID> seen = new ArrayList<>();
            UUID after = null;
            while (true) {
                List<TenancyDirectory.Entry> page = TenancyDirectory.page(c, after, 1, 2);
                page.forEach(e -> seen.add(e.tenancyId()));
                if (page.size() < 2) {
                    break;
                }
                after = page.get(page.size() - 1).tenancyId();
            }
            assertThat(seen).containsExactlyElementsOf(expected);
        }
    }

    @Test
    void onlyTheDbSyncPartOfAConfigIsReadAndAnOversizedOneIsAnError() throws Exception {
        Tenancy dotted = fixtures.createTenancy();
        fixtures.setConfig(dotted, """
                {"auth": {"secret": "not for the engine"},
                 "dbSync.externalDatabases.main": {"type": "postgres", "connectionString": "postgresql://u:p@h/x"}}""");
        Tenancy huge = fixtures.createTenancy();
        fixtures.setConfig(huge, "{\"dbSync\": {\"externalDatabases\": {}, \"padding\": \""
                + "x".repeat(TenancyDirectory.MAX_DB_SYNC_BYTES) + "\"}}");
        Tenancy notAnObject = fixtures.createTenancy();
        fixtures.setConfig(notAnObject, "[1, 2]");
        try (Connection c = db.connect()) {
            Map<UUID, TenancyDirectory.Entry> found = TenancyDirectory.byIds(c, List.of(dotted.id(), huge.id(),
                    notAnObject.id()));

            assertThat(found.get(dotted.id()).config()).doesNotContain("auth", "not for the engine");
            assertThat(found.get(dotted.id()).targets().targets()).extracting(TargetConfig::id).containsExactly("main");
            assertThat(found.get(huge.id()).config()).isNull();
            assertThat(found.get(huge.id()).targets().errors()).singleElement()
                    .satisfies(e -> assertThat(e.message()).contains("more than the " + TenancyDirectory.MAX_DB_SYNC_BYTES));
            assertThat(found.get(notAnObject.id()).targets().isEmpty()).isTrue();
        }
    }
}
