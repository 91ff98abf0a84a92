package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

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

/** Users and contact channels reach the target exactly (mission §12), through signed POST /api/v1/sync calls. */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class UserSyncTest {

    @InjectTestDatabase
    TestDatabase internal;

    StackAuthFixtures fixtures;

    @BeforeEach
    void fixtures() {
        fixtures = new StackAuthFixtures(internal);
    }

    private record Setup(Tenancy tenancy, TestDatabase target) {
    }

    private Setup tenancyWithTarget() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("target");
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        return new Setup(tenancy, target);
    }

    private static List<String> users(TestDatabase target) {
        return strings(target, """
                SELECT id::text, display_name, primary_email, primary_email_verified::text, is_anonymous::text,
                       client_metadata::text FROM users ORDER BY display_name, id""");
    }

    private static List<String> channels(TestDatabase target) {
        return strings(target, """
                SELECT user_id::text, type, value, is_primary::text, is_verified::text, used_for_auth::text
                FROM contact_channels ORDER BY value""");
    }

    static List<String> strings(TestDatabase db, String sql, Object... params) {
        return db.queryRows(sql, params).stream()
                .map(r -> r.stream().map(String::valueOf).collect(Collectors.joining("|"))).toList();
    }

    private void insertUserWithId(Tenancy tenancy, UUID id, String name) {
        internal.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt", "displayName") VALUES (?, ?, ?, 'main', now(), ?)""",
                tenancy.id(), id, tenancy.projectId(), name);
    }

    @Test
    void insertUpdateAndDeleteReachTheTargetWithEveryColumn() {
        Setup s = tenancyWithTarget();
        UUID ada = fixtures.createUser(s.tenancy, "Ada", "ada@example.com");
        stamp(internal);

        JsonPath result = sync(s.tenancy.id());

        assertThat(result.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(result.getBoolean("results[0].retry")).isFalse();
        assertThat(result.getInt("results[0].targets[0].appliedRows.users")).isEqualTo(1);
        assertThat(result.getInt("results[0].targets[0].appliedRows.contact_channels")).isEqualTo(1);
        assertThat(users(s.target)).containsExactly(ada + "|Ada|ada@example.com|true|false|{\"plan\": \"free\"}");
        assertThat(channels(s.target)).containsExactly(ada + "|EMAIL|ada@example.com|true|true|true");
        // Timestamps are the internal UTC wall-clock values, unchanged.
        assertThat(s.target.queryValue("SELECT signed_up_at::text FROM users")).isEqualTo(internal.queryValue(
                "SELECT \"signedUpAt\"::text FROM \"ProjectUser\" WHERE \"projectUserId\" = ?", ada));
        assertThat(s.target.queryValue("SELECT created_at::text FROM contact_channels")).isEqualTo(internal.queryValue(
                "SELECT \"createdAt\"::text FROM \"ContactChannel\" WHERE \"projectUserId\" = ?", ada));

        fixtures.renameUser(s.tenancy, ada, "Ada Lovelace");
        internal.update("UPDATE \"ProjectUser\" SET \"serverMetadata\" = '{\"tier\": 2}' WHERE \"projectUserId\" = ?", ada);
        stamp(internal);
        sync(s.tenancy.id());
        assertThat(users(s.target)).containsExactly(ada + "|Ada Lovelace|ada@example.com|true|false|{\"plan\": \"free\"}");
        assertThat(s.target.queryValue("SELECT server_metadata::text FROM users")).isEqualTo("{\"tier\": 2}");

        fixtures.deleteUser(s.tenancy, ada);
        stamp(internal);
        JsonPath deleted = sync(s.tenancy.id());
        assertThat(deleted.getInt("results[0].targets[0].appliedRows.users")).isEqualTo(1);
        assertThat(users(s.target)).isEmpty();
        assertThat(channels(s.target)).as("the cascade-deleted channel").isEmpty();
    }

    @Test
    void reapplyingChangesNothingAndAnIdleTenancyAppliesNothing() {
        Setup s = tenancyWithTarget();
        fixtures.createUser(s.tenancy, "Idle", "idle@example.com");
        stamp(internal);
        sync(s.tenancy.id());
        long xmin = s.target.queryLong("SELECT xmin::text::bigint FROM users");

        // Force a re-read of the same rows (cursor back to the start): the upsert finds them identical.
        s.target.execute("UPDATE _stack_sync_metadata SET last_synced_sequence_id = -1");
        JsonPath again = sync(s.tenancy.id());

        assertThat(again.getInt("results[0].targets[0].appliedRows.users")).isZero();
        assertThat(s.target.queryLong("SELECT xmin::text::bigint FROM users")).as("row not rewritten").isEqualTo(xmin);
        assertThat(sync(s.tenancy.id()).getInt("results[0].targets[0].appliedRows.users")).isZero();
    }

    @Test
    void targetTablesAreCreatedAutomaticallyOnceAndOtherRolesCanOnlyRead() {
        Setup s = tenancyWithTarget();
        fixtures.createUser(s.tenancy, "Grace", "grace@example.com");
        stamp(internal);
        assertThat(s.target.queryValue("SELECT to_regclass('users')::text")).isNull();

        sync(s.tenancy.id());

        assertThat(strings(s.target, """
                SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'
                ORDER BY table_name""")).containsExactlyElementsOf(java.util.stream.Stream.concat(
                        Stream.of("_stack_sync_metadata"), Mappings.ALL.stream().map(m -> m.name())).sorted().toList());
        assertThat(s.target.queryValue("SELECT obj_description('_stack_sync_metadata'::regclass, 'pg_class')"))
                .isEqualTo(Mappings.SCHEMA_MARK);

        String reader = "reader_" + UUID.randomUUID().toString().replace("-", "").substring(0, 8);
        s.target.execute("CREATE ROLE " + reader);
        try (java.sql.Connection c = s.target.connect(); java.sql.Statement st = c.createStatement()) {
            st.execute("SET ROLE " + reader);
            try (java.sql.ResultSet rs = st.executeQuery("SELECT display_name FROM users")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("Grace");
            }
        } catch (java.sql.SQLException e) {
            throw new AssertionError("the reader role cannot read users: " + e.getMessage(), e);
        }
        for (String write : List.of("INSERT INTO users (id, signed_up_at) VALUES (gen_random_uuid(), now())",
                "UPDATE users SET display_name = 'x'", "DELETE FROM contact_channels",
                "SELECT * FROM _stack_sync_metadata")) {
            try {
                s.target.execute("SET ROLE " + reader, write);
                throw new AssertionError("role " + reader + " could run: " + write);
            } catch (IllegalStateException e) {
                assertThat(e.getMessage()).contains("permission denied");
            }
        }

        // The schema is remembered: a later sync does not run the DDL (whose REVOKE would drop this grant).
        s.target.execute("GRANT INSERT ON users TO " + reader);
        fixtures.createUser(s.tenancy, "Hopper", null);
        stamp(internal);
        sync(s.tenancy.id());
        assertThat(s.target.queryValue("SELECT has_table_privilege('" + reader + "', 'users', 'INSERT')"))
                .isEqualTo(true);
        assertThat(users(s.target)).hasSize(2);
    }

    @Test
    void aTargetAlreadyMarkedAtThisSchemaVersionIsNotBootstrappedAgain() {
        // As after an engine restart: the target carries the schema mark, this engine has not seen it yet.
        Setup s = tenancyWithTarget();
        s.target.execute(Mappings.TARGET_DDL.toArray(String[]::new));
        s.target.execute(Mappings.WRITE_SCHEMA_MARK_SQL, "GRANT INSERT ON users TO PUBLIC");
        UUID user = fixtures.createUser(s.tenancy, "Marked", null);
        stamp(internal);

        sync(s.tenancy.id());

        assertThat(strings(s.target, "SELECT id::text FROM users")).containsExactly(user.toString());
        assertThat(s.target.queryValue("SELECT has_table_privilege('public', 'users', 'INSERT')"))
                .as("the DDL's REVOKE did not run again").isEqualTo(true);
    }

    @Test
    void dataAppearsOnlyAfterTheTargetIsConfigured() {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Early", "early@example.com");
        stamp(internal);
        TestDatabase target = TestPostgres.createDatabase("target");

        JsonPath before = sync(tenancy.id());
        assertThat(before.getString("results[0].outcome")).isEqualTo("NO_TARGETS");
        assertThat(before.getBoolean("results[0].retry")).isFalse();
        assertThat(target.queryValue("SELECT to_regclass('users')::text")).isNull();

        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        sync(tenancy.id());

        assertThat(users(target)).containsExactly(user + "|Early|early@example.com|true|false|{\"plan\": \"free\"}");
    }

    @Test
    void aUserWithSeveralEmailsIsOneUsersRowWithThePrimary() {
        Setup s = tenancyWithTarget();
        UUID user = fixtures.createUser(s.tenancy, "Multi", "primary@example.com");
        fixtures.addEmail(s.tenancy, user, "second@example.com", false);
        fixtures.addEmail(s.tenancy, user, "third@example.com", false);
        stamp(internal);
        sync(s.tenancy.id());

        assertThat(users(s.target)).containsExactly(user + "|Multi|primary@example.com|true|false|{\"plan\": \"free\"}");
        assertThat(channels(s.target)).containsExactly(
                user + "|EMAIL|primary@example.com|true|true|true",
                user + "|EMAIL|second@example.com|false|true|false",
                user + "|EMAIL|third@example.com|false|true|false");

        // Moving the primary flag re-derives the users row.
        internal.update("UPDATE \"ContactChannel\" SET \"isPrimary\" = NULL, \"updatedAt\" = now() WHERE \"value\" = ?",
                "primary@example.com");
        internal.update("UPDATE \"ContactChannel\" SET \"isPrimary\" = 'TRUE', \"updatedAt\" = now() WHERE \"value\" = ?",
                "third@example.com");
        stamp(internal);
        sync(s.tenancy.id());
        assertThat(users(s.target)).containsExactly(user + "|Multi|third@example.com|true|false|{\"plan\": \"free\"}");
        assertThat(strings(s.target, "SELECT value FROM contact_channels WHERE is_primary"))
                .containsExactly("third@example.com");
    }

    @Test
    void theCursorExistsPerTenancyAndMappingAndStrictlyIncreases() {
        Setup s = tenancyWithTarget();
        UUID user = fixtures.createUser(s.tenancy, "Cursor", "cursor@example.com");
        stamp(internal);
        sync(s.tenancy.id());
        long first = cursor(s, "users");
        assertThat(first).isEqualTo(internal.queryLong("""
                SELECT max("sequenceId") FROM "SyncChange"
                WHERE "tableName" = 'ProjectUser' AND "primaryKey" ->> 'projectUserId' = ?""", user.toString()));
        assertThat(cursor(s, "contact_channels")).isEqualTo(internal.queryLong("""
                SELECT max("sequenceId") FROM "SyncChange"
                WHERE "tableName" = 'ContactChannel' AND "primaryKey" ->> 'projectUserId' = ?""", user.toString()));

        long previous = first;
        for (int i = 0; i < 3; i++) {
            fixtures.renameUser(s.tenancy, user, "Cursor " + i);
            stamp(internal);
            sync(s.tenancy.id());
            long next = cursor(s, "users");
            assertThat(next).isGreaterThan(previous);
            previous = next;
        }
        // One cursor per mapping with data (a mapping without any has no row: it reads as −1).
        assertThat(EngineTestSupport.cursorRows(s.target)).containsExactly(s.tenancy.id() + "|contact_channels",
                s.tenancy.id() + "|users");
    }

    private static long cursor(Setup s, String mapping) {
        return s.target.queryLong("""
                SELECT last_synced_sequence_id FROM _stack_sync_metadata WHERE tenancy_id = ? AND mapping_name = ?""",
                s.tenancy.id(), mapping);
    }

    @Test
    void tenantsAreIsolatedAcrossTheirOwnTargets() {
        Tenancy a = fixtures.createTenancy();
        Tenancy b = fixtures.createTenancy();
        List<TestDatabase> aTargets = List.of(TestPostgres.createDatabase("a1"), TestPostgres.createDatabase("a2"));
        List<TestDatabase> bTargets = List.of(TestPostgres.createDatabase("b1"), TestPostgres.createDatabase("b2"),
                TestPostgres.createDatabase("b3"));
        fixtures.configureTargets(a, Map.of("one", aTargets.get(0).postgresUrl(), "two", aTargets.get(1).postgresUrl()));
        fixtures.configureTargets(b, Map.of("x", bTargets.get(0).postgresUrl(), "y", bTargets.get(1).postgresUrl(),
                "z", bTargets.get(2).postgresUrl()));
        UUID alice = fixtures.createUser(a, "Alice", "alice@a.example");
        UUID bob = fixtures.createUser(b, "Bob", "bob@b.example");
        UUID bea = fixtures.createUser(b, "Bea", "bea@b.example");
        stamp(internal);

        JsonPath result = sync(a.id(), b.id());

        assertThat(result.getList("results.outcome")).containsExactly("SYNCED", "SYNCED");
        assertThat(result.getList("results[1].targets.targetId")).containsExactlyInAnyOrder("x", "y", "z");
        for (TestDatabase t : aTargets) {
            assertThat(strings(t, "SELECT id::text, primary_email FROM users")).containsExactly(alice + "|alice@a.example");
            assertThat(strings(t, "SELECT value FROM contact_channels")).containsExactly("alice@a.example");
        }
        for (TestDatabase t : bTargets) {
            assertThat(strings(t, "SELECT id::text, primary_email FROM users ORDER BY display_name"))
                    .containsExactly(bea + "|bea@b.example", bob + "|bob@b.example");
            assertThat(strings(t, "SELECT DISTINCT tenancy_id::text FROM _stack_sync_metadata"))
                    .containsExactly(b.id().toString());
        }
    }

    @Test
    void specialCharactersArriveByteExact() {
        Setup s = tenancyWithTarget();
        String name = "O'Connor 🚀 用户 \"Test\" \\ back\\slash";
        String email = "o'connor+🚀@例え.jp";
        UUID user = fixtures.createUser(s.tenancy, name, email);
        internal.update("""
                UPDATE "ProjectUser" SET "clientReadOnlyMetadata" = ?::jsonb WHERE "projectUserId" = ?""",
                "{\"quote\": \"it's \\\"x\\\"\", \"emoji\": \"🚀\", \"nested\": {\"a\": [1, null, \"用户\"]}}", user);
        stamp(internal);
        sync(s.tenancy.id());

        assertThat(s.target.queryValue("SELECT display_name FROM users")).isEqualTo(name);
        assertThat(s.target.queryValue("SELECT primary_email FROM users")).isEqualTo(email);
        assertThat(s.target.queryValue("SELECT encode(convert_to(display_name, 'UTF8'), 'hex') FROM users"))
                .isEqualTo(internal.queryValue("""
                        SELECT encode(convert_to("displayName", 'UTF8'), 'hex') FROM "ProjectUser"
                        WHERE "projectUserId" = ?""", user));
        assertThat(s.target.queryValue("SELECT client_read_only_metadata::text FROM users")).isEqualTo(internal
                .queryValue("SELECT \"clientReadOnlyMetadata\"::text FROM \"ProjectUser\" WHERE \"projectUserId\" = ?",
                        user));
        assertThat(s.target.queryValue("SELECT value FROM contact_channels")).isEqualTo(email);
    }

    @Test
    void severalUpdatesBeforeOneSyncTheLastWins() {
        Setup s = tenancyWithTarget();
        UUID user = fixtures.createUser(s.tenancy, "v0", "last@example.com");
        stamp(internal);
        sync(s.tenancy.id());
        fixtures.renameUser(s.tenancy, user, "v1");
        stamp(internal);
        fixtures.renameUser(s.tenancy, user, "v2");
        fixtures.renameUser(s.tenancy, user, "v3");
        stamp(internal);

        sync(s.tenancy.id());

        assertThat(strings(s.target, "SELECT display_name FROM users")).containsExactly("v3");
    }

    @Test
    void aUserDeletedBeforeTheFirstSyncIsNeverExported() {
        Setup s = tenancyWithTarget();
        UUID stampedThenDeleted = fixtures.createUser(s.tenancy, "Stamped", "stamped@example.com");
        stamp(internal);
        fixtures.deleteUser(s.tenancy, stampedThenDeleted);
        UUID neverStamped = fixtures.createUser(s.tenancy, "Unstamped", "unstamped@example.com");
        fixtures.deleteUser(s.tenancy, neverStamped);
        UUID kept = fixtures.createUser(s.tenancy, "Kept", null);
        stamp(internal);

        sync(s.tenancy.id());

        assertThat(strings(s.target, "SELECT id::text FROM users")).containsExactly(kept.toString());
        assertThat(s.target.queryLong("SELECT count(*) FROM contact_channels")).isZero();
    }

    @Test
    void deleteThenRecreateWithTheSameEmailLeavesExactlyTheNewUser() {
        Setup s = tenancyWithTarget();
        UUID old = fixtures.createUser(s.tenancy, "Same", "same@example.com");
        stamp(internal);
        sync(s.tenancy.id());
        fixtures.deleteUser(s.tenancy, old);
        UUID renewed = fixtures.createUser(s.tenancy, "Same", "same@example.com");
        stamp(internal);

        sync(s.tenancy.id());

        assertThat(renewed).isNotEqualTo(old);
        assertThat(strings(s.target, "SELECT id::text, primary_email FROM users"))
                .containsExactly(renewed + "|same@example.com");
        assertThat(strings(s.target, "SELECT user_id::text, value FROM contact_channels"))
                .containsExactly(renewed + "|same@example.com");
    }

    @Test
    void createUpdateUpdateDeleteCreateUpdateEndsInTheLastState() {
        // Once with a sync after every step, once with all steps in one sequencing window.
        for (boolean syncEachStep : List.of(true, false)) {
            Setup s = tenancyWithTarget();
            UUID id = UUID.randomUUID();
            Runnable step = () -> {
                stamp(internal);
                if (syncEachStep) {
                    sync(s.tenancy.id());
                }
            };
            insertUserWithId(s.tenancy, id, "created");
            step.run();
            if (syncEachStep) {
                assertThat(strings(s.target, "SELECT display_name FROM users")).containsExactly("created");
            }
            fixtures.renameUser(s.tenancy, id, "updated 1");
            step.run();
            fixtures.renameUser(s.tenancy, id, "updated 2");
            step.run();
            if (syncEachStep) {
                assertThat(strings(s.target, "SELECT display_name FROM users")).containsExactly("updated 2");
            }
            fixtures.deleteUser(s.tenancy, id);
            step.run();
            if (syncEachStep) {
                assertThat(s.target.queryLong("SELECT count(*) FROM users")).isZero();
            }
            insertUserWithId(s.tenancy, id, "recreated");
            step.run();
            fixtures.renameUser(s.tenancy, id, "recreated and updated");
            stamp(internal);
            sync(s.tenancy.id());

            assertThat(strings(s.target, "SELECT id::text, display_name FROM users"))
                    .as("sync each step: %s", syncEachStep).containsExactly(id + "|recreated and updated");
        }
    }

    @Test
    void removeAndReAddWithinOneWindowEndsPresentAndReAddThenRemoveEndsAbsent() {
        Setup s = tenancyWithTarget();
        UUID stays = fixtures.createUser(s.tenancy, "Stays", null);
        UUID goes = fixtures.createUser(s.tenancy, "Goes", null);
        stamp(internal);
        sync(s.tenancy.id());

        // One window: the delete and the re-creation of one key are both stamped in it, yet the user stays.
        fixtures.deleteUser(s.tenancy, stays);
        insertUserWithId(s.tenancy, stays, "Stays again");
        fixtures.deleteUser(s.tenancy, goes);
        insertUserWithId(s.tenancy, goes, "Goes briefly");
        fixtures.deleteUser(s.tenancy, goes);
        stamp(internal);
        assertThat(internal.queryLong("""
                SELECT count(*) FROM "SyncChange"
                WHERE "tableName" = 'ProjectUser' AND "primaryKey" ->> 'projectUserId' = ?
                  AND "sequenceId" IS NOT NULL""", stays.toString()))
                .as("the delete and the re-creation are both stamped").isGreaterThanOrEqualTo(2);

        sync(s.tenancy.id());

        assertThat(strings(s.target, "SELECT id::text, display_name FROM users"))
                .containsExactly(stays + "|Stays again");
    }

    @Test
    void fifteenHundredUsersAcrossPagesWithDeletesAtPageBoundaries() {
        Setup s = tenancyWithTarget();
        int pageSize = 400; // %test.engine.page-size
        internal.update("""
                WITH u AS (
                    INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                               "updatedAt", "displayName")
                    SELECT ?, gen_random_uuid(), ?, 'main', now(), 'bulk ' || lpad(g::text, 5, '0')
                    FROM generate_series(1, 1600) g
                    RETURNING "tenancyId", "projectUserId", "displayName")
                INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                                              "isVerified", "value", "usedForAuth")
                SELECT "tenancyId", "projectUserId", gen_random_uuid(), now(), 'EMAIL', 'TRUE', false,
                       replace("displayName", ' ', '-') || '@bulk.example', 'TRUE' FROM u""",
                s.tenancy.id(), s.tenancy.projectId());
        // Interleaved deletes before the first sync.
        internal.update("DELETE FROM \"ProjectUser\" WHERE \"tenancyId\" = ? AND \"displayName\" LIKE '%7'",
                s.tenancy.id());
        stamp(internal);
        JsonPath first = sync(s.tenancy.id());
        assertThat(first.getInt("results[0].targets[0].appliedRows.users")).isEqualTo(1440);
        assertExactlyInternal(s);

        // Tombstones as the last row of one page and the first row of the next.
        List<String> names = strings(internal, """
                SELECT "displayName" FROM "ProjectUser" WHERE "tenancyId" = ? ORDER BY "displayName\"""", s.tenancy.id());
        renameAll(s, names.subList(0, pageSize - 1));
        stamp(internal);
        deleteByName(s, names.get(1000));
        stamp(internal);
        deleteByName(s, names.get(1001));
        stamp(internal);
        renameAll(s, names.subList(pageSize, 2 * pageSize));
        stamp(internal);

        JsonPath second = sync(s.tenancy.id());

        assertThat(second.getInt("results[0].targets[0].appliedRows.users")).isEqualTo(2 * pageSize + 1);
        assertExactlyInternal(s);
        assertThat(s.target.queryLong("SELECT count(*) FROM users")).isEqualTo(1438);
    }

    private void renameAll(Setup s, List<String> names) {
        internal.update("""
                UPDATE "ProjectUser" SET "displayName" = "displayName" || ' renamed'
                WHERE "tenancyId" = ? AND "displayName" = ANY(?)""", s.tenancy.id(), names.toArray(String[]::new));
    }

    private void deleteByName(Setup s, String name) {
        internal.update("DELETE FROM \"ProjectUser\" WHERE \"tenancyId\" = ? AND \"displayName\" = ?", s.tenancy.id(),
                name);
    }

    /** The target holds exactly what the mappings compute from the internal tables, column by column. */
    private void assertExactlyInternal(Setup s) {
        List<String> expectedUsers = strings(internal, """
                SELECT u."projectUserId"::text, u."displayName", c."value", COALESCE(c."isVerified", false)::text
                FROM "ProjectUser" u LEFT JOIN "ContactChannel" c ON c."tenancyId" = u."tenancyId"
                  AND c."projectUserId" = u."projectUserId" AND c."isPrimary" = 'TRUE'
                WHERE u."tenancyId" = ? ORDER BY 1""", s.tenancy.id());
        assertThat(strings(s.target, """
                SELECT id::text, display_name, primary_email, primary_email_verified::text FROM users ORDER BY 1"""))
                .containsExactlyElementsOf(expectedUsers);
        List<String> expectedChannels = strings(internal, """
                SELECT "id"::text, "projectUserId"::text, "value" FROM "ContactChannel" WHERE "tenancyId" = ?
                ORDER BY 1""", s.tenancy.id());
        assertThat(strings(s.target, "SELECT id::text, user_id::text, value FROM contact_channels ORDER BY 1"))
                .containsExactlyElementsOf(expectedChannels);
    }
}
