package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static dev.externaldbsync.engine.TargetPolicyTest.configure;
import static dev.externaldbsync.engine.TargetPolicyTest.error;
import static dev.externaldbsync.engine.TargetPolicyTest.outcomes;
import static dev.externaldbsync.engine.UserSyncTest.strings;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.path.json.JsonPath;

/**
 * An operator who denies loopback and lists the one address targets may use: a host name that resolves to a
 * denied address is refused when the socket connects, before any byte reaches the database behind it.
 */
@QuarkusTest
@TestProfile(LockedDownTargetsTest.Profile.class)
@WithTestResource(InternalDatabaseResource.class)
class LockedDownTargetsTest {

    /** Loopback denied; only URLs that say 127.0.0.1 are allowed (an allowlisted host, as written). */
    public static class Profile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("engine.targets.allow-loopback", "false", "engine.targets.allow", "127.0.0.1");
        }
    }

    @InjectTestDatabase
    TestDatabase internal;

    private static String byAddress(TestDatabase db) {
        return db.postgresUrl().replace("@localhost:", "@127.0.0.1:");
    }

    @Test
    void aHostNameResolvingToADeniedAddressIsAConfigErrorAtConnectAndTheAllowedTargetsSync() {
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        TestDatabase behindName = TestPostgres.createDatabase("locked_behind_name");
        TestDatabase good = TestPostgres.createDatabase("locked_good");
        TestDatabase other = TestPostgres.createDatabase("locked_other");
        Tenancy tenancy = fixtures.createTenancy();
        Map<String, String> urls = new LinkedHashMap<>();
        urls.put("by-name", behindName.postgresUrl());
        urls.put("literal", "postgresql://u:p@10.0.0.1:5432/x");
        urls.put("good", byAddress(good));
        configure(fixtures, tenancy, urls);
        UUID user = fixtures.createUser(tenancy, "Owner", "owner@example.com");
        Tenancy bystander = fixtures.createTenancy();
        configure(fixtures, bystander, Map.of("main", byAddress(other)));
        fixtures.createUser(bystander, "Bystander", "bystander@example.com");
        stamp(internal);

        JsonPath result = sync(tenancy.id(), bystander.id());

        assertThat(outcomes(result, 0)).containsEntry("by-name", "INVALID_CONFIG/false")
                .containsEntry("literal", "INVALID_CONFIG/false").containsEntry("good", "SYNCED/false");
        assertThat(error(result, 0, "by-name")).contains("refused by the engine's connection policy",
                "localhost (resolved to 127.0.0.1) is a loopback address, not in engine.targets.allow", ":***@");
        assertThat(error(result, 0, "literal")).contains("10.0.0.1 is a private address, not in engine.targets.allow");
        assertThat(strings(behindName, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
                .containsExactly("0");
        assertThat(strings(good, "SELECT id::text FROM users")).containsExactly(user.toString());
        assertThat(result.getString("results[1].outcome")).isEqualTo("SYNCED");
        assertThat(strings(other, "SELECT display_name FROM users")).containsExactly("Bystander");
    }
}
