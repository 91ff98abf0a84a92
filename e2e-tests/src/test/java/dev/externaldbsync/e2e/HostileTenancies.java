package dev.externaldbsync.e2e;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.locks.LockSupport;

import org.awaitility.Awaitility;

import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * The scenario of issue #16, built on a running {@link Pipeline}: thirty ordinary tenancies sharing one target, and
 * the hostile ones — six targets that hang every write, a target that answers every write with a 20 MB error, the
 * internal database as a target, a URL that names a harmless host and carries the real one in its parameters, too many
 * targets, bad target ids. Shared by {@link HostileTenanciesIT} (assertions) and {@link HostileTenanciesBenchmark}
 * (figures).
 */
final class HostileTenancies {

    /** The engine's allowances for a machine whose targets are all databases on the internal database's server. */
    static final Map<String, String> ENGINE_ALLOWANCES = Map.of(
            "ENGINE_TARGETS_ALLOW_LOOPBACK", "true",
            "ENGINE_TARGETS_ALLOW_PRIVATE", "true",
            "ENGINE_TARGETS_ALLOW_INTERNAL_SERVER", "true",
            "ENGINE_TARGETS_MIN_SSLMODE", "disable");

    static final int ORDINARY_TENANCIES = 30;
    static final int HANGING_TARGETS = 6;
    static final int TOO_MANY_TARGETS = 11;

    /** A role only the hostile connection strings use, so its password can be looked for in every answer. */
    static final String HOSTILE_USER = "hostile_tenant";
    static final String HOSTILE_PASSWORD = "hunter2-hostile-Secret";
    /** The harmless host the parameter-override URL names. */
    static final String DECOY_HOST = "sync-target.example.invalid";

    final Pipeline pipeline;
    final TestDatabase ordinaryTarget;
    final List<Tenancy> ordinary = new ArrayList<>();
    final Map<Tenancy, UUID> ordinaryUser = new LinkedHashMap<>();

    Tenancy hanging;
    final List<TestDatabase> hangingTargets = new ArrayList<>();
    Tenancy hugeError;
    TestDatabase hugeErrorTarget;
    Tenancy internalAsTarget;
    Tenancy parameterOverride;
    /** The database the override parameters point at: the engine must never connect to it. */
    TestDatabase hiddenTarget;
    Tenancy tooMany;
    TestDatabase tooManyTarget;
    Tenancy badIds;
    /** The one well-formed target of {@link #badIds}: it is synced while its badly named siblings are refused. */
    TestDatabase badIdsGoodTarget;

    private volatile boolean hostileStarted;

    HostileTenancies(Pipeline pipeline) {
        this.pipeline = pipeline;
        this.ordinaryTarget = TestPostgres.createDatabase("e2e_ordinary");
        createHostileRole();
    }

    /** The thirty ordinary tenancies, one user each, converged on their shared target. */
    void startOrdinary(Duration converged) {
        for (int i = 0; i < ORDINARY_TENANCIES; i++) {
            Tenancy tenancy = pipeline.fixtures.createTenancy();
            pipeline.fixtures.configureTargets(tenancy, Map.of("main", ordinaryTarget.postgresUrl()));
            ordinaryUser.put(tenancy, pipeline.fixtures.createUser(tenancy, "ordinary " + i, null));
            ordinary.add(tenancy);
        }
        pipeline.awaitQuiescent(converged);
    }

    /**
     * Configures every hostile tenancy. From then on each measurement round changes every hostile tenancy just before
     * the ordinary ones, so that the sequencer and the poller put them into the same requests, as in production.
     */
    void startHostile() {
        hanging = pipeline.fixtures.createTenancy();
        Map<String, String> hangingUrls = new LinkedHashMap<>();
        for (int i = 0; i < HANGING_TARGETS; i++) {
            TestDatabase db = TestPostgres.createDatabase("e2e_hanging");
            armEveryNewTable(db, "PERFORM pg_sleep(3600);");
            hangingTargets.add(db);
            hangingUrls.put("hang" + i, hostileUrl(db));
        }
        pipeline.fixtures.configureTargets(hanging, hangingUrls);

        hugeError = pipeline.fixtures.createTenancy();
        hugeErrorTarget = TestPostgres.createDatabase("e2e_huge_error");
        armEveryNewTable(hugeErrorTarget, "RAISE EXCEPTION '%', repeat('E', 20 * 1024 * 1024);");
        pipeline.fixtures.configureTargets(hugeError, Map.of("main", hostileUrl(hugeErrorTarget)));

        internalAsTarget = pipeline.fixtures.createTenancy();
        pipeline.fixtures.configureTargets(internalAsTarget, Map.of("main", hostileUrl(pipeline.internal)));

        parameterOverride = pipeline.fixtures.createTenancy();
        hiddenTarget = TestPostgres.createDatabase("e2e_hidden");
        pipeline.fixtures.configureTargets(parameterOverride, Map.of("main", "postgresql://" + HOSTILE_USER + ":"
                + enc(HOSTILE_PASSWORD) + "@" + DECOY_HOST + "/" + hiddenTarget.name() + "?host="
                + enc(hiddenTarget.host()) + "&port=" + hiddenTarget.port()));

        tooMany = pipeline.fixtures.createTenancy();
        tooManyTarget = TestPostgres.createDatabase("e2e_too_many");
        Map<String, String> many = new LinkedHashMap<>();
        for (int i = 0; i < TOO_MANY_TARGETS; i++) {
            many.put("t" + i, hostileUrl(tooManyTarget));
        }
        pipeline.fixtures.configureTargets(tooMany, many);

        badIds = pipeline.fixtures.createTenancy();
        badIdsGoodTarget = TestPostgres.createDatabase("e2e_bad_ids");
        Map<String, String> ids = new LinkedHashMap<>();
        ids.put("good", hostileUrl(badIdsGoodTarget));
        ids.put("bad\\nid", hostileUrl(badIdsGoodTarget));
        ids.put("with space", hostileUrl(badIdsGoodTarget));
        ids.put("x".repeat(100), hostileUrl(badIdsGoodTarget));
        ids.put("control\\u0001id", hostileUrl(badIdsGoodTarget));
        pipeline.fixtures.configureTargets(badIds, ids);

        hostileStarted = true;
    }

    /** One new user in every hostile tenancy: something for the engine to write to their targets. */
    void changeHostile(String label) {
        for (Tenancy t : hostile()) {
            pipeline.fixtures.createUser(t, label, null);
        }
    }

    List<Tenancy> hostile() {
        return List.of(hanging, hugeError, internalAsTarget, parameterOverride, tooMany, badIds);
    }

    /**
     * Renames every ordinary tenancy's user once per round for {@code duration} and measures, per change, commit →
     * visible in the shared target. A change not visible within {@code bound} fails the measurement.
     */
    List<Long> measureOrdinaryLagMillis(Duration duration, Duration bound) throws SQLException {
        List<Long> lags = new ArrayList<>();
        long end = System.nanoTime() + duration.toNanos();
        int round = 0;
        try (Connection writer = pipeline.internal.connect();
                PreparedStatement rename = writer.prepareStatement("""
                        UPDATE "ProjectUser" SET "displayName" = ?, "updatedAt" = now() WHERE "projectUserId" = ?""");
                Connection reader = ordinaryTarget.connect();
                PreparedStatement seen = reader.prepareStatement(
                        "SELECT id, display_name FROM users WHERE id = ANY(?)")) {
            while (System.nanoTime() < end) {
                round++;
                if (hostileStarted) {
                    changeHostile("hostile round " + round);
                }
                Map<UUID, String> expected = new HashMap<>();
                Map<UUID, Long> committedAt = new HashMap<>();
                for (UUID user : ordinaryUser.values()) {
                    String name = "round " + round + " " + user;
                    rename.setString(1, name);
                    rename.setObject(2, user);
                    rename.executeUpdate(); // autocommit: committed when this returns
                    expected.put(user, name);
                    committedAt.put(user, System.nanoTime());
                }
                long deadline = System.nanoTime() + bound.toNanos();
                while (!expected.isEmpty()) {
                    if (System.nanoTime() > deadline) {
                        throw new AssertionError(expected.size() + " of " + ordinaryUser.size()
                                + " ordinary changes of round " + round + " not visible within " + bound
                                + "; lags so far (ms): " + lags);
                    }
                    seen.setArray(1, reader.createArrayOf("uuid", expected.keySet().toArray()));
                    try (ResultSet rs = seen.executeQuery()) {
                        long at = System.nanoTime();
                        while (rs.next()) {
                            UUID id = rs.getObject(1, UUID.class);
                            if (expected.get(id) != null && expected.get(id).equals(rs.getString(2))) {
                                expected.remove(id);
                                lags.add((at - committedAt.get(id)) / 1_000_000);
                            }
                        }
                    }
                    LockSupport.parkNanos(Duration.ofMillis(20).toNanos());
                }
                LockSupport.parkNanos(Duration.ofMillis(500).toNanos());
            }
        }
        return lags;
    }

    /**
     * The engine's answer for one tenancy, asked directly (as a poller would); retried while the engine answers
     * {@code BUSY} because the real poller is syncing the same tenancy right now.
     */
    String resultOf(Tenancy tenancy, Duration timeout) {
        String[] body = new String[1];
        Awaitility.await("a non-busy answer for " + tenancy.id()).atMost(timeout).pollInterval(Duration.ofSeconds(1))
                .until(() -> {
                    var response = pipeline.postSync(pipeline.engines.get(0), List.of(tenancy.id()));
                    body[0] = response.body();
                    return response.statusCode() == 200 && !body[0].contains("\"BUSY\"");
                });
        return body[0];
    }

    static double percentile(List<Long> values, int p) {
        long[] sorted = values.stream().mapToLong(Long::longValue).sorted().toArray();
        if (sorted.length == 0) {
            return Double.NaN;
        }
        return sorted[Math.min(sorted.length - 1, Math.max(0, (int) Math.ceil(p / 100.0 * sorted.length) - 1))];
    }

    /** Tables of the sync's target schema in {@code db}, in any schema. */
    static long targetTables(TestDatabase db) {
        return db.queryLong("""
                SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND (c.relname IN ('users', 'contact_channels', '_stack_sync_metadata')
                       OR c.relname LIKE '\\_stack\\_sync%' ESCAPE '\\')""");
    }

    private String hostileUrl(TestDatabase db) {
        return "postgresql://" + HOSTILE_USER + ":" + enc(HOSTILE_PASSWORD) + "@" + db.host() + ":" + db.port() + "/"
                + db.name();
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    /** A superuser: the worst a tenant's credentials can be. */
    private void createHostileRole() {
        pipeline.internal.execute("""
                DO $$ BEGIN
                  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN
                    CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s';
                  END IF;
                END $$""".formatted(HOSTILE_USER, HOSTILE_USER, HOSTILE_PASSWORD));
    }

    /**
     * Every table created in {@code db} from now on gets a {@code BEFORE} statement trigger running {@code body}: the
     * engine's own bootstrap creates the target tables, and from its first write on, each one meets the trigger.
     */
    private static void armEveryNewTable(TestDatabase db, String body) {
        db.execute("""
                CREATE FUNCTION hostile_write() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  %s
                  RETURN NULL;
                END $$""".formatted(body), """
                CREATE FUNCTION hostile_arm() RETURNS event_trigger LANGUAGE plpgsql AS $$
                DECLARE r record;
                BEGIN
                  FOR r IN SELECT objid::regclass AS t FROM pg_event_trigger_ddl_commands()
                           WHERE command_tag = 'CREATE TABLE' AND object_type = 'table' LOOP
                    EXECUTE format('CREATE TRIGGER hostile BEFORE INSERT OR UPDATE OR DELETE ON %s'
                                   ' FOR EACH STATEMENT EXECUTE FUNCTION hostile_write()', r.t);
                  END LOOP;
                END $$""", """
                CREATE EVENT TRIGGER hostile_arm ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
                EXECUTE FUNCTION hostile_arm()""");
    }
}
