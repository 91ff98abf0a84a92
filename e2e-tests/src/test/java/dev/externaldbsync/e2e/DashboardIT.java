package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;

/**
 * The operators' dashboard in a real browser: headless Chromium (Debian's {@code chromium}) driven by
 * {@code playwright-core} ({@code src/test/browser/dashboard.mjs}) against the packaged pipeline, while this test
 * writes users. The script checks the page is refused without the token and loads with it, the counters move, the
 * sequencer switch pauses stamping and the page shows it, the tenancy search shows a target's cursor, and a parked
 * request's re-queue button re-queues it; it saves {@code target/dashboard/dashboard.png} and prints the load time.
 * <p>
 * Without {@code node} or {@code /usr/bin/chromium} the test is skipped, unless {@code REQUIRE_BROWSER_TESTS=1}
 * (CI), where it fails instead.
 */
class DashboardIT {

    private static final Duration SYNCED = Duration.ofSeconds(60);
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static Pipeline pipeline;

    @BeforeAll
    static void startPipeline() {
        requireBrowser(commandExists("node") && commandExists("npm"), "node and npm are not installed");
        requireBrowser(Files.isExecutable(CHROMIUM), CHROMIUM + " is missing (apt-get install chromium)");
        pipeline = Pipeline.start(1, 1, 1, Map.of("POLLER_DASHBOARD_SAMPLE_INTERVAL", "1s"));
    }

    @AfterAll
    static void stopPipeline() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    @Test
    void theDashboardWorksInAHeadlessBrowser() throws Exception {
        Path browser = installBrowserDriver();
        TestDatabase internal = pipeline.internal;

        // A synced, idle tenancy for the search, and a parked request to re-queue.
        Tenancy searched = pipeline.fixtures.createTenancy();
        TestDatabase searchedTarget = pipeline.newExternal();
        pipeline.fixtures.configureTargets(searched, Map.of("main", searchedTarget.postgresUrl()));
        for (int i = 0; i < 5; i++) {
            pipeline.fixtures.createUser(searched, "Searched " + i, "searched" + i + "@example.com");
        }
        Oracle.awaitMirrors(internal, searchedTarget, List.of(searched.id()), SYNCED);
        UUID parked = UUID.randomUUID();
        internal.update("""
                INSERT INTO "OutgoingRequest" ("id", "createdAt", "deduplicationKey", "qstashOptions", "tenancyId",
                    "startedFulfillingAt", "leaseExpiresAt", "parkedAt", "attemptCount", "lastError")
                VALUES (?, now(), 'dashboard-parked', '{}', ?, now(), now(), now(), 25, 'HTTP 500: scripted')""",
                parked, searched.id());

        // Writes while the browser looks: a busy tenancy with its own target.
        Tenancy busy = pipeline.fixtures.createTenancy();
        TestDatabase busyTarget = pipeline.newExternal();
        pipeline.fixtures.configureTargets(busy, Map.of("busy", busyTarget.postgresUrl()));
        AtomicInteger written = new AtomicInteger();
        ScheduledExecutorService writer = Executors.newSingleThreadScheduledExecutor();
        writer.scheduleAtFixedRate(() -> {
            int n = written.incrementAndGet();
            pipeline.fixtures.createUser(busy, "Busy " + n, "busy" + n + "@example.com");
        }, 0, 100, TimeUnit.MILLISECONDS);

        Path screenshot = ServiceProcess.repoRoot().resolve("e2e-tests/target/dashboard/dashboard.png");
        Files.deleteIfExists(screenshot);
        Path output = browser.resolve("dashboard-run.log");
        Process node;
        try {
            ProcessBuilder builder = new ProcessBuilder("node", "dashboard.mjs").directory(browser.toFile())
                    .redirectErrorStream(true).redirectOutput(output.toFile());
            builder.environment().putAll(Map.of(
                    "DASHBOARD_URL", pipeline.pollers.get(0).url(),
                    "ADMIN_TOKEN", Pipeline.ADMIN_TOKEN,
                    "TENANCY_ID", searched.id().toString(),
                    "TARGET_ID", "main",
                    "PARKED_REQUEST_ID", parked.toString(),
                    "SCREENSHOT", screenshot.toString(),
                    "CHROMIUM", CHROMIUM.toString()));
            node = builder.start();
            boolean finished = node.waitFor(4, TimeUnit.MINUTES);
            if (!finished) {
                node.destroyForcibly();
            }
            assertThat(finished).as("the browser script finished; output:\n%s", read(output)).isTrue();
        } finally {
            writer.shutdownNow();
            writer.awaitTermination(10, TimeUnit.SECONDS);
            pipeline.setSequencerEnabled(true);
        }
        String log = read(output);
        System.out.println("Dashboard browser script:\n" + log);
        assertThat(node.exitValue()).as("browser script exit code; output:\n%s", log).isZero();
        assertThat(log).contains("OK refused without credentials", "OK loads with credentials", "OK counters move",
                "OK sequencer paused", "OK sequencer resumed", "OK tenancy search found", "OK parked request re-queued",
                "OK loads with credentials in the URL", "DASHBOARD_OK").containsPattern("LOAD_MS \\d+");
        long cursor = internal.queryLong("""
                SELECT "cursor" FROM "SyncEngineProgress"
                WHERE "tenancyId" = ? AND "targetId" = 'main' AND "mappingName" = 'users'""", searched.id());
        assertThat(log).contains("CURSOR users=" + cursor);
        assertThat(internal.queryLong("SELECT count(*) FROM \"OutgoingRequest\" WHERE \"id\" = ? AND \"parkedAt\" IS NOT NULL",
                parked)).as("the re-queued request is no longer parked").isZero();
        assertThat(screenshot).isNotEmptyFile();
        pipeline.awaitQuiescent(SYNCED);
        Oracle.awaitMirrors(internal, busyTarget, List.of(busy.id()), SYNCED);
    }

    /** Copies the script and its lock file to target/ and installs playwright-core there (never into src/). */
    private static Path installBrowserDriver() throws IOException, InterruptedException {
        Path source = ServiceProcess.repoRoot().resolve("e2e-tests/src/test/browser");
        Path work = ServiceProcess.repoRoot().resolve("e2e-tests/target/dashboard-browser");
        Files.createDirectories(work);
        for (String file : List.of("package.json", "package-lock.json", "dashboard.mjs")) {
            Files.copy(source.resolve(file), work.resolve(file), StandardCopyOption.REPLACE_EXISTING);
        }
        if (!Files.isDirectory(work.resolve("node_modules/playwright-core"))) {
            Path npmLog = work.resolve("npm-ci.log");
            Process npm = new ProcessBuilder("npm", "ci", "--no-audit", "--no-fund").directory(work.toFile())
                    .redirectErrorStream(true).redirectOutput(npmLog.toFile()).start();
            boolean done = npm.waitFor(5, TimeUnit.MINUTES);
            if (!done) {
                npm.destroyForcibly();
            }
            requireBrowser(done && npm.exitValue() == 0, "npm ci of playwright-core failed: " + read(npmLog));
        }
        return work;
    }

    /** Skips (a developer machine without a browser) or, with REQUIRE_BROWSER_TESTS=1, fails. */
    private static void requireBrowser(boolean available, String why) {
        if ("1".equals(System.getenv("REQUIRE_BROWSER_TESTS"))) {
            if (!available) {
                throw new AssertionError("REQUIRE_BROWSER_TESTS=1 but " + why);
            }
        } else {
            assumeTrue(available, "browser test skipped: " + why);
        }
    }

    private static boolean commandExists(String command) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
