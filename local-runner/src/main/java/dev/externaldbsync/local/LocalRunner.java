package dev.externaldbsync.local;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.postgresql.ds.PGSimpleDataSource;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

/**
 * Runs the whole pipeline on this machine, the way an operator deploys it, with only Java installed:
 * <ol>
 * <li>an embedded PostgreSQL (zonky binaries from Maven Central) on {@value #DEFAULT_PG_PORT}, or the server of
 * {@code INTERNAL_DATABASE_URL} when it is set;</li>
 * <li>an internal database, migrated ({@code all}), and an external database {@code external_demo};</li>
 * <li>a demo project/tenancy whose {@code dbSync} config points at the external database, with a few users;</li>
 * <li>the three packaged services ({@code <service>/target/quarkus-app/quarkus-run.jar}) as separate processes on
 * 8081/8082/8083, configured only through the operator environment variables.</li>
 * </ol>
 * Prints where to look, then runs until Ctrl-C (SIGINT/SIGTERM), which stops the services gracefully and then the
 * database. Service logs go to {@code .local-run/logs/}.
 */
public final class LocalRunner {

    static final int DEFAULT_PG_PORT = 54329;
    private static final Map<String, Integer> SERVICES = new LinkedHashMap<>();

    static {
        SERVICES.put("sequencer-service", 8081);
        SERVICES.put("poller-service", 8082);
        SERVICES.put("sync-engine-service", 8083);
    }

    private final Path home;
    private final List<Process> processes = new ArrayList<>();
    private EmbeddedPostgres embedded;

    private LocalRunner(Path home) {
        this.home = home;
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && (args[0].equals("--help") || args[0].equals("-h"))) {
            System.out.println("""
                    Usage: ./run-local

                    Starts an embedded PostgreSQL (or uses INTERNAL_DATABASE_URL), migrates it, creates a demo tenancy
                    whose external database is external_demo on the same server, and starts sequencer-service (8081),
                    poller-service (8082) and sync-engine-service (8083) as separate processes. Ctrl-C stops everything.

                    Environment: INTERNAL_DATABASE_URL (optional), LOCAL_PG_PORT (embedded port, default 54329),
                    SYNC_SIGNING_SECRET and ADMIN_TOKEN (random when unset).""");
            return;
        }
        Path home = Path.of(System.getProperty("user.dir"));
        LocalRunner runner = new LocalRunner(home);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            runner.stopAll();
            stopped.countDown();
        }, "local-runner-stop"));
        runner.run();
        stopped.await();
    }

    private void run() throws Exception {
        for (String service : SERVICES.keySet()) {
            Path jar = jar(service);
            if (!Files.exists(jar)) {
                throw new IllegalStateException("Missing " + jar + ": build first (./run-local does it for you)");
            }
        }
        PostgresUrl internal = internalDatabase();
        PostgresUrl external = internal.withDatabase("external_demo");
        createDatabaseIfMissing(internal, external.database());

        System.out.println("Migrating " + internal.redacted() + " …");
        SchemaMigrations.migrate(dataSource(internal), MigrateMode.ALL);
        UUID tenancy = createDemoTenancy(internal, external);

        String secret = env("SYNC_SIGNING_SECRET", randomToken());
        String adminToken = env("ADMIN_TOKEN", randomToken());
        Path logs = home.resolve(".local-run/logs");
        Files.createDirectories(logs);
        for (Map.Entry<String, Integer> service : SERVICES.entrySet()) {
            processes.add(start(service.getKey(), service.getValue(), internal, secret, adminToken, logs));
        }
        for (Map.Entry<String, Integer> service : SERVICES.entrySet()) {
            awaitReady(service.getKey(), service.getValue(), Duration.ofSeconds(90));
        }

        System.out.println();
        System.out.println("external-db-sync is running locally.");
        for (Map.Entry<String, Integer> service : SERVICES.entrySet()) {
            int port = service.getValue();
            System.out.printf("  %-20s status http://localhost:%d/api/v1/status   health http://localhost:%d/q/health/ready%n",
                    service.getKey(), port, port);
        }
        System.out.println("  dashboard            http://localhost:" + SERVICES.get("poller-service")
                + "/dashboard   (sign in: any user name, the admin token as password)");
        System.out.println("  admin token          " + adminToken + "   (Authorization: Bearer …)");
        System.out.println("  internal database    psql '" + internal.reactiveUri() + "'");
        System.out.println("  external database    psql '" + external.reactiveUri() + "'");
        System.out.println("  demo tenancy         " + tenancy);
        System.out.println("  service logs         " + logs);
        System.out.println();
        System.out.println("Try: psql '" + internal.reactiveUri() + "' -c \"UPDATE \\\"ProjectUser\\\" SET \\\"displayName\\\" = 'Renamed' "
                + "WHERE \\\"tenancyId\\\" = '" + tenancy + "'\"");
        System.out.println("then: psql '" + external.reactiveUri() + "' -c 'SELECT id, display_name, primary_email FROM users'");
        System.out.println("Ctrl-C stops everything.");
    }

    private PostgresUrl internalDatabase() throws IOException {
        String given = System.getenv("INTERNAL_DATABASE_URL");
        if (given != null && !given.isBlank()) {
            System.out.println("Using INTERNAL_DATABASE_URL " + PostgresUrl.redact(given));
            return PostgresUrl.parse(given);
        }
        int port = Integer.parseInt(env("LOCAL_PG_PORT", Integer.toString(DEFAULT_PG_PORT)));
        Path data = home.resolve(".local-run/pgdata");
        Files.createDirectories(data.getParent());
        System.out.println("Starting embedded PostgreSQL on port " + port + " (data in " + data + ") …");
        embedded = EmbeddedPostgres.builder()
                .setPort(port)
                .setDataDirectory(data)
                .setCleanDataDirectory(false)
                .setServerConfig("max_connections", "300")
                .setServerConfig("timezone", "UTC")
                .start();
        try (Connection c = DriverManager.getConnection(embedded.getJdbcUrl("postgres", "postgres"));
                Statement s = c.createStatement()) {
            s.execute("ALTER USER postgres PASSWORD 'postgres'");
        } catch (SQLException e) {
            throw new IllegalStateException("Cannot prepare the embedded server: " + e.getMessage(), e);
        }
        PostgresUrl server = new PostgresUrl("localhost", port, "postgres", "postgres", "postgres", Map.of());
        createDatabaseIfMissing(server, "internal");
        return server.withDatabase("internal");
    }

    private static void createDatabaseIfMissing(PostgresUrl server, String database) {
        try (Connection c = DriverManager.getConnection(server.withDatabase("postgres").jdbcUrl(), server.user(),
                server.password()); Statement s = c.createStatement()) {
            var rs = s.executeQuery("SELECT 1 FROM pg_database WHERE datname = '" + database.replace("'", "''") + "'");
            if (!rs.next()) {
                s.execute("CREATE DATABASE \"" + database.replace("\"", "\"\"") + "\"");
            }
        } catch (SQLException e) {
            throw new IllegalStateException("Cannot create database " + database + " on " + server.redacted() + ": "
                    + e.getMessage(), e);
        }
    }

    /** The demo project: idempotent, so a second run reuses it. */
    private static UUID createDemoTenancy(PostgresUrl internal, PostgresUrl external) throws SQLException {
        String projectId = "local-demo";
        try (Connection c = DriverManager.getConnection(internal.jdbcUrl(), internal.user(), internal.password())) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO "Project" ("id", "updatedAt", "displayName", "isProductionMode")
                    VALUES (?, now(), 'Local demo', false) ON CONFLICT DO NOTHING""")) {
                ps.setString(1, projectId);
                ps.executeUpdate();
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO "Tenancy" ("id", "updatedAt", "projectId", "branchId", "hasNoOrganization")
                    VALUES (?, now(), ?, 'main', 'TRUE') ON CONFLICT DO NOTHING""")) {
                ps.setObject(1, UUID.nameUUIDFromBytes(projectId.getBytes()));
                ps.setString(2, projectId);
                ps.executeUpdate();
            }
            UUID tenancy;
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT \"id\" FROM \"Tenancy\" WHERE \"projectId\" = ? AND \"branchId\" = 'main'")) {
                ps.setString(1, projectId);
                var rs = ps.executeQuery();
                rs.next();
                tenancy = (UUID) rs.getObject(1);
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO "EnvironmentConfigOverride" ("projectId", "branchId", "updatedAt", "config")
                    VALUES (?, 'main', now(), jsonb_build_object('dbSync', jsonb_build_object('externalDatabases',
                        jsonb_build_object('main', jsonb_build_object('type', 'postgres', 'connectionString', ?::text)))))
                    ON CONFLICT ("projectId", "branchId") DO UPDATE SET "config" = EXCLUDED."config", "updatedAt" = now()""")) {
                ps.setString(1, projectId);
                ps.setString(2, external.reactiveUri());
                ps.executeUpdate();
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                               "updatedAt", "displayName")
                    SELECT ?, md5(? || n)::uuid, ?, 'main', now(), 'Demo user ' || n FROM generate_series(1, 3) AS n
                    ON CONFLICT DO NOTHING""")) {
                ps.setObject(1, tenancy);
                ps.setString(2, projectId);
                ps.setString(3, projectId);
                ps.executeUpdate();
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                                                  "isVerified", "value", "usedForAuth")
                    SELECT ?, md5(? || n)::uuid, md5('channel' || ? || n)::uuid, now(), 'EMAIL', 'TRUE', true,
                           'demo' || n || '@example.com', 'TRUE'
                    FROM generate_series(1, 3) AS n ON CONFLICT DO NOTHING""")) {
                ps.setObject(1, tenancy);
                ps.setString(2, projectId);
                ps.setString(3, projectId);
                ps.executeUpdate();
            }
            c.commit();
            return tenancy;
        }
    }

    /**
     * JVM options of every service, as in the images (see k8s/README.md, "Memory"): a bounded heap starting small,
     * bounded non-heap, the serial collector, the client compiler only.
     */
    static final List<String> JVM_OPTIONS = List.of("-Xms64m", "-Xmx160m", "-XX:+UseSerialGC",
            "-XX:MaxMetaspaceSize=128m", "-XX:ReservedCodeCacheSize=64m", "-XX:MaxDirectMemorySize=64m",
            "-XX:TieredStopAtLevel=1", "-XX:+ExitOnOutOfMemoryError");

    /** The engine allocates a page's rows per run: a larger initial heap spares it the collections of growing. */
    static final List<String> ENGINE_JVM_OPTIONS = List.of("-Xms96m");

    private List<String> command(String service) {
        List<String> command = new ArrayList<>();
        command.add(javaBinary());
        command.addAll(JVM_OPTIONS);
        if (service.equals("sync-engine-service")) {
            command.addAll(ENGINE_JVM_OPTIONS); // the later -Xms wins
        }
        command.add("-jar");
        command.add(jar(service).toString());
        return command;
    }

    private Process start(String service, int port, PostgresUrl internal, String secret, String adminToken, Path logs)
            throws IOException {
        ProcessBuilder builder = new ProcessBuilder(command(service))
                .directory(home.toFile())
                .redirectErrorStream(true)
                .redirectOutput(logs.resolve(service + ".log").toFile());
        Map<String, String> env = builder.environment();
        // glibc's default of 8 malloc arenas per core is resident memory the heap limits do not bound.
        env.putIfAbsent("MALLOC_ARENA_MAX", "2");
        env.put("INTERNAL_DATABASE_URL", internal.reactiveUri());
        env.put("SYNC_ENGINE_URL", "http://localhost:" + SERVICES.get("sync-engine-service"));
        if (service.equals("poller-service")) {
            env.put("POLLER_SEQUENCER_URL", "http://localhost:" + SERVICES.get("sequencer-service"));
        }
        env.put("SYNC_SIGNING_SECRET", secret);
        env.put("ADMIN_TOKEN", adminToken);
        env.put("QUARKUS_HTTP_PORT", Integer.toString(port));
        // The packaged jars log JSON (prod profile); a person reads these files, so keep text unless asked otherwise.
        env.putIfAbsent("QUARKUS_LOG_CONSOLE_JSON_ENABLED", "false");
        env.put("SYNC_MIGRATE_AT_START", "none");
        // Local targets are databases on this machine, often on the internal database's own server, without TLS:
        // production refuses all of that by default. An operator's own settings win.
        env.putIfAbsent("ENGINE_TARGETS_ALLOW_LOOPBACK", "true");
        env.putIfAbsent("ENGINE_TARGETS_ALLOW_PRIVATE", "true");
        env.putIfAbsent("ENGINE_TARGETS_ALLOW_INTERNAL_SERVER", "true");
        env.putIfAbsent("ENGINE_TARGETS_MIN_SSLMODE", "disable");
        System.out.println("Starting " + service + " on port " + port + " …");
        return builder.start();
    }

    private static void awaitReady(String service, int port, Duration timeout) throws InterruptedException {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
        Instant deadline = Instant.now().plus(timeout);
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/q/health/ready"))
                .timeout(Duration.ofSeconds(2)).build();
        while (Instant.now().isBefore(deadline)) {
            try {
                if (client.send(request, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            TimeUnit.MILLISECONDS.sleep(250);
        }
        throw new IllegalStateException(service + " did not become ready within " + timeout.toSeconds()
                + " s: see .local-run/logs/" + service + ".log");
    }

    private void stopAll() {
        System.out.println("Stopping services …");
        processes.forEach(Process::destroy); // SIGTERM: each service drains, then exits
        for (Process process : processes) {
            try {
                if (!process.waitFor(40, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
        }
        if (embedded != null) {
            try {
                embedded.close();
            } catch (IOException e) {
                System.err.println("Embedded PostgreSQL did not stop cleanly: " + e.getMessage());
            }
        }
        System.out.println("Stopped.");
    }

    private Path jar(String service) {
        return home.resolve(service).resolve("target/quarkus-app/quarkus-run.jar");
    }

    /**
     * Set field by field, not with {@code setURL}: that copies every driver default (about 60) into the data source,
     * and Flyway logs the connection's URL, so the log showed them all on one line. This way the URL is the short
     * form, with only the given parameters and no credentials.
     */
    private static PGSimpleDataSource dataSource(PostgresUrl url) throws SQLException {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setServerNames(new String[] { url.host() });
        ds.setPortNumbers(new int[] { url.port() });
        ds.setDatabaseName(url.database());
        for (Map.Entry<String, String> param : url.params().entrySet()) {
            ds.setProperty(param.getKey(), param.getValue());
        }
        ds.setUser(url.user());
        ds.setPassword(url.password());
        return ds;
    }

    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    private static String randomToken() {
        byte[] bytes = new byte[24];
        new SecureRandom().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isBlank() ? fallback : value;
    }
}
