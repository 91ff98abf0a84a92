package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;

/**
 * Mission §12, users and contact channels, end to end: the packaged services as processes, writes through SQL on
 * the internal database only, assertions on the external databases only.
 */
class UsersAndContactChannelsIT {

    private static final Duration SYNCED = Duration.ofSeconds(45);
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

    @Test
    void insertsUpdatesAndDeletesReachTheTargetWhichCreatesItsTablesItself() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        UUID ada = fixtures.createUser(tenancy, "Ada", "ada@example.com");
        UUID grace = fixtures.createUser(tenancy, "Grace", "grace@example.com");
        fixtures.createUser(tenancy, "Linus", null);
        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);
        assertThat(Oracle.actualUsers(target)).hasSize(3);

        fixtures.renameUser(tenancy, ada, "Ada Lovelace");
        fixtures.addEmail(tenancy, ada, "countess@example.com", false);
        fixtures.deleteUser(tenancy, grace);
        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);

        assertThat(Oracle.actualUsers(target)).extracting(row -> row.get(1)).containsExactlyInAnyOrder("Ada Lovelace", "Linus");
        assertThat(target.queryValue("SELECT primary_email FROM users WHERE id = ?", ada)).isEqualTo("ada@example.com");
        assertThat(Oracle.actualChannels(target)).hasSize(2);
    }

    @Test
    void dataAppearsOnlyAfterTheTargetIsConfigured() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        fixtures.createUser(tenancy, "Early bird", "early@example.com");
        pipeline.awaitQuiescent(SYNCED);
        assertThat(Oracle.tableExists(target, "users")).isFalse();

        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));

        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);
        assertThat(Oracle.actualUsers(target)).singleElement().satisfies(row -> assertThat(row.get(1)).isEqualTo("Early bird"));
    }

    @Test
    void anUnreachableTargetDoesNotBlockAnother() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase good = pipeline.newExternal();
        fixtures.configureTargets(tenancy, Map.of(
                "down", "postgresql://nobody:secret@127.0.0.1:1/nowhere",
                "good", good.postgresUrl()));
        fixtures.createUser(tenancy, "Reachable", "reachable@example.com");

        Oracle.awaitMirrors(internal, good, List.of(tenancy.id()), SYNCED);
    }

    @Test
    void tenantsAreIsolatedAcrossTheirOwnTargets() {
        Tenancy a = fixtures.createTenancy();
        Tenancy b = fixtures.createTenancy();
        List<TestDatabase> targetsOfA = List.of(pipeline.newExternal(), pipeline.newExternal());
        List<TestDatabase> targetsOfB = List.of(pipeline.newExternal(), pipeline.newExternal(), pipeline.newExternal());
        fixtures.configureTargets(a, Map.of("a1", targetsOfA.get(0).postgresUrl(), "a2", targetsOfA.get(1).postgresUrl()));
        fixtures.configureTargets(b, Map.of("b1", targetsOfB.get(0).postgresUrl(), "b2", targetsOfB.get(1).postgresUrl(),
                "b3", targetsOfB.get(2).postgresUrl()));
        for (int i = 0; i < 5; i++) {
            fixtures.createUser(a, "A" + i, "a" + i + "@a.example");
            fixtures.createUser(b, "B" + i, "b" + i + "@b.example");
        }

        targetsOfA.forEach(t -> Oracle.awaitMirrors(internal, t, List.of(a.id()), SYNCED));
        targetsOfB.forEach(t -> Oracle.awaitMirrors(internal, t, List.of(b.id()), SYNCED));
    }

    @Test
    void twoTenanciesSharingOneTargetBothSyncCompletely() {
        Tenancy a = fixtures.createTenancy();
        Tenancy b = fixtures.createTenancy();
        TestDatabase shared = pipeline.newExternal();
        fixtures.configureTargets(a, Map.of("shared", shared.postgresUrl()));
        fixtures.configureTargets(b, Map.of("shared", shared.postgresUrl()));
        for (int i = 0; i < 20; i++) {
            fixtures.createUser(i % 2 == 0 ? a : b, "user " + i, "u" + i + "@shared.example");
        }

        Oracle.awaitMirrors(internal, shared, List.of(a.id(), b.id()), SYNCED);
        assertThat(Oracle.actualUsers(shared)).hasSize(20);
    }

    @Test
    void specialCharactersArriveByteExact() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        String name = "O'Connor 🚀 用户 \"Test\" \\ \t end";
        UUID user = fixtures.createUser(tenancy, name, "o'connor+🚀@例え.jp");
        internal.update("UPDATE \"ProjectUser\" SET \"clientMetadata\" = ?::jsonb WHERE \"projectUserId\" = ?",
                "{\"quote\": \"\\\"\", \"emoji\": \"🚀\", \"nested\": {\"用户\": [1, 2.5, null, true]}}", user);

        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);
        assertThat(target.queryValue("SELECT display_name FROM users WHERE id = ?", user)).isEqualTo(name);
    }

    @Test
    void theCursorExistsAndStrictlyIncreases() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        UUID user = fixtures.createUser(tenancy, "Counter", "counter@example.com");
        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);
        long first = Oracle.cursor(target, tenancy.id(), "users");

        fixtures.renameUser(tenancy, user, "Counter 2");
        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);

        assertThat(first).isPositive();
        assertThat(Oracle.cursor(target, tenancy.id(), "users")).isGreaterThan(first)
                .isEqualTo(internal.queryLong("""
                        SELECT max("sequenceId") FROM "SyncChange" WHERE "tenancyId" = ? AND "tableName" = 'ProjectUser'""",
                        tenancy.id()));
    }

    @Test
    void changesMadeWhileTheSequencerIsPausedConvergeToTheLastState() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        UUID kept = fixtures.createUser(tenancy, "Kept", "kept@example.com");
        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);

        UUID neverExported;
        UUID recreated;
        String recreatedEmail = "again@example.com";
        pipeline.setSequencerEnabled(false);
        try {
            for (int i = 1; i <= 5; i++) {
                fixtures.renameUser(tenancy, kept, "Kept v" + i); // several updates in one window: the last wins
            }
            neverExported = fixtures.createUser(tenancy, "Ephemeral", "ephemeral@example.com");
            fixtures.deleteUser(tenancy, neverExported); // deleted before its first sync
            UUID first = fixtures.createUser(tenancy, "Again", recreatedEmail);
            fixtures.deleteUser(tenancy, first);
            recreated = fixtures.createUser(tenancy, "Again", recreatedEmail); // same email, a new id
            // remove and re-add of the very same row within one window ends present
            internal.update("DELETE FROM \"ContactChannel\" WHERE \"projectUserId\" = ?", kept);
            internal.update("""
                    INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                        "isVerified", "value", "usedForAuth")
                    VALUES (?, ?, md5(?::text)::uuid, now(), 'EMAIL', 'TRUE', true, 'kept@example.com', 'TRUE')""",
                    tenancy.id(), kept, kept);
        } finally {
            pipeline.setSequencerEnabled(true);
        }

        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);
        assertThat(target.queryValue("SELECT display_name FROM users WHERE id = ?", kept)).isEqualTo("Kept v5");
        assertThat(target.queryLong("SELECT count(*) FROM users WHERE id = ?", neverExported)).isZero();
        assertThat(target.queryValue("SELECT id FROM users WHERE primary_email = ?", recreatedEmail)).isEqualTo(recreated);
        assertThat(target.queryValue("SELECT primary_email FROM users WHERE id = ?", kept)).isEqualTo("kept@example.com");
    }

    @Test
    void aLongLifecycleOfOneIdEndsInItsLastState() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        UUID id = UUID.randomUUID();
        String insert = """
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                    "updatedAt", "displayName") VALUES (?, ?, ?, 'main', now(), ?)""";

        internal.update(insert, tenancy.id(), id, tenancy.projectId(), "created");
        fixtures.renameUser(tenancy, id, "updated once");
        fixtures.renameUser(tenancy, id, "updated twice");
        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);
        fixtures.deleteUser(tenancy, id);
        internal.update(insert, tenancy.id(), id, tenancy.projectId(), "created again");
        fixtures.renameUser(tenancy, id, "final");

        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);
        assertThat(target.queryValue("SELECT display_name FROM users WHERE id = ?", id)).isEqualTo("final");
    }

    @Test
    void bulkInsertsWithInterleavedDeletesOverSeveralPagesEndInTheExactSet() {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        for (int batch = 0; batch < 4; batch++) {
            internal.update("""
                    INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                        "updatedAt", "displayName")
                    SELECT ?, gen_random_uuid(), ?, 'main', now(), 'bulk ' || ? || '-' || n FROM generate_series(1, 450) n""",
                    tenancy.id(), tenancy.projectId(), batch);
            // delete 20 of the users created so far; over four rounds some deletes land near the 1,000-row page boundary
            internal.update("""
                    DELETE FROM "ProjectUser" WHERE "tenancyId" = ? AND "projectUserId" IN (
                        SELECT "projectUserId" FROM "ProjectUser" WHERE "tenancyId" = ?
                        ORDER BY "createdAt", "projectUserId" OFFSET 3 LIMIT 20)""", tenancy.id(), tenancy.id());
        }

        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);
        assertThat(Oracle.actualUsers(target)).hasSize(4 * 450 - 4 * 20);
    }

    @Test
    void otherRolesCanReadButNotWriteTheTargetTables() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        fixtures.createUser(tenancy, "Visible", "visible@example.com");
        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);
        String role = "reader_" + target.name();
        target.execute("CREATE ROLE " + role + " LOGIN PASSWORD 'reader'");

        try (Connection reader = DriverManager.getConnection(target.jdbcUrl(), role, "reader");
                Statement statement = reader.createStatement()) {
            var rs = statement.executeQuery("SELECT count(*) FROM users");
            rs.next();
            assertThat(rs.getLong(1)).isEqualTo(1);
            assertThatThrownBy(() -> statement.executeUpdate("UPDATE users SET display_name = 'hacked'"))
                    .hasMessageContaining("permission denied");
            assertThatThrownBy(() -> statement.executeUpdate("DELETE FROM contact_channels"))
                    .hasMessageContaining("permission denied");
        }
    }

    @Test
    void anUncommittedUpdateIsNeverExportedAndVanishesOnRollback() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = pipeline.newExternal();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        UUID user = fixtures.createUser(tenancy, "Committed", "committed@example.com");
        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);

        try (Connection writer = internal.connect()) {
            writer.setAutoCommit(false);
            try (PreparedStatement ps = writer.prepareStatement(
                    "UPDATE \"ProjectUser\" SET \"displayName\" = 'Uncommitted' WHERE \"projectUserId\" = ?")) {
                ps.setObject(1, user);
                ps.executeUpdate();
            }
            // Another change in the same tenancy flows through while the transaction stays open.
            UUID witness = fixtures.createUser(tenancy, "Witness", "witness@example.com");
            org.awaitility.Awaitility.await().atMost(SYNCED)
                    .until(() -> target.queryLong("SELECT count(*) FROM users WHERE id = ?", witness) == 1);
            assertThat(target.queryValue("SELECT display_name FROM users WHERE id = ?", user)).isEqualTo("Committed");
            writer.rollback();
        }
        fixtures.createUser(tenancy, "After rollback", null);
        Oracle.awaitMirrors(internal, target, List.of(tenancy.id()), SYNCED);
        assertThat(target.queryValue("SELECT display_name FROM users WHERE id = ?", user)).isEqualTo("Committed");
    }
}
