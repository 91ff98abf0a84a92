package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static dev.externaldbsync.engine.UserSyncTest.strings;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.ObjectMapper;

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
 * Hostile target configs are refused per target, and nothing reaches a database the tenant does not own; the
 * tenancy's other targets and other tenancies of the same request sync as usual.
 */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class TargetPolicyTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @InjectTestDatabase
    TestDatabase internal;

    StackAuthFixtures fixtures;

    @BeforeEach
    void fixtures() {
        fixtures = new StackAuthFixtures(internal);
    }

    static void configure(StackAuthFixtures fixtures, Tenancy tenancy, Map<String, String> urls) {
        Map<String, Object> databases = new LinkedHashMap<>();
        urls.forEach((id, url) -> databases.put(id, Map.of("type", "postgres", "connectionString", url)));
        try {
            fixtures.setConfig(tenancy, JSON.writeValueAsString(Map.of("dbSync", Map.of("externalDatabases",
                    databases))));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static Map<String, String> outcomes(JsonPath result, int index) {
        Map<String, String> outcomes = new LinkedHashMap<>();
        List<Map<String, Object>> targets = result.getList("results[" + index + "].targets");
        targets.forEach(t -> outcomes.put((String) t.get("targetId"), t.get("outcome") + "/" + t.get("retry")));
        return outcomes;
    }

    static String error(JsonPath result, int index, String targetId) {
        List<Map<String, Object>> targets = result.getList("results[" + index + "].targets");
        return targets.stream().filter(t -> targetId.equals(t.get("targetId"))).map(t -> (String) t.get("error"))
                .findFirst().orElseThrow();
    }

    /** Another tenancy with its own target and one user, synced in the same request as the hostile one. */
    private Tenancy bystander(TestDatabase target) {
        Tenancy other = fixtures.createTenancy();
        configure(fixtures, other, Map.of("main", target.postgresUrl()));
        fixtures.createUser(other, "Bystander", "bystander@example.com");
        return other;
    }

    private static List<String> publicTables(TestDatabase db) {
        return strings(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                + "AND tablename IN ('users', 'teams', '_stack_sync_metadata') ORDER BY 1");
    }

    @Test
    void theInternalDatabaseAsATargetIsRefusedAndNothingIsCreatedInIt() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase good = TestPostgres.createDatabase("policy_good");
        TestDatabase other = TestPostgres.createDatabase("policy_other");
        Map<String, String> urls = new LinkedHashMap<>();
        urls.put("internal", internal.postgresUrl());
        // The same database through another spelling of its host.
        urls.put("internal-by-address", internal.postgresUrl().replace("@localhost:", "@127.0.0.1:"));
        urls.put("good", good.postgresUrl());
        configure(fixtures, tenancy, urls);
        UUID user = fixtures.createUser(tenancy, "Owner", "owner@example.com");
        Tenancy bystander = bystander(other);
        stamp(internal);

        JsonPath result = sync(tenancy.id(), bystander.id());

        assertThat(outcomes(result, 0)).containsEntry("internal", "INVALID_CONFIG/false")
                .containsEntry("internal-by-address", "INVALID_CONFIG/false").containsEntry("good", "SYNCED/false");
        assertThat(error(result, 0, "internal")).contains("internal database: never a target");
        assertThat(error(result, 0, "internal-by-address")).contains("internal database: never a target");
        assertThat(publicTables(internal)).as("nothing created in the internal database").isEmpty();
        assertThat(strings(good, "SELECT id::text FROM users")).containsExactly(user.toString());
        assertThat(result.getString("results[1].outcome")).isEqualTo("SYNCED");
        assertThat(strings(other, "SELECT display_name FROM users")).containsExactly("Bystander");
    }

    @Test
    void aUrlWhoseParametersNameAnotherHostIsRefusedNamingTheParameterAndNothingIsWritten() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase hidden = TestPostgres.createDatabase("policy_hidden");
        TestDatabase good = TestPostgres.createDatabase("policy_good");
        TestDatabase other = TestPostgres.createDatabase("policy_other");
        String sneaky = "postgresql://" + hidden.user() + ":" + hidden.password() + "@sync-target.example.invalid/"
                + hidden.name() + "?host=localhost&port=" + hidden.port();
        Map<String, String> urls = new LinkedHashMap<>();
        urls.put("sneaky", sneaky);
        urls.put("timeouts", good.postgresUrl() + "?socketTimeout=0");
        urls.put("good", good.postgresUrl());
        configure(fixtures, tenancy, urls);
        fixtures.createUser(tenancy, "Owner", "owner@example.com");
        Tenancy bystander = bystander(other);
        stamp(internal);

        JsonPath result = sync(tenancy.id(), bystander.id());

        assertThat(outcomes(result, 0)).containsEntry("sneaky", "INVALID_CONFIG/false")
                .containsEntry("timeouts", "INVALID_CONFIG/false").containsEntry("good", "SYNCED/false");
        assertThat(error(result, 0, "sneaky")).contains("parameter 'host' is not allowed");
        assertThat(error(result, 0, "timeouts")).contains("parameter 'socketTimeout' is not allowed");
        assertThat(publicTables(hidden)).as("nothing written where the parameters pointed").isEmpty();
        assertThat(publicTables(internal)).isEmpty();
        assertThat(result.getString("results[1].outcome")).isEqualTo("SYNCED");
        assertThat(strings(other, "SELECT display_name FROM users")).containsExactly("Bystander");
    }

    @Test
    void aTenancyWithTooManyTargetsGetsOneConfigErrorAndOthersKeepSyncing() {
        Tenancy greedy = fixtures.createTenancy();
        Map<String, String> urls = new LinkedHashMap<>();
        for (int i = 0; i < 11; i++) {
            urls.put("t" + i, "postgresql://u:s3cret@db" + i + ".example.invalid/d");
        }
        configure(fixtures, greedy, urls);
        fixtures.createUser(greedy, "Greedy", "greedy@example.com");
        TestDatabase other = TestPostgres.createDatabase("policy_other");
        Tenancy bystander = bystander(other);
        stamp(internal);

        JsonPath result = sync(greedy.id(), bystander.id());

        assertThat(result.getString("results[0].outcome")).isEqualTo("INVALID_CONFIG");
        assertThat(outcomes(result, 0)).containsExactly(Map.entry("*", "INVALID_CONFIG/false"));
        assertThat(error(result, 0, "*")).contains("11 targets configured", "at most 10",
                "engine.targets.max-per-tenancy");
        assertThat(result.getString("results[1].outcome")).isEqualTo("SYNCED");
        assertThat(strings(other, "SELECT display_name FROM users")).containsExactly("Bystander");
    }

    @Test
    void badTargetIdsAreRefusedWithoutReachingLogsOrTheInternalDatabaseAndTheGoodTargetSyncs() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase good = TestPostgres.createDatabase("policy_good");
        TestDatabase other = TestPostgres.createDatabase("policy_other");
        Map<String, String> urls = new LinkedHashMap<>();
        urls.put("line\nbreak", good.postgresUrl());
        urls.put("has space", good.postgresUrl());
        urls.put("a".repeat(65), good.postgresUrl());
        urls.put("good", good.postgresUrl());
        configure(fixtures, tenancy, urls);
        UUID user = fixtures.createUser(tenancy, "Owner", "owner@example.com");
        Tenancy bystander = bystander(other);
        stamp(internal);

        JsonPath result = sync(tenancy.id(), bystander.id());

        Map<String, String> outcomes = outcomes(result, 0);
        assertThat(outcomes).containsEntry("good", "SYNCED/false").containsEntry("!line_break", "INVALID_CONFIG/false")
                .containsEntry("!has_space", "INVALID_CONFIG/false")
                .containsEntry("!" + "a".repeat(64), "INVALID_CONFIG/false").hasSize(4);
        assertThat(result.prettify()).doesNotContain("line\\nbreak", "line\nbreak");
        assertThat(error(result, 0, "!line_break")).contains("target id must match");
        assertThat(strings(good, "SELECT id::text FROM users")).containsExactly(user.toString());
        assertThat(strings(internal, "SELECT DISTINCT \"targetId\" FROM \"SyncEngineProgress\" WHERE \"tenancyId\" = ?",
                tenancy.id())).containsExactly("good");
        assertThat(result.getString("results[1].outcome")).isEqualTo("SYNCED");
        assertThat(strings(other, "SELECT display_name FROM users")).containsExactly("Bystander");
    }
}
