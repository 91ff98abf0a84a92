package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;

/**
 * Issue #16's hostile configs against the packaged services: the internal database as a target, a URL that hides
 * the real host in its parameters, too many targets, a bad target id. Nothing is created where it must not be, and
 * an ordinary tenancy and the hostile tenancies' good targets sync as usual.
 */
class HostileTargetConfigsIT {

    private static final Duration SYNCED = Duration.ofSeconds(45);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Pipeline pipeline;
    private static TestDatabase internal;
    private static StackAuthFixtures fixtures;

    @BeforeAll
    static void startPipeline() {
        pipeline = Pipeline.start(1, 1, 1);
        internal = pipeline.internal;
        fixtures = pipeline.fixtures;
    }

    @AfterAll
    static void stopPipeline() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    private static void configure(Tenancy tenancy, Map<String, String> urls) throws Exception {
        Map<String, Object> databases = new LinkedHashMap<>();
        urls.forEach((id, url) -> databases.put(id, Map.of("type", "postgres", "connectionString", url)));
        fixtures.setConfig(tenancy, JSON.writeValueAsString(Map.of("dbSync", Map.of("externalDatabases", databases))));
    }

    @Test
    void hostileConfigsWriteNowhereAndOrdinaryTargetsKeepSyncing() throws Exception {
        Tenancy ordinary = fixtures.createTenancy();
        TestDatabase ordinaryTarget = pipeline.newExternal();
        fixtures.configureTargets(ordinary, Map.of("main", ordinaryTarget.postgresUrl()));

        Tenancy hostile = fixtures.createTenancy();
        TestDatabase hidden = pipeline.newExternal();
        TestDatabase hostileGood = pipeline.newExternal();
        Map<String, String> urls = new LinkedHashMap<>();
        urls.put("internal", internal.postgresUrl());
        urls.put("hidden", "postgresql://" + hidden.user() + ":" + hidden.password()
                + "@sync-target.example.invalid/" + hidden.name() + "?host=localhost&port=" + hidden.port());
        urls.put("bad\nid", hostileGood.postgresUrl());
        urls.put("good", hostileGood.postgresUrl());
        configure(hostile, urls);

        Tenancy greedy = fixtures.createTenancy();
        Map<String, String> many = new LinkedHashMap<>();
        for (int i = 0; i < 11; i++) {
            many.put("t" + i, hidden.postgresUrl());
        }
        configure(greedy, many);

        for (Tenancy tenancy : List.of(ordinary, hostile, greedy)) {
            fixtures.createUser(tenancy, "User of " + tenancy.id(), null);
        }
        UUID later = fixtures.createUser(ordinary, "Later", "later@example.com");

        Oracle.awaitMirrors(internal, ordinaryTarget, List.of(ordinary.id()), SYNCED);
        Oracle.awaitMirrors(internal, hostileGood, List.of(hostile.id()), SYNCED);
        pipeline.awaitQuiescent(SYNCED);

        assertThat(ordinaryTarget.queryValue("SELECT display_name FROM users WHERE id = ?", later)).isEqualTo("Later");
        for (String table : List.of("users", "contact_channels", "_stack_sync_metadata")) {
            assertThat(Oracle.tableExists(internal, table)).as("%s in the internal database", table).isFalse();
            assertThat(Oracle.tableExists(hidden, table)).as("%s where the parameters pointed", table).isFalse();
        }
        assertThat(internal.queryLong("SELECT count(*) FROM \"SyncEngineProgress\" WHERE \"tenancyId\" = ?",
                greedy.id())).as("no target of the greedy tenancy ran").isZero();
        assertThat(internal.queryLong("SELECT count(*) FROM \"SyncEngineProgress\" WHERE \"tenancyId\" = ? "
                + "AND \"targetId\" <> 'good'", hostile.id())).as("only the good target ran").isZero();
    }
}
