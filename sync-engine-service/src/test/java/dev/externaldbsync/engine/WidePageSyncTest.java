package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.assertMirrors;
import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static dev.externaldbsync.engine.TargetPolicyTest.configure;
import static dev.externaldbsync.engine.UserSyncTest.strings;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
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

/**
 * Users whose jsonb is far wider than a page's byte limit: every row still arrives, the first sync and a later
 * change of every row, each over several byte-cut pages.
 */
@QuarkusTest
@TestProfile(WidePageSyncTest.Profile.class)
@WithTestResource(InternalDatabaseResource.class)
class WidePageSyncTest {

    /** A 1 MB page of 200 KB rows holds about five: the batched read is cut, the tenancy continues alone. */
    public static class Profile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("engine.page-max-bytes", "1M");
        }
    }

    private static final int USERS = 16;
    private static final int WIDTH = 200_000;

    @InjectTestDatabase
    TestDatabase internal;

    private void widen(Tenancy tenancy, List<UUID> users, String fill) {
        for (UUID user : users) {
            internal.update("UPDATE \"ProjectUser\" SET \"clientMetadata\" = jsonb_build_object('pad', repeat(?, ?)),"
                    + " \"updatedAt\" = now() WHERE \"tenancyId\" = ? AND \"projectUserId\" = ?", fill, WIDTH,
                    tenancy.id(), user);
        }
    }

    @Test
    void rowsWiderThanAPageArriveEveryOneOverSeveralPagesOnFirstSyncAndOnChange() {
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        TestDatabase target = TestPostgres.createDatabase("wide_pages");
        Tenancy tenancy = fixtures.createTenancy();
        configure(fixtures, tenancy, Map.of("main", target.postgresUrl()));
        List<UUID> users = new ArrayList<>();
        for (int u = 0; u < USERS; u++) {
            users.add(fixtures.createUser(tenancy, "Wide " + u, "wide" + u + "@example.com"));
        }
        widen(tenancy, users, "a");
        stamp(internal);

        assertThat(sync(tenancy.id()).getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(strings(target, "SELECT count(*) FROM users WHERE length(client_metadata ->> 'pad') = ?", WIDTH))
                .containsExactly(String.valueOf(USERS));
        assertMirrors(internal, tenancy.id(), target);

        widen(tenancy, users, "b");
        stamp(internal);

        assertThat(sync(tenancy.id()).getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(strings(target, "SELECT count(*) FROM users WHERE client_metadata ->> 'pad' = repeat('b', ?)",
                WIDTH)).containsExactly(String.valueOf(USERS));
        assertMirrors(internal, tenancy.id(), target);
    }
}
