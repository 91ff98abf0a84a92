package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.assertMirrors;
import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;

import org.jboss.logging.Logger;
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
 * The verifier-style full comparison: after a mixed random workload over every synced table in two tenancies (each
 * with its own target), synced in irregular windows, every target table equals its mapping's projection.
 */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class MixedWorkloadSyncTest {

    private static final Logger LOG = Logger.getLogger(MixedWorkloadSyncTest.class);
    private static final int OPERATIONS = 400;
    private static final List<UUID> CATEGORIES = List.of(UUID.randomUUID(), UUID.randomUUID(), UUID.randomUUID());

    @InjectTestDatabase
    TestDatabase internal;

    private StackAuthFixtures fixtures;
    private Random random;

    /** Makes every generated email unique: a tenancy's channels (and invitations) must not repeat one. */
    private int serial;

    @Test
    void everyTargetTableEqualsItsProjectionAfterAMixedRandomWorkload() {
        long seed = System.nanoTime();
        LOG.infof("mixed workload seed %d", seed);
        random = new Random(seed);
        fixtures = new StackAuthFixtures(internal);
        Tenancy a = fixtures.createTenancy();
        Tenancy b = fixtures.createTenancy();
        TestDatabase targetA = TestPostgres.createDatabase("mixed_a");
        TestDatabase targetB = TestPostgres.createDatabase("mixed_b");
        fixtures.configureTargets(a, Map.of("main", targetA.postgresUrl()));
        fixtures.configureTargets(b, Map.of("main", targetB.postgresUrl()));

        for (int i = 0; i < OPERATIONS; i++) {
            operate(random.nextBoolean() ? a : b);
            if (random.nextInt(40) == 0) {
                stamp(internal);
            }
            if (random.nextInt(60) == 0) {
                // A sync may run between stamps: changes after the stamp wait for the next window.
                syncBoth(a, b);
            }
        }
        stamp(internal);
        syncBoth(a, b);

        assertMirrors(internal, a.id(), targetA);
        assertMirrors(internal, b.id(), targetB);
        long rows = 0;
        for (Mapping mapping : Mappings.ALL) {
            rows += targetA.queryLong("SELECT count(*) FROM " + mapping.quotedTable())
                    + targetB.queryLong("SELECT count(*) FROM " + mapping.quotedTable());
        }
        assertThat(rows).as("the workload left rows to compare (seed " + seed + ")").isGreaterThan(20);
    }

    private void syncBoth(Tenancy a, Tenancy b) {
        JsonPath result = sync(a.id(), b.id());
        assertThat(result.getList("results.targets.flatten().outcome")).as(result.prettify())
                .containsOnly("SYNCED");
    }

    private Object pick(Tenancy t, String sql) {
        List<List<Object>> rows = internal.queryRows(sql + " ORDER BY random() LIMIT 1", t.id());
        return rows.isEmpty() ? null : rows.get(0).get(0);
    }

    private UUID user(Tenancy t) {
        return (UUID) pick(t, "SELECT \"projectUserId\" FROM \"ProjectUser\" WHERE \"tenancyId\" = ?");
    }

    private UUID team(Tenancy t) {
        return (UUID) pick(t, "SELECT \"teamId\" FROM \"Team\" WHERE \"tenancyId\" = ?");
    }

    private void operate(Tenancy t) {
        UUID user = user(t);
        UUID team = team(t);
        int op = random.nextInt(26);
        if (user == null && op > 2) {
            op = 0;
        }
        String n = random.nextInt(1000) + "-" + ++serial;
        switch (op) {
            case 0, 1 -> fixtures.createUser(t, "user " + n, random.nextBoolean() ? "u" + n + "@example.com" : null);
            case 2 -> {
                if (team == null || random.nextBoolean()) {
                    fixtures.createTeam(t, "team " + n);
                } else {
                    fixtures.renameTeam(t, team, "team " + n);
                }
            }
            case 3 -> fixtures.renameUser(t, user, "renamed " + n);
            case 4 -> {
                fixtures.deleteSessionsOf(t, user);
                fixtures.deleteUser(t, user);
            }
            case 5 -> {
                if (team != null && random.nextInt(3) == 0) {
                    fixtures.deleteTeam(t, team);
                }
            }
            case 6, 7 -> {
                if (team != null) {
                    internal.update("""
                            INSERT INTO "TeamMember" ("tenancyId", "projectUserId", "teamId", "updatedAt", "displayName")
                            VALUES (?, ?, ?, now(), ?) ON CONFLICT DO NOTHING""", t.id(), user, team,
                            random.nextBoolean() ? "member " + n : null);
                }
            }
            case 8 -> internal.update("""
                    DELETE FROM "TeamMember" WHERE ("tenancyId", "projectUserId", "teamId") IN (
                        SELECT "tenancyId", "projectUserId", "teamId" FROM "TeamMember" WHERE "tenancyId" = ?
                        ORDER BY random() LIMIT 1)""", t.id());
            case 9 -> internal.update("""
                    INSERT INTO "TeamMemberDirectPermission" ("id", "tenancyId", "projectUserId", "teamId", "permissionId",
                                                              "updatedAt")
                    SELECT gen_random_uuid(), m."tenancyId", m."projectUserId", m."teamId", ?, now()
                    FROM "TeamMember" m WHERE m."tenancyId" = ? ORDER BY random() LIMIT 1
                    ON CONFLICT DO NOTHING""", random.nextBoolean() ? "read" : "write", t.id());
            case 10 -> internal.update("""
                    DELETE FROM "TeamMemberDirectPermission" WHERE "id" IN (
                        SELECT "id" FROM "TeamMemberDirectPermission" WHERE "tenancyId" = ? ORDER BY random() LIMIT 1)""",
                    t.id());
            case 11 -> internal.update("""
                    INSERT INTO "ProjectUserDirectPermission" ("id", "tenancyId", "projectUserId", "permissionId", "updatedAt")
                    VALUES (gen_random_uuid(), ?, ?, ?, now()) ON CONFLICT DO NOTHING""", t.id(), user,
                    random.nextBoolean() ? "admin" : "viewer");
            case 12 -> internal.update("""
                    DELETE FROM "ProjectUserDirectPermission" WHERE "id" IN (
                        SELECT "id" FROM "ProjectUserDirectPermission" WHERE "tenancyId" = ? ORDER BY random() LIMIT 1)""",
                    t.id());
            case 13 -> fixtures.inviteToTeam(t, team != null && random.nextInt(4) > 0 ? team : UUID.randomUUID(),
                    "invitee" + n + "@example.com");
            case 14 -> internal.update("""
                    DELETE FROM "VerificationCode" WHERE "projectId" = ? AND "id" IN (
                        SELECT "id" FROM "VerificationCode" WHERE "projectId" = ? ORDER BY random() LIMIT 1)""",
                    t.projectId(), t.projectId());
            case 15 -> internal.update("""
                    UPDATE "VerificationCode" SET "method" = jsonb_build_object('email', ?::text), "updatedAt" = now()
                    WHERE "projectId" = ? AND "type" = 'TEAM_INVITATION' AND "id" IN (
                        SELECT "id" FROM "VerificationCode" WHERE "projectId" = ? ORDER BY random() LIMIT 1)""",
                    "changed" + n + "@example.com", t.projectId(), t.projectId());
            case 16 -> fixtures.createOneTimePassword(t);
            case 17 -> fixtures.createEmail(t, random.nextBoolean() ? "template-" + n : null);
            case 18 -> internal.update("""
                    UPDATE "EmailOutbox" SET "isPaused" = NOT "isPaused", "sendRetries" = "sendRetries" + 1
                    WHERE "tenancyId" = ? AND "id" IN (
                        SELECT "id" FROM "EmailOutbox" WHERE "tenancyId" = ? ORDER BY random() LIMIT 1)""",
                    t.id(), t.id());
            case 19 -> internal.update("""
                    DELETE FROM "EmailOutbox" WHERE "tenancyId" = ? AND "id" IN (
                        SELECT "id" FROM "EmailOutbox" WHERE "tenancyId" = ? ORDER BY random() LIMIT 1)""",
                    t.id(), t.id());
            case 20 -> fixtures.setNotificationPreference(t, user, CATEGORIES.get(random.nextInt(CATEGORIES.size())),
                    random.nextBoolean());
            case 21 -> internal.update("""
                    DELETE FROM "UserNotificationPreference" WHERE "tenancyId" = ? AND "id" IN (
                        SELECT "id" FROM "UserNotificationPreference" WHERE "tenancyId" = ? ORDER BY random() LIMIT 1)""",
                    t.id(), t.id());
            case 22 -> fixtures.createRefreshToken(t, user);
            case 23 -> internal.update("""
                    UPDATE "ProjectUserRefreshToken" SET "lastActiveAt" = now(), "isImpersonation" = NOT "isImpersonation"
                    WHERE "tenancyId" = ? AND "id" IN (
                        SELECT "id" FROM "ProjectUserRefreshToken" WHERE "tenancyId" = ? ORDER BY random() LIMIT 1)""",
                    t.id(), t.id());
            case 24 -> fixtures.connectAccount(t, user, random.nextBoolean() ? "github" : "google",
                    random.nextBoolean() ? "acct" + n + "@example.com" : null);
            default -> internal.update("""
                    UPDATE "ProjectUserOAuthAccount"
                    SET "projectUserId" = CASE WHEN "projectUserId" IS NULL THEN ?::uuid END, "updatedAt" = now()
                    WHERE "tenancyId" = ? AND "id" IN (
                        SELECT "id" FROM "ProjectUserOAuthAccount" WHERE "tenancyId" = ? ORDER BY random() LIMIT 1)""",
                    user, t.id(), t.id());
        }
    }
}
