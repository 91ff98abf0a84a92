package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.assertMirrors;
import static dev.externaldbsync.engine.EngineTestSupport.rows;
import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.engine.target.UpstreamTargetAdoption;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import dev.externaldbsync.testing.UpstreamStackAuthDatabase;
import dev.externaldbsync.verifier.VerifyIntegrity;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;

/**
 * Switching a Stack Auth deployment from its in-app sync (issue 19): the internal database had upstream's sync
 * tables before this product's sync layer went on ({@code SYNC_MIGRATE_AT_START=sync}), and the targets were created
 * and filled by upstream (its table DDL, its tenancy-less cursor table), with the defects upstream leaves: stale
 * rows, missing rows, rows whose source is gone without a tombstone, one database shared by two tenancies.
 */
@QuarkusTest
@WithTestResource(UpstreamStackAuthDatabase.class)
class UpstreamAdoptionTest {

    @InjectTestDatabase
    TestDatabase internal;

    StackAuthFixtures fixtures;

    @BeforeEach
    void fixtures() {
        fixtures = new StackAuthFixtures(internal);
    }

    /** Upstream's target schema: the 11 data tables (column for column ours) and its own cursor table. */
    private static TestDatabase upstreamTarget() {
        TestDatabase target = TestPostgres.createDatabase("upstream_target");
        List<String> ddl = new ArrayList<>(Mappings.TARGET_DDL);
        ddl.remove(Mappings.METADATA_DDL);
        ddl.add(UpstreamStackAuthDatabase.UPSTREAM_CURSOR_TABLE_DDL);
        target.execute(ddl.toArray(String[]::new));
        return target;
    }

    /** What upstream's in-app sync left: the tenancy's projection in the target and its cursors at the top. */
    private void upstreamSynced(Tenancy tenancy, TestDatabase target) throws SQLException {
        long top = internal.queryLong("SELECT last_value FROM global_seq_id");
        try (Connection c = target.connect()) {
            for (Mapping mapping : Mappings.ALL) {
                String columns = mapping.columns().stream().map(col -> "x." + col.quoted() + "::text")
                        .collect(Collectors.joining(", "));
                List<List<Object>> source = internal.queryRows(
                        "SELECT " + columns + " FROM (" + mapping.projectionSql() + ") AS x", tenancy.id());
                if (!source.isEmpty()) {
                    try (PreparedStatement ps = c.prepareStatement(mapping.upsertSql())) {
                        for (int i = 0; i < mapping.columns().size(); i++) {
                            int column = i;
                            Array array = c.createArrayOf("text", source.stream().map(r -> r.get(column)).toArray());
                            ps.setArray(i + 1, array);
                        }
                        ps.executeUpdate();
                    }
                }
                try (PreparedStatement ps = c.prepareStatement("""
                        INSERT INTO "_stack_sync_metadata" ("mapping_name", "last_synced_sequence_id") VALUES (?, ?)
                        ON CONFLICT ("mapping_name") DO UPDATE SET "last_synced_sequence_id" = EXCLUDED."last_synced_sequence_id"
                        """)) {
                    ps.setString(1, mapping.name());
                    ps.setLong(2, top);
                    ps.executeUpdate();
                }
            }
        }
    }

    private record World(UUID ada, UUID grace, UUID team) {
    }

    private World populate(Tenancy tenancy, String tag) {
        UUID ada = fixtures.createUser(tenancy, "Ada " + tag, "ada-" + tag + "@example.com");
        UUID grace = fixtures.createUser(tenancy, "Grace " + tag, "grace-" + tag + "@example.com");
        UUID team = fixtures.createTeam(tenancy, "Team " + tag);
        fixtures.addMember(tenancy, team, ada, "captain");
        fixtures.addMember(tenancy, team, grace, null);
        fixtures.grantTeamPermission(tenancy, team, ada, "admin");
        fixtures.grantProjectPermission(tenancy, grace, "billing");
        return new World(ada, grace, team);
    }

    private static int verify(TestDatabase internal, UUID tenancy) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8)) {
            int exit = VerifyIntegrity.execute(o, o, "--internal-url=" + internal.postgresUrl(),
                    "--tenancy=" + tenancy);
            if (exit != 0) {
                System.out.println(out.toString(StandardCharsets.UTF_8));
            }
            return exit;
        }
    }

    private static long count(TestDatabase db, String sql) {
        return db.queryLong(sql);
    }

    @Test
    void anUpstreamTargetWithStaleMissingAndOrphanedRowsEqualsItsTenancyAfterOneSync() throws SQLException {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = upstreamTarget();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        World w = populate(tenancy, "solo");
        UpstreamStackAuthDatabase.upstreamStamp(internal);
        upstreamSynced(tenancy, target);
        // Upstream's defects: a change its cursor skipped, a row it never wrote, deletions without tombstones.
        target.update("UPDATE users SET display_name = 'stale' WHERE id = ?", w.ada());
        target.update("DELETE FROM contact_channels WHERE user_id = ?", w.grace());
        UUID orphanUser = UUID.randomUUID();
        target.update("INSERT INTO users (id, display_name, signed_up_at) VALUES (?, 'gone', now())", orphanUser);
        target.update("INSERT INTO team_member_profiles (team_id, user_id, created_at) VALUES (?, ?, now())",
                w.team(), orphanUser);
        target.update("INSERT INTO project_permissions (user_id, permission_id, created_at) VALUES (?, 'ghost', now())",
                w.ada());
        // A channel upstream recorded under the wrong owner is stale, not gone: updated, never removed.
        UUID movedChannel = fixtures.addEmail(tenancy, w.ada(), "moved-solo@example.com", false);
        UpstreamStackAuthDatabase.upstreamStamp(internal);
        target.update("""
                INSERT INTO contact_channels (id, user_id, type, value, created_at)
                VALUES (?, ?, 'EMAIL', 'moved-solo@example.com', now())""", movedChannel, w.grace());
        long untouchedXmin = target.queryLong("SELECT xmin::text::bigint FROM users WHERE id = ?", w.grace());

        JsonPath result = sync(tenancy.id());

        assertThat(result.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertMirrors(internal, tenancy.id(), target);
        assertThat(verify(internal, tenancy.id())).as("integrity verifier exit code").isZero();
        assertThat(rows(target, """
                SELECT upstream_table, rows_removed::text, (finished_at IS NOT NULL)::text
                FROM _external_db_sync_adoption"""))
                .containsExactly("_stack_sync_metadata_upstream|3|true");
        assertThat(count(target, "SELECT count(*) FROM _stack_sync_metadata_upstream")).isEqualTo(11);
        assertThat(target.queryLong("SELECT xmin::text::bigint FROM users WHERE id = ?", w.grace()))
                .as("a row already equal is not rewritten").isEqualTo(untouchedXmin);
        assertThat(rows(target, "SELECT DISTINCT tenancy_id::text FROM _stack_sync_metadata"))
                .containsExactly(tenancy.id().toString());

        // Runs once: later changes flow through the normal path, nothing is pruned again.
        fixtures.renameUser(tenancy, w.grace(), "Grace renamed");
        stamp(internal);
        sync(tenancy.id());
        assertMirrors(internal, tenancy.id(), target);
        assertThat(rows(target, "SELECT rows_removed::text FROM _external_db_sync_adoption")).containsExactly("3");
    }

    @Test
    void aDatabaseSharedByTwoTenanciesKeepsEveryRowEitherStillHasLiveAndConvergesForBoth() throws SQLException {
        Tenancy first = fixtures.createTenancy();
        Tenancy second = fixtures.createTenancy();
        TestDatabase target = upstreamTarget();
        fixtures.configureTargets(first, Map.of("main", target.postgresUrl()));
        fixtures.configureTargets(second, Map.of("shared", target.postgresUrl()));
        World a = populate(first, "first");
        World b = populate(second, "second");
        UpstreamStackAuthDatabase.upstreamStamp(internal);
        upstreamSynced(first, target);
        upstreamSynced(second, target);
        UUID orphan = UUID.randomUUID();
        target.update("INSERT INTO teams (id, display_name, created_at) VALUES (?, 'gone', now())", orphan);
        target.update("UPDATE users SET display_name = 'stale' WHERE id = ?", b.grace());

        // Only the first tenancy syncs: the second tenancy's rows are live, so the adoption must keep them.
        JsonPath result = sync(first.id());

        assertThat(result.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(count(target, "SELECT count(*) FROM users")).isEqualTo(4);
        assertThat(count(target, "SELECT count(*) FROM team_member_profiles")).isEqualTo(4);
        assertThat(count(target, "SELECT count(*) FROM teams WHERE id = '" + orphan + "'")).isZero();
        assertThat(rows(target, "SELECT rows_removed::text || '|' || tenancies::text FROM _external_db_sync_adoption"))
                .containsExactly("1|2");
        // The adoption enqueued both tenancies so that the second converges without waiting for a change.
        assertThat(internal.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ? AND "startedFulfillingAt" IS NULL""",
                second.id())).isEqualTo(1);

        sync(second.id());

        for (Mapping mapping : Mappings.ALL) {
            String columns = mapping.columns().stream().map(c -> "x." + c.quoted() + "::text")
                    .collect(Collectors.joining(", "));
            List<String> expected = Stream.concat(
                    rows(internal, "SELECT " + columns + " FROM (" + mapping.projectionSql() + ") AS x", first.id())
                            .stream(),
                    rows(internal, "SELECT " + columns + " FROM (" + mapping.projectionSql() + ") AS x", second.id())
                            .stream())
                    .toList();
            assertThat(rows(target, "SELECT " + columns + " FROM " + mapping.quotedTable() + " AS x"))
                    .as(mapping.name()).containsExactlyInAnyOrderElementsOf(expected);
        }
        assertThat(verify(internal, first.id())).isZero();
        assertThat(verify(internal, second.id())).isZero();
        assertThat(a.ada()).isNotEqualTo(b.ada());
    }

    @Test
    void aRunMeetingAnAdoptionInProgressFailsWithoutTouchingTheTargetAndTheNextRunAdopts() throws SQLException {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = upstreamTarget();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        populate(tenancy, "locked");
        UpstreamStackAuthDatabase.upstreamStamp(internal);
        upstreamSynced(tenancy, target);
        UUID orphan = UUID.randomUUID();
        target.update("INSERT INTO users (id, display_name, signed_up_at) VALUES (?, 'gone', now())", orphan);

        JsonPath blocked;
        try (Connection other = target.connect(); Statement st = other.createStatement()) {
            st.execute("SELECT pg_advisory_lock(" + UpstreamTargetAdoption.ADOPTION_LOCK + ")");
            blocked = sync(tenancy.id());
        }

        assertThat(blocked.getString("results[0].targets[0].outcome")).isEqualTo("FAILED");
        assertThat(blocked.getString("results[0].targets[0].error")).contains("being adopted");
        assertThat(count(target, "SELECT count(*) FROM users WHERE id = '" + orphan + "'")).isEqualTo(1);
        assertThat(count(target, "SELECT count(*) FROM _stack_sync_metadata")).isEqualTo(11);

        assertThat(sync(tenancy.id()).getString("results[0].outcome")).isEqualTo("SYNCED");
        assertMirrors(internal, tenancy.id(), target);
    }

    @Test
    void anAdoptionInterruptedHalfWayResumesAfterItsLastCommittedPage() throws SQLException {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = upstreamTarget();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        World w = populate(tenancy, "resumed");
        UpstreamStackAuthDatabase.upstreamStamp(internal);
        upstreamSynced(tenancy, target);
        UUID orphanTeam = UUID.randomUUID();
        target.update("INSERT INTO teams (id, display_name, created_at) VALUES (?, 'gone', now())", orphanTeam);
        // The state an engine leaves when it dies after pruning users and contact channels (2 rows removed there).
        target.execute("ALTER TABLE _stack_sync_metadata RENAME TO _stack_sync_metadata_upstream", """
                CREATE TABLE _external_db_sync_adoption (
                    "singleton" boolean PRIMARY KEY DEFAULT true CHECK ("singleton"),
                    "upstream_table" text NOT NULL, "tenancies" integer NOT NULL, "mapping_name" text,
                    "last_key" text[], "rows_kept" bigint NOT NULL DEFAULT 0,
                    "rows_removed" bigint NOT NULL DEFAULT 0,
                    "started_at" timestamp without time zone NOT NULL DEFAULT now(),
                    "finished_at" timestamp without time zone)""",
                "INSERT INTO _external_db_sync_adoption (upstream_table, tenancies, mapping_name, rows_removed) "
                        + "VALUES ('_stack_sync_metadata_upstream', 1, 'teams', 2)");

        assertThat(sync(tenancy.id()).getString("results[0].outcome")).isEqualTo("SYNCED");

        assertThat(count(target, "SELECT count(*) FROM teams WHERE id = '" + orphanTeam + "'")).isZero();
        assertThat(rows(target, "SELECT rows_removed::text, (finished_at IS NOT NULL)::text FROM _external_db_sync_adoption"))
                .containsExactly("3|true");
        assertMirrors(internal, tenancy.id(), target);
        assertThat(w.team()).isNotNull();
    }

    @Test
    void upstreamsOwnWriteIntoAnAdoptedTargetFailsWholeAndChangesNothing() throws SQLException {
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase target = upstreamTarget();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        World w = populate(tenancy, "late");
        UpstreamStackAuthDatabase.upstreamStamp(internal);
        upstreamSynced(tenancy, target);
        sync(tenancy.id());

        // Upstream's write statement (schema-reference C.0): data and cursor in one statement, keyed by mapping only.
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> target.update("""
                WITH params AS (SELECT ?::uuid AS id, 'written by upstream'::text AS display_name, false AS is_deleted),
                deleted AS (DELETE FROM users u USING params p WHERE p.is_deleted AND u.id = p.id),
                upserted AS (INSERT INTO users (id, display_name, signed_up_at)
                             SELECT p.id, p.display_name, now() FROM params p WHERE NOT p.is_deleted
                             ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name)
                INSERT INTO _stack_sync_metadata (mapping_name, last_synced_sequence_id) VALUES ('users', 1)
                ON CONFLICT (mapping_name) DO UPDATE SET last_synced_sequence_id =
                    GREATEST(_stack_sync_metadata.last_synced_sequence_id, EXCLUDED.last_synced_sequence_id)""",
                w.ada())).hasMessageContaining("ON CONFLICT");
        assertMirrors(internal, tenancy.id(), target);
    }

    @Test
    void everyProjectionHasTheOneTenancyParameterTheLiveKeyProbeReplaces() {
        for (Mapping mapping : Mappings.ALL) {
            String sql = UpstreamTargetAdoption.liveKeysSql(mapping);
            assertThat(sql.chars().filter(ch -> ch == '?').count()).as(mapping.name()).isEqualTo(2);
        }
    }
}
