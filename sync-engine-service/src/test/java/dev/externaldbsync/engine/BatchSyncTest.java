package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.rows;
import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;

/**
 * Many tenancies of one request sharing one target are synced as one batch; every per-tenancy outcome stays exact,
 * and the odd ones (a poison row, a pause, a held lock, a bad config entry, a big backlog) behave as they do alone.
 */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class BatchSyncTest {

    @InjectTestDatabase
    TestDatabase internal;

    StackAuthFixtures fixtures;

    @BeforeEach
    void fixtures() {
        fixtures = new StackAuthFixtures(internal);
    }

    private Tenancy tenancyIn(TestDatabase target) {
        Tenancy tenancy = fixtures.createTenancy();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        return tenancy;
    }

    private void insertUsers(Tenancy tenancy, int count, String prefix) {
        internal.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt", "displayName")
                SELECT ?, gen_random_uuid(), ?, 'main', now(), ? || g FROM generate_series(1, ?) g""",
                tenancy.id(), tenancy.projectId(), prefix, count);
    }

    /** A shared target holds every tenancy's rows: it must equal the union of their projections, mapping by mapping. */
    static void assertSharedMirrors(TestDatabase internal, List<UUID> tenancies, TestDatabase target) {
        for (Mapping mapping : Mappings.ALL) {
            String columns = mapping.columns().stream().map(c -> "x." + c.quoted() + "::text")
                    .collect(Collectors.joining(", "));
            List<String> expected = new ArrayList<>();
            for (UUID tenancy : tenancies) {
                expected.addAll(rows(internal, "SELECT " + columns + " FROM (" + mapping.projectionSql() + ") AS x",
                        tenancy));
            }
            List<String> actual = rows(target, "SELECT " + columns + " FROM " + mapping.quotedTable() + " AS x");
            assertThat(actual).as(mapping.name()).containsExactlyInAnyOrderElementsOf(expected);
        }
    }

    private static Map<String, String> outcomes(JsonPath result) {
        Map<String, String> byTenancy = new LinkedHashMap<>();
        List<Map<String, Object>> results = result.getList("results");
        results.forEach(r -> byTenancy.put((String) r.get("tenancyId"), r.get("outcome") + "/" + r.get("retry")));
        return byTenancy;
    }

    @Test
    void aMixedBatchGivesEveryTenancyItsOwnExactResultAndEveryRowArrives() throws Exception {
        TestDatabase shared = TestPostgres.createDatabase("batch_shared");
        Tenancy seed = tenancyIn(shared);
        fixtures.createUser(seed, "seed", "seed@example.com");
        stamp(internal);
        sync(seed.id()); // bootstraps the shared schema
        shared.execute("ALTER TABLE users ADD CONSTRAINT no_evil CHECK (display_name IS DISTINCT FROM 'EVIL')");

        List<Tenancy> small = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            Tenancy t = tenancyIn(shared);
            fixtures.createUser(t, "small " + i, "small" + i + "@example.com");
            small.add(t);
        }
        Tenancy poisoned = tenancyIn(shared);
        fixtures.createUser(poisoned, "fine", "fine@example.com");
        UUID evil = fixtures.createUser(poisoned, "EVIL", "evil@example.com");
        Tenancy paused = tenancyIn(shared);
        fixtures.createUser(paused, "waiting", null);
        internal.update("INSERT INTO \"ExternalDbSyncTenancyPause\" (\"tenancyId\") VALUES (?)", paused.id());
        Tenancy locked = tenancyIn(shared);
        fixtures.createUser(locked, "locked", null);
        Tenancy badConfig = fixtures.createTenancy();
        fixtures.setConfig(badConfig, "{\"dbSync\": {\"externalDatabases\": {"
                + "\"main\": {\"type\": \"postgres\", \"connectionString\": \"" + shared.postgresUrl() + "\"},"
                + " \"other\": {\"type\": \"mysql\", \"connectionString\": \"mysql://u:p@h/db\"}}}}");
        fixtures.createUser(badConfig, "half configured", "half@example.com");
        Tenancy big = tenancyIn(shared);
        insertUsers(big, 1500, "big "); // several pages of engine.page-size (400 in tests), far above its share
        stamp(internal);

        List<UUID> request = new ArrayList<>();
        small.forEach(t -> request.add(t.id()));
        request.addAll(List.of(poisoned.id(), paused.id(), locked.id(), badConfig.id(), big.id()));
        JsonPath result;
        try (Connection other = internal.connect(); Statement st = other.createStatement()) {
            // Another replica's run of one tenancy of the batch: the same session lock, held elsewhere.
            st.execute("SELECT pg_advisory_lock(" + SyncEngine.lockKey(locked.id(), "main") + ")");
            result = sync(request.toArray(UUID[]::new));
        }

        Map<String, String> outcomes = outcomes(result);
        small.forEach(t -> assertThat(outcomes.get(t.id().toString())).isEqualTo("SYNCED/false"));
        assertThat(outcomes.get(poisoned.id().toString())).isEqualTo("SYNCED/false");
        assertThat(outcomes.get(paused.id().toString())).isEqualTo("PAUSED/false");
        assertThat(outcomes.get(locked.id().toString())).isEqualTo("BUSY/true");
        assertThat(outcomes.get(badConfig.id().toString())).isEqualTo("INVALID_CONFIG/false");
        assertThat(outcomes.get(big.id().toString())).isEqualTo("SYNCED/false");
        for (int i = 0; i < request.size(); i++) {
            String outcome = result.getString("results[" + i + "].outcome");
            if (outcome.equals("SYNCED")) {
                long users = request.get(i).equals(big.id()) ? 1500 : 1;
                assertThat(result.getLong("results[" + i + "].targets[0].appliedRows.users")).as("tenancy %d", i)
                        .isEqualTo(users);
                assertThat(result.getMap("results[" + i + "].targets[0].appliedRows")).hasSize(Mappings.ALL.size());
            }
        }
        String half = "results[" + request.indexOf(badConfig.id()) + "].targets";
        assertThat(result.getList(half + ".outcome")).containsExactlyInAnyOrder("SYNCED", "INVALID_CONFIG");
        assertThat(result.getList(half + ".findAll { it.outcome == 'SYNCED' }.appliedRows.contact_channels"))
                .containsExactly(1);
        assertThat(result.getList("results[" + request.indexOf(locked.id()) + "].targets.outcome"))
                .containsExactly("BUSY");

        assertThat(shared.queryLong("SELECT count(*) FROM users WHERE id = ?", evil)).isZero();
        assertThat(shared.queryLong("SELECT count(*) FROM contact_channels WHERE user_id = ?", evil))
                .as("the poison row blocks nothing else, not even its own tenancy's other mapping").isEqualTo(1);
        UUID[] everyone = java.util.stream.Stream.concat(request.stream(), java.util.stream.Stream.of(seed.id()))
                .toArray(UUID[]::new);
        assertThat(rows(internal, """
                SELECT "tenancyId"::text, "mappingName", "rowKey"::text FROM "SyncEnginePoisonRow"
                WHERE "tenancyId" = ANY(?)""", (Object) everyone)).containsExactly(
                poisoned.id() + "|users|{\"id\": \"" + evil + "\"}");
        assertThat(shared.queryLong("SELECT count(*) FROM users WHERE display_name IN ('waiting', 'locked')"))
                .isZero();
        // Cursors and mirrored progress per tenancy and mapping with data only (none for mappings without).
        UUID[] synced = java.util.stream.Stream.of(everyone).filter(t -> !t.equals(paused.id()) && !t.equals(locked.id()))
                .toArray(UUID[]::new);
        List<String> withData = EngineTestSupport.withEntries(internal, synced);
        assertThat(withData.stream().map(k -> k.substring(0, k.indexOf('|'))).distinct()).hasSize(9);
        assertThat(EngineTestSupport.cursorRows(shared)).as("cursors per tenancy and mapping with data")
                .containsExactlyElementsOf(withData);
        assertThat(rows(internal, """
                SELECT "tenancyId"::text || '|' || "mappingName" FROM "SyncEngineProgress"
                WHERE "failingSince" IS NULL AND "tenancyId" = ANY(?)""", (Object) everyone).stream().sorted())
                .as("mirrored progress").containsExactlyElementsOf(withData);

        // Release the lock, resume, fix the bad row: one more batch and the target equals the projection of all.
        internal.update("DELETE FROM \"ExternalDbSyncTenancyPause\" WHERE \"tenancyId\" = ?", paused.id());
        fixtures.renameUser(poisoned, evil, "Reformed");
        stamp(internal);
        JsonPath again = sync(request.toArray(UUID[]::new));
        assertThat(outcomes(again).values()).containsOnly("SYNCED/false", "INVALID_CONFIG/false");
        assertThat(again.getLong("results[" + request.indexOf(locked.id()) + "].targets[0].appliedRows.users"))
                .isEqualTo(1);
        assertThat(again.getLong("results[" + request.indexOf(big.id()) + "].targets[0].appliedRows.users")).isZero();
        assertThat(internal.queryLong("SELECT count(*) FROM \"SyncEnginePoisonRow\" WHERE \"tenancyId\" = ANY(?)",
                (Object) everyone)).isZero();
        List<UUID> all = new ArrayList<>(request);
        all.add(seed.id());
        assertSharedMirrors(internal, all, shared);
    }

    @Test
    void anUnreachableTargetFailsOnlyItsOwnBatch() {
        TestDatabase shared = TestPostgres.createDatabase("batch_up");
        String down = "postgresql://someone:pw-never-shown@127.0.0.1:1/nowhere";
        List<Tenancy> up = new ArrayList<>();
        List<Tenancy> lost = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Tenancy a = tenancyIn(shared);
            fixtures.createUser(a, "up " + i, "up" + i + "@example.com");
            up.add(a);
            Tenancy b = fixtures.createTenancy();
            fixtures.configureTargets(b, Map.of("main", down));
            fixtures.createUser(b, "lost " + i, null);
            lost.add(b);
        }
        stamp(internal);
        List<UUID> request = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            request.add(lost.get(i).id());
            request.add(up.get(i).id());
        }

        JsonPath result = sync(request.toArray(UUID[]::new));

        Map<String, String> outcomes = outcomes(result);
        up.forEach(t -> assertThat(outcomes.get(t.id().toString())).isEqualTo("SYNCED/false"));
        lost.forEach(t -> assertThat(outcomes.get(t.id().toString())).isEqualTo("FAILED/true"));
        assertThat(result.prettify()).doesNotContain("pw-never-shown");
        assertThat(internal.queryLong("""
                SELECT count(*) FROM "SyncEngineProgress" WHERE "failingSince" IS NOT NULL AND "tenancyId" = ANY(?)""",
                (Object) lost.stream().map(Tenancy::id).toArray(UUID[]::new)))
                .isEqualTo(3L * Mappings.ALL.size());
        assertSharedMirrors(internal, up.stream().map(Tenancy::id).toList(), shared);
    }

    @Test
    void aSecondChangeOfEveryTenancyInABatchMovesOnlyItsOwnCursors() {
        TestDatabase shared = TestPostgres.createDatabase("batch_again");
        List<Tenancy> tenancies = new ArrayList<>();
        List<UUID> users = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            Tenancy t = tenancyIn(shared);
            users.add(fixtures.createUser(t, "user " + i, "user" + i + "@example.com"));
            tenancies.add(t);
        }
        insertUsers(tenancies.get(3), 1000, "many "); // far above its share of the batch: continues alone
        stamp(internal);
        UUID[] ids = tenancies.stream().map(Tenancy::id).toArray(UUID[]::new);
        JsonPath first = sync(ids);
        assertThat(first.getList("results.collect { it.targets[0].appliedRows.users }")).containsExactly(1, 1, 1, 1001);
        assertThat(first.getList("results.outcome")).containsOnly("SYNCED");

        // One tenancy renames, one deletes, one adds a team; one does nothing.
        fixtures.renameUser(tenancies.get(0), users.get(0), "renamed");
        fixtures.deleteUser(tenancies.get(1), users.get(1));
        fixtures.createTeam(tenancies.get(2), "team");
        stamp(internal);
        JsonPath result = sync(ids);

        assertThat(result.getLong("results[0].targets[0].appliedRows.users")).isEqualTo(1);
        assertThat(result.getLong("results[1].targets[0].appliedRows.users")).isEqualTo(1);
        assertThat(result.getLong("results[1].targets[0].appliedRows.contact_channels")).isEqualTo(1);
        assertThat(result.getLong("results[2].targets[0].appliedRows.teams")).isEqualTo(1);
        assertThat(result.getMap("results[3].targets[0].appliedRows").values()).containsOnly(0);
        for (int i = 0; i < tenancies.size(); i++) {
            long cursor = shared.queryLong("""
                    SELECT last_synced_sequence_id FROM _stack_sync_metadata
                    WHERE tenancy_id = ? AND mapping_name = 'users'""", ids[i]);
            Long newest = (Long) internal.queryValue("""
                    SELECT max("sequenceId") FROM "SyncChange" WHERE "tenancyId" = ? AND "tableName" = 'ProjectUser'""",
                    ids[i]);
            assertThat(cursor).as("tenancy %d", i).isEqualTo(newest);
        }
        assertSharedMirrors(internal, List.of(ids), shared);
    }

    @Test
    void statusReportsInstanceRowsPausesAndCappedCountsAndThePausedFlagPerTenancy() {
        TestDatabase shared = TestPostgres.createDatabase("batch_status");
        Tenancy running = tenancyIn(shared);
        Tenancy held = tenancyIn(shared);
        fixtures.createUser(running, "counted", "counted@example.com");
        stamp(internal);
        sync(running.id(), held.id());
        internal.update("INSERT INTO \"ExternalDbSyncTenancyPause\" (\"tenancyId\") VALUES (?)", held.id());
        Tenancy lost = fixtures.createTenancy();
        fixtures.configureTargets(lost, Map.of("main", "postgresql://u:p@127.0.0.1:1/nowhere"));
        fixtures.createUser(lost, "lost", null);
        stamp(internal);
        sync(lost.id());

        JsonPath status = io.restassured.RestAssured.given().get("/api/v1/status").then().statusCode(200).extract()
                .jsonPath();
        assertThat(status.getString("instanceId")).isNotBlank();
        assertThat(status.getLong("rowsAppliedSinceStart")).isGreaterThanOrEqualTo(2);
        assertThat(status.getLong("pausedTenancies")).isGreaterThanOrEqualTo(1);
        assertThat(status.getBoolean("pausedTenanciesCapped")).isFalse();
        assertThat(status.getLong("failingTargets")).isGreaterThanOrEqualTo(1);
        assertThat(status.getBoolean("failingTargetsCapped")).isFalse();
        assertThat(status.getString("oldestFailingSince")).isNotNull();
        assertThat(status.getLong("trackedTargets")).isGreaterThanOrEqualTo(3);
        assertThat(status.getBoolean("trackedTargetsEstimate")).as("few targets are counted exactly").isFalse();
        io.restassured.RestAssured.given().header("Authorization", "Bearer test-admin-token")
                .get("/api/v1/status/tenancies/" + held.id()).then().statusCode(200)
                .body("paused", org.hamcrest.Matchers.is(true));
        io.restassured.RestAssured.given().header("Authorization", "Bearer test-admin-token")
                .queryParam("tenancy", running.id().toString()).get("/api/v1/status").then().statusCode(200)
                .body("paused", org.hamcrest.Matchers.is(false))
                .body("targets[0].mappings.find { it.mapping == 'users' }.rowsApplied", org.hamcrest.Matchers.is(1));
    }
}
