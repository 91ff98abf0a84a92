package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.e2e.ServiceProcess.Kind;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import dev.externaldbsync.testing.UpstreamStackAuthDatabase;

/**
 * The README's cutover from Stack Auth's in-app sync, followed as an operator would, over the packaged services: a
 * Stack Auth database after its external-DB-sync release (upstream's sync tables, its stamps, its queue rows, claimed
 * or not), tenants' external databases created and filled by upstream (with stale, missing and orphaned rows, one
 * shared by two tenancies); upstream's sync stopped; the services started with {@code SYNC_MIGRATE_AT_START=sync}.
 * Every target must end equal to its tenancies' projection with no operator step, and upstream's sync started again
 * must show in the poller's status without losing a change.
 */
class StackAuthCutoverIT {

    private static final Duration CONVERGED = Duration.ofSeconds(90);
    private final List<ServiceProcess> services = new ArrayList<>();

    @AfterEach
    void stop() {
        services.forEach(ServiceProcess::stopQuietly);
    }

    private static TestDatabase upstreamTarget() {
        TestDatabase target = TestPostgres.createDatabase("e2e_upstream_target");
        List<String> ddl = new ArrayList<>(Mappings.TARGET_DDL);
        ddl.remove(Mappings.METADATA_DDL);
        ddl.add(UpstreamStackAuthDatabase.UPSTREAM_CURSOR_TABLE_DDL);
        target.execute(ddl.toArray(String[]::new));
        return target;
    }

    /** What upstream's in-app sync wrote: the tenancy's projection and its single cursor per mapping. */
    private static void upstreamSynced(TestDatabase internal, Tenancy tenancy, TestDatabase target)
            throws SQLException {
        long top = internal.queryLong("SELECT last_value FROM global_seq_id");
        try (Connection c = target.connect(); Connection ic = internal.connect()) {
            // Before the cutover there is no change log; the projections' stamp lookups read an empty stand-in (a
            // temporary table, found first on the search path, gone with this connection).
            try (var st = ic.createStatement()) {
                st.execute("""
                        CREATE TEMP TABLE "SyncChange" ("tenancyId" uuid, "tableName" text, "primaryKey" jsonb,
                                                        "sequenceId" bigint)""");
            }
            for (Mapping mapping : Mappings.ALL) {
                List<List<Object>> source = new ArrayList<>();
                try (PreparedStatement q = ic.prepareStatement("SELECT " + columns(mapping) + " FROM ("
                        + mapping.projectionSql() + ") AS x")) {
                    q.setObject(1, tenancy.id());
                    try (var rs = q.executeQuery()) {
                        while (rs.next()) {
                            List<Object> row = new ArrayList<>();
                            for (int i = 1; i <= mapping.columns().size(); i++) {
                                row.add(rs.getString(i));
                            }
                            source.add(row);
                        }
                    }
                }
                if (!source.isEmpty()) {
                    try (PreparedStatement ps = c.prepareStatement(mapping.upsertSql())) {
                        for (int i = 0; i < mapping.columns().size(); i++) {
                            int column = i;
                            ps.setArray(i + 1, c.createArrayOf("text",
                                    source.stream().map(r -> r.get(column)).toArray()));
                        }
                        ps.executeUpdate();
                    }
                }
            }
        }
        target.update("""
                INSERT INTO "_stack_sync_metadata" ("mapping_name", "last_synced_sequence_id")
                SELECT m, ? FROM unnest(?::text[]) AS m
                ON CONFLICT ("mapping_name") DO UPDATE SET "last_synced_sequence_id" = EXCLUDED."last_synced_sequence_id"
                """, top, Mappings.ALL.stream().map(Mapping::name).collect(Collectors.joining(",", "{", "}")));
    }

    private static String columns(Mapping mapping) {
        return mapping.columns().stream().map(c -> "x." + c.quoted() + "::text").collect(Collectors.joining(", "));
    }

    private static List<String> strings(List<List<Object>> rows) {
        return rows.stream().map(r -> r.stream().map(String::valueOf).collect(Collectors.joining("|"))).toList();
    }

    /** Every target table equals the union of the tenancies' projections (rows as text, any order). */
    private static boolean mirrors(TestDatabase internal, TestDatabase target, Tenancy... tenancies) {
        if (target.queryLong("SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass('_stack_sync_metadata')"
                + " AND attname = 'tenancy_id'") == 0) {
            return false;
        }
        for (Mapping mapping : Mappings.ALL) {
            List<String> expected = Stream.of(tenancies).flatMap(t -> strings(internal.queryRows("SELECT "
                    + columns(mapping) + " FROM (" + mapping.projectionSql() + ") AS x", t.id())).stream())
                    .sorted().toList();
            List<String> actual = strings(target.queryRows("SELECT " + columns(mapping) + " FROM "
                    + mapping.quotedTable() + " AS x")).stream().sorted().toList();
            if (!expected.equals(actual)) {
                return false;
            }
        }
        return true;
    }

    private void populate(StackAuthFixtures fixtures, Tenancy tenancy, String tag) {
        UUID ada = fixtures.createUser(tenancy, "Ada " + tag, "ada-" + tag + "@example.com");
        UUID grace = fixtures.createUser(tenancy, "Grace " + tag, "grace-" + tag + "@example.com");
        UUID team = fixtures.createTeam(tenancy, "Team " + tag);
        fixtures.addMember(tenancy, team, ada, "captain");
        fixtures.addMember(tenancy, team, grace, null);
        fixtures.grantTeamPermission(tenancy, team, ada, "admin");
        fixtures.grantProjectPermission(tenancy, grace, "billing");
    }

    @Test
    void aStackAuthDeploymentSwitchesByTheReadmeAndEveryExistingTargetConverges() throws SQLException {
        // A Stack Auth database whose in-app sync has been running: data, upstream's stamps and its queue.
        TestDatabase internal = UpstreamStackAuthDatabase.create("e2e_stack_auth");
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        Tenancy solo = fixtures.createTenancy();
        Tenancy first = fixtures.createTenancy();
        Tenancy second = fixtures.createTenancy();
        populate(fixtures, solo, "solo");
        populate(fixtures, first, "first");
        populate(fixtures, second, "second");
        UpstreamStackAuthDatabase.upstreamStamp(internal);
        TestDatabase dedicated = upstreamTarget();
        TestDatabase shared = upstreamTarget();
        fixtures.configureTargets(solo, Map.of("main", dedicated.postgresUrl()));
        fixtures.configureTargets(first, Map.of("main", shared.postgresUrl()));
        fixtures.configureTargets(second, Map.of("warehouse", shared.postgresUrl()));
        upstreamSynced(internal, solo, dedicated);
        upstreamSynced(internal, first, shared);
        upstreamSynced(internal, second, shared);
        // What upstream leaves behind: a change its cursor skipped, a row it never wrote, deletions it never applied,
        // a change not stamped yet, and its queue (one request pending, one claimed by its poller).
        dedicated.update("UPDATE users SET display_name = 'stale' WHERE display_name = 'Ada solo'");
        shared.update("DELETE FROM contact_channels WHERE value = 'grace-second@example.com'");
        dedicated.update("INSERT INTO users (id, display_name, signed_up_at) VALUES (?, 'gone', now())",
                UUID.randomUUID());
        shared.update("INSERT INTO teams (id, display_name, created_at) VALUES (?, 'gone', now())", UUID.randomUUID());
        internal.update("""
                UPDATE "ProjectUser" SET "displayName" = 'Grace first, renamed', "shouldUpdateSequenceId" = TRUE
                WHERE "displayName" = 'Grace first'""");
        UpstreamStackAuthDatabase.upstreamEnqueue(internal, first.id());
        UpstreamStackAuthDatabase.upstreamClaim(internal, 1);
        UpstreamStackAuthDatabase.upstreamEnqueue(internal, second.id());

        // README "Cutover": upstream's sync is stopped (nothing above runs any more); start the services.
        Map<String, String> env = ServiceProcess.env(
                "INTERNAL_DATABASE_URL", internal.postgresUrl(),
                "SYNC_SIGNING_SECRET", "e2e-cutover-secret-" + UUID.randomUUID(),
                "ADMIN_TOKEN", Pipeline.ADMIN_TOKEN,
                "SYNC_MIGRATE_AT_START", "sync");
        env.putAll(Pipeline.LOCAL_TARGETS);
        ServiceProcess engine = ServiceProcess.start(Kind.ENGINE, "cutover-engine", env);
        services.add(engine);
        engine.awaitReady(Duration.ofSeconds(90));
        Map<String, String> pollerEnv = new java.util.HashMap<>(env);
        pollerEnv.put("SYNC_ENGINE_URL", engine.url());
        ServiceProcess poller = ServiceProcess.start(Kind.POLLER, "cutover-poller", pollerEnv);
        services.add(poller);
        ServiceProcess sequencer = ServiceProcess.start(Kind.SEQUENCER, "cutover-sequencer", env);
        services.add(sequencer);
        poller.awaitReady(Duration.ofSeconds(90));
        sequencer.awaitReady(Duration.ofSeconds(90));

        await("every upstream target converges").atMost(CONVERGED).pollInterval(Duration.ofMillis(500))
                .until(() -> mirrors(internal, dedicated, solo) && mirrors(internal, shared, first, second));
        assertThat(dedicated.queryLong("SELECT rows_removed FROM _external_db_sync_adoption")).isEqualTo(1);
        assertThat(shared.queryLong("SELECT rows_removed FROM _external_db_sync_adoption")).isEqualTo(1);
        assertThat(shared.queryLong("SELECT count(*) FROM _stack_sync_metadata_upstream")).isEqualTo(11);
        assertThat(poller.get("/api/v1/status").body()).doesNotContain("foreignRequests");

        // Upstream's sync started again by mistake: its enqueue is reported, and the change still arrives.
        await("queue drained").atMost(CONVERGED).pollInterval(Duration.ofMillis(200))
                .until(() -> internal.queryLong("SELECT count(*) FROM \"OutgoingRequest\"") == 0);
        UpstreamStackAuthDatabase.upstreamEnqueue(internal, solo.id());
        internal.update("""
                UPDATE "ProjectUser" SET "displayName" = 'Ada solo, again', "shouldUpdateSequenceId" = TRUE
                WHERE "displayName" = 'Ada solo'""");
        await("the poller reports upstream's sync").atMost(CONVERGED).pollInterval(Duration.ofMillis(200))
                .until(() -> poller.get("/api/v1/status").body().contains("\"foreignRequests\":1"));
        await("the change arrives").atMost(CONVERGED).pollInterval(Duration.ofMillis(500))
                .until(() -> mirrors(internal, dedicated, solo));
        assertThat(dedicated.queryLong("SELECT count(*) FROM users WHERE display_name = 'Ada solo, again'"))
                .isEqualTo(1);
    }
}
