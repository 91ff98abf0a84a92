package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.assertMirrors;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.jboss.logging.Logger;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import dev.externaldbsync.testing.UpstreamStackAuthDatabase;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;

/**
 * Adopting an upstream target that already holds a 100,000-user tenancy (with one primary email each), every row
 * equal to the projection: how long the switch takes (adoption, then the full re-apply from −1) and how many target
 * rows it rewrites (rows whose {@code xmin} changed, plus deletions). Not part of the normal build; run:
 * {@code ./mvnw verify -pl sync-engine-service -am -Dtest=UpstreamAdoptionBenchmark -Dsurefire.failIfNoSpecifiedTests=false}.
 */
@QuarkusTest
@TestProfile(UpstreamAdoptionBenchmark.Profile.class)
@WithTestResource(UpstreamStackAuthDatabase.class)
class UpstreamAdoptionBenchmark {

    /** The production page size (the test profile's is small, to exercise paging). */
    public static class Profile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("engine.page-size", System.getProperty("bench.page-size", "2000"),
                    "quarkus.http.test-timeout", "900s");
        }
    }

    private static final Logger LOG = Logger.getLogger(UpstreamAdoptionBenchmark.class);
    private static final int USERS = 100_000;

    @InjectTestDatabase
    TestDatabase internal;

    @Test
    void adoptingATargetHoldingAHundredThousandEqualUsersRewritesNoRow() throws SQLException {
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        Tenancy tenancy = fixtures.createTenancy();
        internal.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt", "displayName", "clientMetadata")
                SELECT ?, gen_random_uuid(), ?, 'main', now(), 'user ' || g, '{"plan": "free"}'::jsonb
                FROM generate_series(1, ?) AS g""", tenancy.id(), tenancy.projectId(), USERS);
        internal.update("""
                INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                                              "isVerified", "value", "usedForAuth")
                SELECT u."tenancyId", u."projectUserId", gen_random_uuid(), now(), 'EMAIL', 'TRUE', true,
                       u."projectUserId" || '@example.com', 'TRUE'
                FROM "ProjectUser" u WHERE u."tenancyId" = ?""", tenancy.id());
        UpstreamStackAuthDatabase.upstreamStamp(internal);
        internal.execute("ANALYZE");

        TestDatabase target = TestPostgres.createDatabase("upstream_big");
        List<String> ddl = new ArrayList<>(Mappings.TARGET_DDL);
        ddl.remove(Mappings.METADATA_DDL);
        ddl.add(UpstreamStackAuthDatabase.UPSTREAM_CURSOR_TABLE_DDL);
        target.execute(ddl.toArray(String[]::new));
        long copyStarted = System.nanoTime();
        for (Mapping mapping : Mappings.ALL) {
            copyProjection(tenancy, mapping, target);
        }
        target.execute("INSERT INTO _stack_sync_metadata (mapping_name, last_synced_sequence_id) SELECT m, "
                + internal.queryLong("SELECT last_value FROM global_seq_id") + " FROM unnest(ARRAY["
                + Mappings.ALL.stream().map(m -> "'" + m.name() + "'").collect(Collectors.joining(", "))
                + "]) AS m", "VACUUM ANALYZE",
                "CREATE TABLE bench_before AS SELECT 'users' AS t, id, xmin::text AS x FROM users "
                        + "UNION ALL SELECT 'contact_channels', id, xmin::text FROM contact_channels");
        LOG.infof("Upstream-shaped target filled with %d users in %d ms", USERS,
                (System.nanoTime() - copyStarted) / 1_000_000);
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));

        long started = System.nanoTime();
        assertThat(sync(tenancy.id()).getString("results[0].outcome")).isEqualTo("SYNCED");
        long switchMs = (System.nanoTime() - started) / 1_000_000;

        long adoptionMs = target.queryLong(
                "SELECT (extract(epoch FROM finished_at - started_at) * 1000)::bigint FROM _external_db_sync_adoption");
        long removed = target.queryLong("SELECT rows_removed FROM _external_db_sync_adoption");
        long rewritten = target.queryLong("""
                SELECT count(*) FROM bench_before b
                WHERE NOT EXISTS (SELECT 1 FROM users u WHERE b.t = 'users' AND u.id = b.id AND u.xmin::text = b.x)
                  AND NOT EXISTS (SELECT 1 FROM contact_channels c
                                  WHERE b.t = 'contact_channels' AND c.id = b.id AND c.xmin::text = b.x)""");
        long cursorsAtTop = target.queryLong("""
                SELECT count(*) FROM _stack_sync_metadata WHERE tenancy_id = ? AND last_synced_sequence_id > 0""",
                tenancy.id());
        LOG.infof("adoption_ms=%d switch_ms=%d rows_rewritten=%d rows_removed=%d target_rows=%d cursors_set=%d",
                adoptionMs, switchMs, rewritten, removed, 2L * USERS, cursorsAtTop);
        assertThat(rewritten).isZero();
        assertThat(removed).isZero();
        assertMirrors(internal, tenancy.id(), target);
    }

    /** The tenancy's projection copied into the target in pages, as upstream's sync would have left it. */
    private void copyProjection(Tenancy tenancy, Mapping mapping, TestDatabase target) throws SQLException {
        String columns = mapping.columns().stream().map(c -> "x." + c.quoted() + "::text")
                .collect(Collectors.joining(", "));
        int n = mapping.columns().size();
        try (Connection ic = internal.connect(); Connection tc = target.connect()) {
            ic.setAutoCommit(false);
            try (PreparedStatement read = ic.prepareStatement(
                    "SELECT " + columns + " FROM (" + mapping.projectionSql() + ") AS x");
                    PreparedStatement write = tc.prepareStatement(mapping.upsertSql())) {
                read.setFetchSize(5000);
                read.setObject(1, tenancy.id());
                try (ResultSet rs = read.executeQuery()) {
                    List<String[]> page = new ArrayList<>();
                    while (true) {
                        boolean more = rs.next();
                        if (more) {
                            String[] row = new String[n];
                            for (int i = 0; i < n; i++) {
                                row[i] = rs.getString(i + 1);
                            }
                            page.add(row);
                        }
                        if (!page.isEmpty() && (!more || page.size() == 5000)) {
                            for (int i = 0; i < n; i++) {
                                int column = i;
                                write.setArray(i + 1, tc.createArrayOf("text",
                                        page.stream().map(r -> r[column]).toArray()));
                            }
                            write.executeUpdate();
                            page.clear();
                        }
                        if (!more) {
                            break;
                        }
                    }
                }
            }
            ic.commit();
        }
    }
}
