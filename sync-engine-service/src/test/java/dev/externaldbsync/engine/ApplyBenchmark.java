package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;

import org.jboss.logging.Logger;
import org.junit.jupiter.api.Test;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyOut;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.mapping.TargetColumn;
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
 * Throughput benchmark, not part of the normal build (the class name does not match surefire's includes). Run:
 * {@code ./mvnw -B -ntp -o verify -pl sync-engine-service -Dtest=ApplyBenchmark -Dbench.users=1000000
 * -Dbench.page-size=2000 -Dbench.tenancies=10000}. Prints one line per figure ("BENCH …").
 */
@QuarkusTest
@TestProfile(ApplyBenchmark.Profile.class)
@WithTestResource(InternalDatabaseResource.class)
class ApplyBenchmark {

    private static final Logger LOG = Logger.getLogger(ApplyBenchmark.class);

    /** Page size from {@code -Dbench.page-size}. */
    public static class Profile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("engine.page-size", System.getProperty("bench.page-size", "2000"),
                    "engine.parallelism", System.getProperty("bench.parallelism", "4"),
                    "engine.batch.max-tenancies", System.getProperty("bench.batch-max", "100"),
                    "quarkus.http.test-timeout", "900s",
                    "quarkus.log.category.\"dev.externaldbsync\".level", "WARN");
        }
    }

    @InjectTestDatabase
    TestDatabase internal;

    @Test
    void bulkBackfillAgainstCopyAndManySmallTenancies() throws Exception {
        int users = Integer.getInteger("bench.users", 200_000);
        int tenancies = Integer.getInteger("bench.tenancies", 0);
        if (users == 0) {
            manySmallTenancies(tenancies);
            return;
        }
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        Tenancy big = fixtures.createTenancy();
        TestDatabase target = TestPostgres.createDatabase("bench_engine");
        fixtures.configureTargets(big, Map.of("main", target.postgresUrl()));

        long t0 = System.nanoTime();
        generateUsers(big, users);
        LOG.warnf("BENCH generated %d users with emails in %.1f s", users, (System.nanoTime() - t0) / 1e9);

        long start = System.nanoTime();
        JsonPath result = sync(big.id());
        double engineSeconds = (System.nanoTime() - start) / 1e9;
        assertThat(result.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(target.queryLong("SELECT count(*) FROM users")).isEqualTo(users);
        assertThat(target.queryLong("SELECT count(*) FROM contact_channels")).isEqualTo(users);
        long rows = 2L * users;
        LOG.warnf("BENCH engine page-size=%s: %d rows (users + contact_channels) in %.1f s = %.0f rows/s",
                System.getProperty("bench.page-size", "2000"), rows, engineSeconds, rows / engineSeconds);

        TestDatabase copyTarget = TestPostgres.createDatabase("bench_copy");
        copyTarget.execute(Mappings.TARGET_DDL.toArray(String[]::new));
        start = System.nanoTime();
        long copied = 0;
        for (Mapping mapping : Mappings.ALL) {
            copied += copy(mapping, big.id(), copyTarget);
        }
        double copySeconds = (System.nanoTime() - start) / 1e9;
        assertThat(copied).isEqualTo(rows);
        LOG.warnf("BENCH COPY reference: %d rows in %.1f s = %.0f rows/s; engine/COPY ratio = %.2f", copied,
                copySeconds, copied / copySeconds, (rows / engineSeconds) / (copied / copySeconds));

        if (tenancies > 0) {
            manySmallTenancies(tenancies);
        }
    }

    private void manySmallTenancies(int count) {
        TestDatabase shared = TestPostgres.createDatabase("bench_shared");
        List<UUID> ids = new ArrayList<>();
        String config = "{\"dbSync\": {\"externalDatabases\": {\"main\": {\"type\": \"postgres\", \"connectionString\": \""
                + shared.postgresUrl() + "\"}}}}";
        try (Connection c = internal.connect(); Statement st = c.createStatement()) {
            st.execute("SET session_replication_role = replica"); // bench data only: no capture triggers
            st.execute("CREATE TEMP TABLE bench_t AS SELECT gen_random_uuid() AS id, gen_random_uuid()::text AS p,"
                    + " gen_random_uuid() AS u FROM generate_series(1, " + count + ")");
            st.execute("INSERT INTO \"Project\" (\"id\", \"updatedAt\", \"displayName\", \"isProductionMode\")"
                    + " SELECT p, now(), 'bench', false FROM bench_t");
            st.execute("INSERT INTO \"Tenancy\" (\"id\", \"updatedAt\", \"projectId\", \"branchId\", \"hasNoOrganization\")"
                    + " SELECT id, now(), p, 'main', 'TRUE' FROM bench_t");
            st.execute("INSERT INTO \"EnvironmentConfigOverride\" (\"projectId\", \"branchId\", \"updatedAt\", \"config\")"
                    + " SELECT p, 'main', now(), '" + config + "'::jsonb FROM bench_t");
            st.execute("""
                    INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                        "updatedAt", "displayName", "sequenceId", "shouldUpdateSequenceId")
                    SELECT id, u, p, 'main', now(), 'small', nextval('global_seq_id'), false FROM bench_t""");
            st.execute("""
                    INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                        "isVerified", "value", "usedForAuth", "sequenceId", "shouldUpdateSequenceId")
                    SELECT id, u, gen_random_uuid(), now(), 'EMAIL', 'TRUE', true, u || '@small.example', 'TRUE',
                           nextval('global_seq_id'), false FROM bench_t""");
            stampLiveRows(st, "SELECT id FROM bench_t");
            try (var rs = st.executeQuery("SELECT id FROM bench_t")) {
                while (rs.next()) {
                    ids.add((UUID) rs.getObject(1));
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
        int batch = Integer.getInteger("bench.batch", 100);
        int inFlight = Integer.getInteger("bench.in-flight", 1);
        java.util.concurrent.ExecutorService senders = java.util.concurrent.Executors.newFixedThreadPool(inFlight);
        var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                .getOperatingSystemMXBean();
        long cpuStart = os.getProcessCpuTime();
        Map<String, Long> threadsStart = threadCpu();
        long wallStart = System.currentTimeMillis();
        long start = System.nanoTime();
        try {
            // Like the poller: up to bench.in-flight requests of bench.batch tenancies each at once.
            List<java.util.concurrent.Future<List<String>>> sent = new ArrayList<>();
            for (int i = 0; i < ids.size(); i += batch) {
                UUID[] request = ids.subList(i, Math.min(ids.size(), i + batch)).toArray(UUID[]::new);
                sent.add(senders.submit(() -> post(request)));
            }
            for (java.util.concurrent.Future<List<String>> f : sent) {
                assertThat(f.get()).containsOnly("SYNCED");
            }
        } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e);
        } finally {
            senders.shutdownNow();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        double jvmCpu = (os.getProcessCpuTime() - cpuStart) / 1e9;
        // Wall-clock figures on a shared 2-core machine swing with others' load; CPU per tenancy does much less
        // (the PostgreSQL side is summed from /proc by the caller between these two instants).
        LOG.warnf("BENCH window start_ms=%d end_ms=%d jvm_cpu_s=%.2f (%.0f us/tenancy incl. the benchmark's client)",
                wallStart, System.currentTimeMillis(), jvmCpu, jvmCpu * 1e6 / count);
        Map<String, Long> threadsEnd = threadCpu();
        StringBuilder perThread = new StringBuilder();
        long visible = 0;
        for (var e : threadsEnd.entrySet()) {
            long used = e.getValue() - threadsStart.getOrDefault(e.getKey(), 0L);
            visible += used;
            perThread.append(String.format(" %s=%.2f", e.getKey(), used / 1e9));
        }
        LOG.warnf("BENCH jvm cpu by thread kind (s):%s; other (JIT, GC, VM)=%.2f", perThread,
                jvmCpu - visible / 1e9);
        assertThat(shared.queryLong("SELECT count(*) FROM users")).isEqualTo(count);
        assertThat(shared.queryLong("SELECT count(*) FROM contact_channels")).isEqualTo(count);
        LOG.warnf("BENCH %d one-user tenancies sharing one target, %d per request, %d in flight, parallelism %s, "
                + "batch max %s: %.1f s = %.0f tenancies/s, %.0f rows/s", count, batch, inFlight,
                System.getProperty("bench.parallelism", "4"), System.getProperty("bench.batch-max", "100"), seconds,
                count / seconds, 2 * count / seconds);
    }

    /** CPU time of the live threads, summed by name with digits dropped ("sync-engine-N", "executor-thread-N"). */
    private static Map<String, Long> threadCpu() {
        var threads = java.lang.management.ManagementFactory.getThreadMXBean();
        Map<String, Long> byKind = new java.util.TreeMap<>();
        for (var info : threads.getThreadInfo(threads.getAllThreadIds())) {
            if (info != null) {
                long cpu = threads.getThreadCpuTime(info.getThreadId());
                if (cpu > 0) {
                    byKind.merge(info.getThreadName().replaceAll("\\d+", "N"), cpu, Long::sum);
                }
            }
        }
        return byKind;
    }

    private static final java.net.http.HttpClient HTTP = java.net.http.HttpClient.newHttpClient();
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    /** A signed sync POST through the JDK client (RestAssured's Groovy JSON costs more CPU than the engine here). */
    private static List<String> post(UUID... tenancies) throws Exception {
        byte[] body = EngineTestSupport.body(tenancies).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        var signature = new dev.externaldbsync.contract.RequestSigner(EngineTestSupport.SECRET,
                java.time.Clock.systemUTC(), java.time.Duration.ofMinutes(5)).sign(body);
        var response = HTTP.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
                "http://localhost:" + io.restassured.RestAssured.port + dev.externaldbsync.contract.SyncContract.SYNC_PATH))
                .header("Content-Type", "application/json")
                .header(dev.externaldbsync.contract.SyncContract.TIMESTAMP_HEADER, signature.timestamp())
                .header(dev.externaldbsync.contract.SyncContract.SIGNATURE_HEADER, signature.signature())
                .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofByteArray());
        assertThat(response.statusCode()).isEqualTo(200);
        List<String> outcomes = new ArrayList<>();
        JSON.readTree(response.body()).get("results").forEach(r -> outcomes.add(r.get("outcome").asText()));
        return outcomes;
    }

    private void generateUsers(Tenancy tenancy, int users) throws SQLException {
        try (Connection c = internal.connect(); Statement st = c.createStatement()) {
            // Bench data only: rows are written already stamped, as the sequencer would leave them.
            st.execute("SET session_replication_role = replica");
            int chunk = 100_000;
            for (int from = 1; from <= users; from += chunk) {
                int to = Math.min(users, from + chunk - 1);
                st.execute("""
                        WITH u AS (
                            INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId",
                                "mirroredBranchId", "updatedAt", "displayName", "clientMetadata", "sequenceId",
                                "shouldUpdateSequenceId")
                            SELECT '%s', gen_random_uuid(), '%s', 'main', now(), 'user ' || g,
                                   jsonb_build_object('n', g), nextval('global_seq_id'), false
                            FROM generate_series(%d, %d) g
                            RETURNING "tenancyId", "projectUserId", "displayName")
                        INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type",
                            "isPrimary", "isVerified", "value", "usedForAuth", "sequenceId", "shouldUpdateSequenceId")
                        SELECT "tenancyId", "projectUserId", gen_random_uuid(), now(), 'EMAIL', 'TRUE', true,
                               replace("displayName", ' ', '.') || '@bench.example', 'TRUE',
                               nextval('global_seq_id'), false FROM u""".formatted(tenancy.id(), tenancy.projectId(),
                        from, to));
            }
            stampLiveRows(st, "'" + tenancy.id() + "'");
            st.execute("ANALYZE \"ProjectUser\"; ANALYZE \"ContactChannel\"; ANALYZE \"SyncChange\"");
        }
    }

    /** The reference: COPY the projected rows out, COPY them into a staging table, then one upsert. */
    private long copy(Mapping mapping, UUID tenancy, TestDatabase target) throws SQLException {
        String columns = mapping.columns().stream().map(TargetColumn::quoted).collect(Collectors.joining(", "));
        String projection = mapping.fetchSql();
        for (Mapping.FetchParameter p : mapping.fetchParameters()) {
            projection = projection.replaceFirst("\\?", switch (p) {
                case TENANCY_ID -> "'" + tenancy + "'";
                case CURSOR -> "-1";
                case LIMIT -> "ALL";
            });
        }
        String copyOut = "COPY (SELECT " + columns + " FROM (" + projection + ") p) TO STDOUT";
        String stage = "stage_" + mapping.name();
        long rows = 0;
        try (Connection src = internal.connect(); Connection dst = target.connect()) {
            try (Statement st = dst.createStatement()) {
                st.execute("CREATE UNLOGGED TABLE " + stage + " (LIKE " + mapping.quotedTable() + ")");
            }
            dst.setAutoCommit(false);
            CopyOut out = src.unwrap(PGConnection.class).getCopyAPI().copyOut(copyOut);
            CopyIn in = dst.unwrap(PGConnection.class).getCopyAPI().copyIn("COPY " + stage + " FROM STDIN");
            byte[] buffer;
            while ((buffer = out.readFromCopy()) != null) {
                in.writeToCopy(buffer, 0, buffer.length);
            }
            rows = in.endCopy();
            String rest = mapping.columns().stream().filter(c -> !mapping.keyColumns().contains(c.name()))
                    .map(c -> c.quoted() + " = EXCLUDED." + c.quoted()).collect(Collectors.joining(", "));
            try (Statement st = dst.createStatement()) {
                st.executeUpdate("INSERT INTO " + mapping.quotedTable() + " SELECT * FROM " + stage + " ON CONFLICT ("
                        + String.join(", ", mapping.keyColumns()) + ") DO UPDATE SET " + rest);
            }
            dst.commit();
        }
        return rows;
    }

    /**
     * The stamped change-log entries the sequencer would leave for the users and channels of the tenancies in
     * {@code tenancies} (this benchmark's own SQL: a literal or a query).
     */
    private static void stampLiveRows(Statement st, String tenancies) throws SQLException {
        st.execute("""
                INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
                SELECT "tenancyId", 'ProjectUser',
                       jsonb_build_object('tenancyId', "tenancyId", 'projectUserId', "projectUserId"),
                       nextval('global_seq_id')
                FROM "ProjectUser" WHERE "tenancyId" IN (%1$s)
                UNION ALL
                SELECT "tenancyId", 'ContactChannel',
                       jsonb_build_object('tenancyId', "tenancyId", 'projectUserId', "projectUserId", 'id', "id"),
                       nextval('global_seq_id')
                FROM "ContactChannel" WHERE "tenancyId" IN (%1$s)""".formatted(tenancies));
    }
}
