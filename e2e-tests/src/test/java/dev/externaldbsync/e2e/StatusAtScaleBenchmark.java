package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.mapping.Mappings;

/**
 * Status latency at scale (issue #8): an internal database holding {@code status.tenancies} (default 1,000,000)
 * one-user tenancies' worth of state, written by set-based SQL (Project, Tenancy, EnvironmentConfigOverride,
 * ProjectUser, ContactChannel; 11 "SyncEngineProgress" rows per tenancy; one pending "OutgoingRequest" per tenancy;
 * {@code status.marked} rows marked and waiting for the sequencer), the three packaged services started against it,
 * and 50 calls to each status route: p50 / p99 / max in ms. Not part of the build (needs the packaged services):
 * {@code ./mvnw -B -ntp -o verify -pl e2e-tests -Dtest=StatusAtScaleBenchmark -Dsurefire.failIfNoSpecifiedTests=false}
 * (add {@code -Dstatus.tenancies=100000} for a quick run). The sequencer and poller are paused through the fusebox
 * before the fill, so the backlog stays as written while the routes are timed.
 */
class StatusAtScaleBenchmark {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    @Test
    void everyStatusRouteAnswersQuicklyWithAMillionTenancies() throws Exception {
        int tenancies = Integer.getInteger("status.tenancies", 1_000_000);
        int marked = Integer.getInteger("status.marked", 100_000);
        int calls = Integer.getInteger("status.calls", 50);
        try (Pipeline pipeline = Pipeline.start(1, 1, 1)) {
            pipeline.setSequencerEnabled(false);
            var paused = pipeline.sequencers.get(0).put("/api/v1/admin/fusebox", "{\"pollerEnabled\": false}",
                    Pipeline.ADMIN_TOKEN);
            assertThat(paused.statusCode()).isEqualTo(200);

            long started = System.nanoTime();
            UUID probe = fill(pipeline, tenancies, marked);
            System.out.printf("status-at-scale: filled %d tenancies (%d progress rows, %d pending requests, %d marked "
                    + "rows) in %.0f s%n", tenancies, (long) tenancies * Mappings.ALL.size(), tenancies, marked,
                    (System.nanoTime() - started) / 1e9);

            Map<String, String> routes = new LinkedHashMap<>();
            routes.put("sequencer GET /api/v1/status", pipeline.sequencers.get(0).url() + "/api/v1/status");
            routes.put("poller GET /api/v1/status", pipeline.pollers.get(0).url() + "/api/v1/status");
            routes.put("engine GET /api/v1/status", pipeline.engines.get(0).url() + "/api/v1/status");
            routes.put("engine GET /api/v1/status/tenancies/{id}",
                    pipeline.engines.get(0).url() + "/api/v1/status/tenancies/" + probe);
            for (Map.Entry<String, String> route : routes.entrySet()) {
                time(route.getKey(), route.getValue(), calls);
            }
        }
    }

    private static void time(String name, String url, int calls) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60))
                .header("Authorization", "Bearer " + Pipeline.ADMIN_TOKEN).build();
        HttpResponse<String> first = HTTP.send(request, HttpResponse.BodyHandlers.ofString()); // warm-up, not timed
        assertThat(first.statusCode()).as(name + ": " + first.body()).isEqualTo(200);
        long[] nanos = new long[calls];
        for (int i = 0; i < calls; i++) {
            long t0 = System.nanoTime();
            HttpResponse<String> response = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
            nanos[i] = System.nanoTime() - t0;
            assertThat(response.statusCode()).isEqualTo(200);
        }
        Arrays.sort(nanos);
        System.out.printf("status-at-scale: %-45s p50=%.1f ms p99=%.1f ms max=%.1f ms%n", name,
                pct(nanos, 50), pct(nanos, 99), nanos[calls - 1] / 1e6);
        System.out.printf("status-at-scale: %-45s body: %s%n", name,
                first.body().length() > 600 ? first.body().substring(0, 600) + "…" : first.body());
    }

    private static double pct(long[] sorted, int p) {
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p / 100.0 * sorted.length) - 1)] / 1e6;
    }

    /** Writes the state by set-based SQL, capture triggers off (bench data only); returns one tenancy's id. */
    private static UUID fill(Pipeline pipeline, int tenancies, int marked) throws Exception {
        String mappings = Mappings.ALL.stream().map(m -> "'" + m.name() + "'").collect(Collectors.joining(", "));
        try (Connection c = pipeline.internal.connect(); Statement st = c.createStatement()) {
            st.execute("SET session_replication_role = replica");
            st.execute("SET maintenance_work_mem = '256MB'");
            st.execute("""
                    CREATE UNLOGGED TABLE bench_tenancy AS
                    SELECT g AS n, gen_random_uuid() AS id, 'p' || g AS project, gen_random_uuid() AS "user"
                    FROM generate_series(1, %d) g""".formatted(tenancies));
            st.execute("""
                    INSERT INTO "Project" ("id", "updatedAt", "displayName", "isProductionMode")
                    SELECT project, now(), 'status bench', false FROM bench_tenancy""");
            st.execute("""
                    INSERT INTO "Tenancy" ("id", "updatedAt", "projectId", "branchId", "hasNoOrganization")
                    SELECT id, now(), project, 'main', 'TRUE' FROM bench_tenancy""");
            st.execute("""
                    INSERT INTO "EnvironmentConfigOverride" ("projectId", "branchId", "updatedAt", "config")
                    SELECT project, 'main', now(), jsonb_build_object('dbSync', jsonb_build_object('externalDatabases',
                        jsonb_build_object('main', jsonb_build_object('type', 'postgres',
                            'connectionString', 'postgresql://u:p@db.example/t' || (n % 100)))))
                    FROM bench_tenancy""");
            st.execute("""
                    INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                        "updatedAt", "displayName", "sequenceId", "shouldUpdateSequenceId")
                    SELECT id, "user", project, 'main', now(), 'user ' || n,
                           CASE WHEN n <= %1$d THEN NULL ELSE n * 2 END, n <= %1$d
                    FROM bench_tenancy""".formatted(marked));
            st.execute("""
                    INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                        "isVerified", "value", "usedForAuth", "sequenceId", "shouldUpdateSequenceId")
                    SELECT id, "user", gen_random_uuid(), now(), 'EMAIL', 'TRUE', true, 'u' || n || '@example.com',
                           'TRUE', n * 2 + 1, false
                    FROM bench_tenancy""");
            st.execute("""
                    INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
                    SELECT id, 'ProjectUser', jsonb_build_object('tenancyId', id, 'projectUserId', "user"),
                           CASE WHEN n <= %1$d THEN NULL ELSE n * 2 END
                    FROM bench_tenancy
                    UNION ALL
                    SELECT c."tenancyId", 'ContactChannel', jsonb_build_object('tenancyId', c."tenancyId",
                               'projectUserId', c."projectUserId", 'id', c."id"), t.n * 2 + 1
                    FROM bench_tenancy t JOIN "ContactChannel" c ON c."tenancyId" = t.id""".formatted(marked));
            st.execute("SELECT setval('global_seq_id', %d)".formatted(2L * tenancies + 10));
            st.execute("""
                    INSERT INTO "SyncEngineProgress" ("tenancyId", "targetId", "mappingName", "cursor", "rowsApplied",
                        "lastSuccessAt", "updatedAt")
                    SELECT t.id, 'main', m, CASE WHEN m IN ('users', 'contact_channels') THEN t.n * 2 ELSE -1 END,
                           CASE WHEN m IN ('users', 'contact_channels') THEN 1 ELSE 0 END, now(), now()
                    FROM bench_tenancy t CROSS JOIN unnest(ARRAY[%s]) AS m""".formatted(mappings));
            // A few failing targets and dead letters, as a real deployment has.
            st.execute("""
                    UPDATE "SyncEngineProgress" SET "failingSince" = now(), "lastErrorAt" = now(), "lastError" = 'down'
                    WHERE "tenancyId" IN (SELECT id FROM bench_tenancy WHERE n % 10000 = 0)""");
            st.execute("""
                    INSERT INTO "OutgoingRequest" ("id", "createdAt", "deduplicationKey", "qstashOptions", "tenancyId")
                    SELECT gen_random_uuid(), now() - interval '1 minute' + n * interval '1 microsecond',
                           'sentinel-sync-key-' || id,
                           jsonb_build_object('url', '/api/v1/sync', 'body', jsonb_build_object('tenancyId', id)), id
                    FROM bench_tenancy""");
            UUID probe = (UUID) pipeline.internal.queryValue("SELECT id FROM bench_tenancy WHERE n = ?",
                    tenancies / 2);
            st.execute("DROP TABLE bench_tenancy");
            // What autovacuum would have done by then: statistics and visibility maps.
            st.execute("VACUUM ANALYZE");
            return probe;
        }
    }
}
