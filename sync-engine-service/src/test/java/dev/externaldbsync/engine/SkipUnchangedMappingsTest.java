package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.assertMirrors;
import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.engine.read.ChangedMappings;
import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;
import io.restassured.specification.RequestSpecification;

/**
 * A run touches only the mappings with something to do: the others get no read, no cursor row in the target (no row
 * reads as −1) and no progress row, and a later change to one of them is still picked up.
 */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class SkipUnchangedMappingsTest {

    /** What a one-user tenancy has data in: the user and its primary e-mail. */
    private static final List<String> ONE_USER = List.of("contact_channels", "users");

    @InjectTestDatabase
    TestDatabase internal;

    StackAuthFixtures fixtures;

    @BeforeEach
    void fixtures() {
        fixtures = new StackAuthFixtures(internal);
    }

    private record Setup(Tenancy tenancy, TestDatabase target) {
    }

    private Setup tenancyWithTarget(String prefix) {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase(prefix);
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        return new Setup(tenancy, target);
    }

    private static List<String> cursorRows(TestDatabase target, UUID tenancy) {
        return UserSyncTest.strings(target, """
                SELECT mapping_name FROM _stack_sync_metadata WHERE tenancy_id = ? ORDER BY mapping_name""", tenancy);
    }

    private List<String> progressRows(UUID tenancy) {
        return UserSyncTest.strings(internal, """
                SELECT "mappingName" FROM "SyncEngineProgress" WHERE "tenancyId" = ? ORDER BY "mappingName\"""",
                tenancy);
    }

    private String progressUpdatedAt(UUID tenancy, String mapping) {
        return internal.queryValue("""
                SELECT "updatedAt"::text FROM "SyncEngineProgress" WHERE "tenancyId" = ? AND "mappingName" = ?""",
                tenancy, mapping).toString();
    }

    private static RequestSpecification admin() {
        return given().header("Authorization", "Bearer test-admin-token");
    }

    @Test
    void aOneUserTenancyGetsCursorAndProgressRowsOnlyForTheMappingsWithData() {
        Setup s = tenancyWithTarget("skiprows");
        fixtures.createUser(s.tenancy, "Ada", "ada@example.com");
        stamp(internal);
        long probes = ChangedMappings.statements();

        JsonPath result = sync(s.tenancy.id());

        assertThat(result.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(ChangedMappings.statements() - probes).as("one probe of every mapping for the first contact")
                .isEqualTo(1);
        assertThat(cursorRows(s.target, s.tenancy.id())).containsExactlyElementsOf(ONE_USER);
        assertThat(progressRows(s.tenancy.id())).containsExactlyElementsOf(ONE_USER);
        assertMirrors(internal, s.tenancy.id(), s.target);
    }

    @Test
    void aChangeOfUsersAloneIsFoundByOneProbeAndMovesOnlyWhatChanged() {
        Setup s = tenancyWithTarget("skipusers");
        UUID ada = fixtures.createUser(s.tenancy, "Ada", "ada@example.com");
        stamp(internal);
        sync(s.tenancy.id());
        String channelsMirrored = progressUpdatedAt(s.tenancy.id(), "contact_channels");

        fixtures.renameUser(s.tenancy, ada, "Ada Lovelace");
        stamp(internal);
        long probes = ChangedMappings.statements();
        JsonPath result = sync(s.tenancy.id());

        assertThat(result.getInt("results[0].targets[0].appliedRows.users")).isEqualTo(1);
        assertThat(ChangedMappings.statements() - probes).as("one probe, then a read of what it found")
                .isEqualTo(1);
        assertThat(s.target.queryValue("SELECT display_name FROM users")).isEqualTo("Ada Lovelace");
        assertThat(progressUpdatedAt(s.tenancy.id(), "contact_channels")).as("not moved, not written")
                .isEqualTo(channelsMirrored);
        assertThat(cursorRows(s.target, s.tenancy.id())).containsExactlyElementsOf(ONE_USER);
        Awaitility.await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> given().get("/q/metrics").then()
                .statusCode(200)
                .body(org.hamcrest.Matchers.containsString("sync_engine_mapping_reads_total{mapping=\"users\"}")));
    }

    @Test
    void aLaterChangeToAMappingWithoutARowIsPickedUp() {
        Setup s = tenancyWithTarget("skiplater");
        fixtures.createUser(s.tenancy, "Ada", "ada@example.com");
        stamp(internal);
        sync(s.tenancy.id());
        assertThat(cursorRows(s.target, s.tenancy.id())).doesNotContain("teams");

        fixtures.createTeam(s.tenancy, "Engines");
        stamp(internal);
        JsonPath result = sync(s.tenancy.id());

        assertThat(result.getInt("results[0].targets[0].appliedRows.teams")).isEqualTo(1);
        assertThat(s.target.queryValue("SELECT display_name FROM teams")).isEqualTo("Engines");
        assertThat(cursorRows(s.target, s.tenancy.id())).contains("teams", "users", "contact_channels");
        assertThat(progressRows(s.tenancy.id())).contains("teams");
        assertMirrors(internal, s.tenancy.id(), s.target);
    }

    @Test
    void oneUserTenanciesSharingATargetInOneBatchCreateRowsOnlyForTheirData() {
        TestDatabase shared = TestPostgres.createDatabase("skipshared");
        // Spread over engine.parallelism (4) batches of several tenancies each.
        List<Tenancy> tenancies = java.util.stream.Stream.generate(fixtures::createTenancy).limit(12).toList();
        for (Tenancy t : tenancies) {
            fixtures.configureTargets(t, Map.of("main", shared.postgresUrl()));
            fixtures.createUser(t, "User of " + t.id(), t.id() + "@example.com");
        }
        stamp(internal);
        long probes = ChangedMappings.statements();

        JsonPath result = sync(tenancies.stream().map(Tenancy::id).toArray(UUID[]::new));

        assertThat(ChangedMappings.statements() - probes).as("one probe per batch of first contacts, not per tenancy")
                .isBetween(1L, 4L);

        assertThat(result.getList("results.outcome")).containsOnly("SYNCED");
        assertThat(shared.queryLong("SELECT count(*) FROM _stack_sync_metadata"))
                .isEqualTo((long) tenancies.size() * ONE_USER.size());
        assertThat(shared.queryLong("SELECT count(*) FROM users")).isEqualTo(tenancies.size());
        for (Tenancy t : tenancies) {
            assertThat(cursorRows(shared, t.id())).containsExactlyElementsOf(ONE_USER);
            assertThat(progressRows(t.id())).containsExactlyElementsOf(ONE_USER);
        }
    }

    @Test
    void theFirstContactBackfillsLiveRowsThatHaveNoChangeLogEntries() {
        Setup s = tenancyWithTarget("skiplive");
        UUID ada = fixtures.createUser(s.tenancy, "Ada", "ada@example.com");
        // Rows written before capture existed (or whose entries were pruned): nothing in the log reports them.
        internal.update("DELETE FROM \"SyncChange\" WHERE \"tenancyId\" = ?", s.tenancy.id());

        sync(s.tenancy.id());

        assertThat(UserSyncTest.strings(s.target, "SELECT id::text FROM users")).containsExactly(ada.toString());
        assertThat(cursorRows(s.target, s.tenancy.id())).containsExactlyElementsOf(ONE_USER);
        assertMirrors(internal, s.tenancy.id(), s.target);
    }

    @Test
    void pauseAndResyncStillWorkWithCursorRowsOnlyForData() {
        Setup s = tenancyWithTarget("skippause");
        fixtures.createUser(s.tenancy, "Before", "before@example.com");
        stamp(internal);
        sync(s.tenancy.id());

        admin().contentType("application/json").body("{\"reason\": \"maintenance\"}")
                .put("/api/v1/admin/tenancies/" + s.tenancy.id() + "/pause").then().statusCode(200);
        fixtures.createUser(s.tenancy, "During", "during@example.com");
        fixtures.createTeam(s.tenancy, "Paused team");
        stamp(internal);
        assertThat(sync(s.tenancy.id()).getString("results[0].outcome")).isEqualTo("PAUSED");
        assertThat(s.target.queryLong("SELECT count(*) FROM users")).isEqualTo(1);
        admin().delete("/api/v1/admin/tenancies/" + s.tenancy.id() + "/pause").then().statusCode(200);
        assertThat(sync(s.tenancy.id()).getString("results[0].outcome")).isEqualTo("SYNCED");
        assertMirrors(internal, s.tenancy.id(), s.target);

        s.target.execute("DELETE FROM contact_channels", "DELETE FROM users", "DELETE FROM teams");
        internal.update("DELETE FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", s.tenancy.id());
        admin().post("/api/v1/admin/tenancies/" + s.tenancy.id() + "/targets/main/resync").then().statusCode(202);
        assertThat(sync(s.tenancy.id()).getString("results[0].outcome")).isEqualTo("SYNCED");

        assertThat(s.target.queryLong("SELECT count(*) FROM users")).isEqualTo(2);
        assertThat(cursorRows(s.target, s.tenancy.id())).containsExactly("contact_channels", "teams", "users");
        assertThat(s.target.queryLong("SELECT count(*) FROM _stack_sync_metadata WHERE last_synced_sequence_id < 0"))
                .isZero();
        assertMirrors(internal, s.tenancy.id(), s.target);
    }
}
