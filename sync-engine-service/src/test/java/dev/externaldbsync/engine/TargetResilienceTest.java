package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static dev.externaldbsync.engine.UserSyncTest.strings;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.PostgresServer;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;

/** Failures stay local: bad or down targets, poison rows, races, shared targets. */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class TargetResilienceTest {

    @InjectTestDatabase
    TestDatabase internal;

    StackAuthFixtures fixtures;

    @BeforeEach
    void fixtures() {
        fixtures = new StackAuthFixtures(internal);
    }

    @Test
    void oneBadTargetDoesNotBlockAnotherAndNoPasswordLeaks() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase good = TestPostgres.createDatabase("good");
        Map<String, String> targets = new LinkedHashMap<>();
        targets.put("down", "postgresql://someone:s3cret-pw@127.0.0.1:1/nowhere");
        targets.put("good", good.postgresUrl());
        String databases = "{\"down\": {\"type\": \"postgres\", \"connectionString\": \"" + targets.get("down") + "\"},"
                + " \"good\": {\"type\": \"postgres\", \"connectionString\": \"" + good.postgresUrl() + "\"},"
                + " \"mysql\": {\"type\": \"mysql\", \"connectionString\": \"mysql://u:s3cret-pw@h/db\"},"
                + " \"garbled\": {\"type\": \"postgres\", \"connectionString\": \"postgresql://u:s3cret-pw@/\"}}";
        fixtures.setConfig(tenancy, "{\"dbSync\": {\"externalDatabases\": " + databases + "}}");
        UUID user = fixtures.createUser(tenancy, "Survivor", "survivor@example.com");
        stamp(internal);

        JsonPath result = sync(tenancy.id());

        assertThat(result.getString("results[0].outcome")).isEqualTo("INVALID_CONFIG");
        assertThat(result.getBoolean("results[0].retry")).as("the down target is retried").isTrue();
        Map<String, String> outcomes = new LinkedHashMap<>();
        List<Map<String, Object>> targetResults = result.getList("results[0].targets");
        targetResults.forEach(t -> outcomes.put((String) t.get("targetId"), t.get("outcome") + "/" + t.get("retry")));
        assertThat(outcomes).containsEntry("good", "SYNCED/false").containsEntry("down", "FAILED/true")
                .containsEntry("mysql", "INVALID_CONFIG/false").containsEntry("garbled", "INVALID_CONFIG/false");
        assertThat(result.prettify()).doesNotContain("s3cret-pw");
        assertThat(strings(good, "SELECT id::text FROM users")).containsExactly(user.toString());
        assertThat(strings(internal, "SELECT \"lastError\" FROM \"SyncEngineProgress\" WHERE \"targetId\" = 'down'"))
                .isNotEmpty().allSatisfy(e -> assertThat(e).doesNotContain("s3cret-pw"));
    }

    @Test
    void aTargetThatWasDownCatchesUpWithoutNewChanges() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("flaky");
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        fixtures.createUser(tenancy, "Before", null);
        stamp(internal);
        sync(tenancy.id());

        superuser("ALTER DATABASE \"" + target.name() + "\" ALLOW_CONNECTIONS false",
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + target.name() + "'");
        UUID during = fixtures.createUser(tenancy, "During", "during@example.com");
        stamp(internal);
        JsonPath failed = sync(tenancy.id());
        assertThat(failed.getString("results[0].targets[0].outcome")).isEqualTo("FAILED");
        assertThat(failed.getBoolean("results[0].retry")).isTrue();
        assertThat(internal.queryValue("""
                SELECT count(*) FROM "SyncEngineProgress" WHERE "tenancyId" = ? AND "failingSince" IS NOT NULL""",
                tenancy.id())).isEqualTo((long) dev.externaldbsync.mapping.Mappings.ALL.size()); // one per mapping

        superuser("ALTER DATABASE \"" + target.name() + "\" ALLOW_CONNECTIONS true");
        JsonPath recovered = sync(tenancy.id());

        assertThat(recovered.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(strings(target, "SELECT display_name FROM users ORDER BY display_name"))
                .containsExactly("Before", "During");
        assertThat(strings(target, "SELECT user_id::text FROM contact_channels")).containsExactly(during.toString());
        assertThat(internal.queryValue("""
                SELECT count(*) FROM "SyncEngineProgress" WHERE "tenancyId" = ? AND "failingSince" IS NOT NULL""",
                tenancy.id())).isEqualTo(0L);
    }

    private static void superuser(String... sql) throws SQLException {
        PostgresServer s = TestPostgres.server();
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://" + s.host() + ":" + s.port() + "/postgres",
                s.superUser(), s.superPassword()); Statement st = c.createStatement()) {
            for (String statement : sql) {
                st.execute(statement);
            }
        }
    }

    @Test
    void aPoisonRowIsRecordedAndDoesNotBlockTheRestAndIsRetriedWhenItChanges() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("poison");
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        fixtures.createUser(tenancy, "First", null);
        stamp(internal);
        sync(tenancy.id());
        target.execute("ALTER TABLE users ADD CONSTRAINT no_evil CHECK (display_name IS DISTINCT FROM 'EVIL')");

        List<UUID> good = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            good.add(fixtures.createUser(tenancy, "good " + i, "good" + i + "@example.com"));
        }
        UUID evil = fixtures.createUser(tenancy, "EVIL", "evil@example.com");
        for (int i = 4; i < 9; i++) {
            good.add(fixtures.createUser(tenancy, "good " + i, "good" + i + "@example.com"));
        }
        stamp(internal);

        JsonPath result = sync(tenancy.id());

        assertThat(result.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(result.getInt("results[0].targets[0].appliedRows.users")).isEqualTo(9);
        assertThat(strings(target, "SELECT display_name FROM users WHERE display_name LIKE 'good%' ORDER BY 1"))
                .hasSize(9);
        assertThat(target.queryLong("SELECT count(*) FROM users WHERE id = ?", evil)).isZero();
        assertThat(target.queryLong("SELECT count(*) FROM contact_channels WHERE user_id = ?", evil))
                .as("the other mapping is not blocked").isEqualTo(1);
        long evilSequence = internal.queryLong("""
                SELECT max("sequenceId") FROM "SyncChange"
                WHERE "tableName" = 'ProjectUser' AND "primaryKey" ->> 'projectUserId' = ?""", evil.toString());
        assertThat(strings(internal, """
                SELECT "mappingName", "rowKey"::text, "sequenceId" FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ?""",
                tenancy.id())).containsExactly("users|{\"id\": \"" + evil + "\"}|" + evilSequence);
        assertThat((String) internal.queryValue("SELECT \"error\" FROM \"SyncEnginePoisonRow\" WHERE \"tenancyId\" = ?",
                tenancy.id())).contains("no_evil").contains("23514");
        given().header("Authorization", "Bearer test-admin-token").queryParam("tenancy", tenancy.id().toString())
                .get("/api/v1/status").then().statusCode(200)
                .body("targets[0].poisonRows[0].key", org.hamcrest.Matchers.containsString(evil.toString()));

        fixtures.renameUser(tenancy, evil, "Reformed");
        stamp(internal);
        sync(tenancy.id());

        assertThat(strings(target, "SELECT display_name FROM users WHERE id = ?", evil)).containsExactly("Reformed");
        assertThat(internal.queryLong("SELECT count(*) FROM \"SyncEnginePoisonRow\" WHERE \"tenancyId\" = ?",
                tenancy.id())).as("resolved entries are removed").isZero();
    }

    @Test
    void twoSyncsRacingForOneTenancyLeaveExactlyTheFinalState() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("race");
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        internal.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt", "displayName")
                SELECT ?, gen_random_uuid(), ?, 'main', now(), 'racer ' || g FROM generate_series(1, 2000) g""",
                tenancy.id(), tenancy.projectId());
        stamp(internal);

        List<String> outcomes = new ArrayList<>();
        for (int round = 0; round < 3; round++) {
            CountDownLatch go = new CountDownLatch(1);
            List<CompletableFuture<JsonPath>> racers = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                racers.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        go.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException(e);
                    }
                    return sync(tenancy.id());
                }));
            }
            go.countDown();
            for (CompletableFuture<JsonPath> racer : racers) {
                outcomes.add(racer.get().getString("results[0].targets[0].outcome"));
            }
            internal.update("""
                    UPDATE "ProjectUser" SET "displayName" = "displayName" || ' r" + round + "'
                    WHERE "tenancyId" = ? AND random() < 0.3""".replace("\" + round + \"", Integer.toString(round)),
                    tenancy.id());
            internal.update("DELETE FROM \"ProjectUser\" WHERE \"tenancyId\" = ? AND random() < 0.05", tenancy.id());
            stamp(internal);
        }
        assertThat(outcomes).allMatch(o -> o.equals("SYNCED") || o.equals("BUSY")).contains("SYNCED");
        sync(tenancy.id());

        assertThat(strings(target, "SELECT id::text, display_name FROM users ORDER BY 1"))
                .containsExactlyElementsOf(strings(internal, """
                        SELECT "projectUserId"::text, "displayName" FROM "ProjectUser" WHERE "tenancyId" = ?
                        ORDER BY 1""", tenancy.id()));
    }

    @Test
    void aRunThatCannotGetTheTenancyTargetLockReportsBusyAndDoesNothing() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("busy");
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        fixtures.createUser(tenancy, "Waiting", null);
        stamp(internal);

        // Another replica's run: the same session lock, held on another connection to the internal database.
        try (Connection other = internal.connect(); Statement st = other.createStatement()) {
            st.execute("SELECT pg_advisory_lock(" + SyncEngine.lockKey(tenancy.id(), "main") + ")");
            JsonPath busy = sync(tenancy.id());
            assertThat(busy.getString("results[0].outcome")).isEqualTo("BUSY");
            assertThat(busy.getBoolean("results[0].retry")).isTrue();
            assertThat(busy.getString("results[0].targets[0].outcome")).isEqualTo("BUSY");
            assertThat(target.queryValue("SELECT to_regclass('users')::text")).isNull();
        }

        JsonPath after = sync(tenancy.id());
        assertThat(after.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(strings(target, "SELECT display_name FROM users")).containsExactly("Waiting");
    }

    @Test
    void aFailingMappingDoesNotBlockTheOtherAndADroppedTableIsRecreated() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("dropped");
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        fixtures.createUser(tenancy, "Before", null);
        stamp(internal);
        sync(tenancy.id());
        target.execute("DROP TABLE contact_channels");
        UUID user = fixtures.createUser(tenancy, "After", "after@example.com");
        stamp(internal);

        JsonPath failed = sync(tenancy.id());

        assertThat(failed.getString("results[0].targets[0].outcome")).isEqualTo("FAILED");
        assertThat(failed.getBoolean("results[0].retry")).isTrue();
        assertThat(failed.getString("results[0].targets[0].error")).startsWith("contact_channels: ").contains("42P01");
        assertThat(failed.getInt("results[0].targets[0].appliedRows.users")).isEqualTo(1);
        assertThat(strings(target, "SELECT display_name FROM users ORDER BY 1")).containsExactly("After", "Before");

        JsonPath retried = sync(tenancy.id());

        assertThat(retried.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(strings(target, "SELECT user_id::text, value FROM contact_channels"))
                .containsExactly(user + "|after@example.com");
    }

    @Test
    void twoTenanciesSharingOneTargetBothSyncCompletely() {
        TestDatabase shared = TestPostgres.createDatabase("shared");
        Tenancy first = fixtures.createTenancy();
        Tenancy second = fixtures.createTenancy();
        fixtures.configureTargets(first, Map.of("main", shared.postgresUrl()));
        fixtures.configureTargets(second, Map.of("main", shared.postgresUrl()));
        fixtures.createUser(first, "first 1", "f1@example.com");
        fixtures.createUser(second, "second 1", "s1@example.com");
        stamp(internal);

        // Both at once against a fresh target: both bootstrap its schema concurrently.
        JsonPath both = sync(first.id(), second.id());
        assertThat(both.getList("results.outcome")).containsExactly("SYNCED", "SYNCED");

        // The second tenancy's change gets the smaller sequence id but is synced after the first's: a cursor shared
        // by tenancies would skip it.
        fixtures.createUser(second, "second 2", null);
        stamp(internal);
        fixtures.createUser(first, "first 2", null);
        stamp(internal);
        sync(first.id());
        sync(second.id());

        assertThat(strings(shared, "SELECT display_name FROM users ORDER BY 1"))
                .containsExactly("first 1", "first 2", "second 1", "second 2");
        // Per tenancy and mapping with data: a user and its e-mail each, no row for the mappings without data.
        assertThat(EngineTestSupport.cursorRows(shared))
                .containsExactlyElementsOf(EngineTestSupport.withEntries(internal, first.id(), second.id()))
                .containsExactlyInAnyOrder(first.id() + "|users", first.id() + "|contact_channels",
                        second.id() + "|users", second.id() + "|contact_channels");
    }

    @Test
    void statusReportsProgressWithoutTenantDetailUnlessAdmin() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("status");
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        fixtures.createUser(tenancy, "Status", "status@example.com");
        stamp(internal);
        sync(tenancy.id());

        given().get("/api/v1/status").then().statusCode(200)
                .body("service", org.hamcrest.Matchers.equalTo("sync-engine"))
                .body("trackedTargets", org.hamcrest.Matchers.greaterThanOrEqualTo(1))
                .body("mappings", org.hamcrest.Matchers.contains(dev.externaldbsync.mapping.Mappings.ALL.stream()
                        .map(dev.externaldbsync.mapping.Mapping::name).toArray(String[]::new)));
        given().queryParam("tenancy", tenancy.id().toString()).get("/api/v1/status").then().statusCode(401);
        given().get("/api/v1/status/tenancies/" + tenancy.id()).then().statusCode(401);
        long cursor = target.queryLong("""
                SELECT last_synced_sequence_id FROM _stack_sync_metadata WHERE mapping_name = 'users'""");
        given().header("Authorization", "Bearer test-admin-token").get("/api/v1/status/tenancies/" + tenancy.id())
                .then().statusCode(200)
                .body("targets[0].targetId", org.hamcrest.Matchers.equalTo("main"))
                .body("targets[0].mappings.find { it.mapping == 'users' }.cursor",
                        org.hamcrest.Matchers.equalTo((int) cursor))
                .body("targets[0].mappings.find { it.mapping == 'users' }.lastSuccessAt",
                        org.hamcrest.Matchers.notNullValue());
        Awaitility.await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> given().get("/q/metrics").then()
                .statusCode(200)
                .body(org.hamcrest.Matchers.containsString("sync_engine_rows_applied_total{mapping=\"users\"}"))
                .body(org.hamcrest.Matchers.containsString("sync_engine_open_pools"))
                .body(org.hamcrest.Matchers.containsString("sync_engine_page_apply_seconds_count")));
    }
}
