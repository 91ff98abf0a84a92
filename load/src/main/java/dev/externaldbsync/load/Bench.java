package dev.externaldbsync.load;

import dev.externaldbsync.sql.Identifiers;
import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.postgresql.ds.PGSimpleDataSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The one-command benchmark: the COPY ceiling, a huge tenancy's backfill, many small tenancies' fan-out, end-to-end
 * lag under sustained writes, the services' peak memory and the capture triggers' overhead on writers, on one
 * machine in one run. Prints each phase's progress and timing as it goes, then a table and {@code key=value} lines.
 * By default everything runs on an embedded PostgreSQL (zonky, as {@code ./run-local}) with the internal and the
 * target database as two databases of one server: on one machine a second server adds no CPU, and both sides then
 * share one clock (lag) and one configuration (COPY ceiling vs pipeline). Not thread-safe; one instance per run.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
                "Benchmarks the pipeline on this machine: copy (COPY ceiling), backfill (one huge tenancy), fanout",
                "(many one-user tenancies), lag (commit -> visible under sustained writes), trigger (pgbench writer",
                "throughput with / without the sync layer), plus the services' peak RSS. Starts an embedded",
                "PostgreSQL and the three packaged services unless --internal-url/--target-url name existing",
                "databases (the services are still started here, as processes). Exit code 1 when a phase fails."})
public final class Bench implements Callable<Integer> {

    static final List<String> PHASES = List.of("copy", "backfill", "fanout", "lag", "trigger");

    @Option(names = "--quick", description = "Small sizes: the whole run in under 5 minutes.")
    boolean quick;

    @Option(names = "--phases", split = ",", paramLabel = "PHASE",
            description = "Phases to run, comma-separated, of: copy, backfill, fanout, lag, trigger. Default: all.")
    List<String> phases;

    @Option(names = "--internal-url", paramLabel = "URL",
            description = "An existing internal database (migrated here; each run adds its own fixture rows). "
                    + "Default: an embedded PostgreSQL.")
    String internalUrl;

    @Option(names = "--target-url", paramLabel = "URL",
            description = "A target database; the bench drops and re-creates <database>_copy, _backfill, _newtarget, "
                    + "_fanout, _lag next to it (needs CREATEDB on its server). Required with --internal-url.")
    String targetUrl;

    @Option(names = "--backfill-users", paramLabel = "N", description = "Users of the huge tenancy. Default: 1000000 (quick: 100000).")
    Long backfillUsers;

    @Option(names = "--fanout-tenancies", paramLabel = "N", description = "One-user tenancies. Default: 1000000 (quick: 10000).")
    Long fanoutTenancies;

    @Option(names = "--lag-rate", paramLabel = "PER_S", description = "Nominal changes per second; half the measured writer capacity is offered "
            + "instead when that is lower. Default: 1000 (quick: 200).")
    Double lagRate;

    @Option(names = "--lag-seconds", paramLabel = "S", description = "Write duration. Default: 60 (quick: 20).")
    Integer lagSeconds;

    @Option(names = "--lag-capacity-seconds", paramLabel = "S",
            description = "Length of the writer-capacity burst before the lag run. Default: 10 (quick: 5).")
    Integer lagCapacitySeconds;

    @Option(names = "--lag-tenancies", paramLabel = "N", description = "Tenancies written to (10 users each). Default: 1000 (quick: 20).")
    Integer lagTenancies;

    @Option(names = "--trigger-seconds", paramLabel = "S", description = "Length of one pgbench run. Default: 3 (quick: 2).")
    Integer triggerSeconds;

    @Option(names = "--trigger-rounds", paramLabel = "N", description = "Base/sync pairs per script; the median ratio is reported. Default: 9 (quick: 5).")
    Integer triggerRounds;

    @Option(names = "--service-java-opts", paramLabel = "OPTS", defaultValue = "-Xms64m -Xmx160m -XX:+UseSerialGC "
            + "-XX:MaxMetaspaceSize=128m -XX:ReservedCodeCacheSize=64m -XX:MaxDirectMemorySize=64m -XX:TieredStopAtLevel=1 "
            + "-XX:+ExitOnOutOfMemoryError",
            description = "JVM options of the three services. Default: ${DEFAULT-VALUE}.")
    String serviceJavaOpts;

    @Option(names = "--repo-root", paramLabel = "DIR", defaultValue = "${env:BENCH_REPO_ROOT}",
            description = "The checkout holding */target/quarkus-app/quarkus-run.jar. Default: env BENCH_REPO_ROOT, else the working directory.")
    Path repoRoot;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    private final Report report = new Report();
    private volatile Services startedServices;
    private volatile EmbeddedPostgres startedServer;
    private PrintStream out = System.out;
    private long runStarted;

    @Override
    public Integer call() throws Exception {
        // The bench prints its own progress; the libraries' INFO lines (embedded server, Flyway) would drown it.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        for (java.util.logging.Handler h : java.util.logging.Logger.getLogger("").getHandlers()) {
            h.setLevel(java.util.logging.Level.WARNING);
        }
        Set<String> selected = new LinkedHashSet<>(phases == null ? PHASES : phases);
        for (String p : selected) {
            if (!PHASES.contains(p)) {
                throw new CommandLine.ParameterException(spec.commandLine(), "unknown phase '" + p + "'; phases: " + PHASES);
            }
        }
        if ((internalUrl == null) != (targetUrl == null)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--internal-url and --target-url go together");
        }
        if (repoRoot == null) {
            repoRoot = Path.of("").toAbsolutePath();
        }
        boolean ok = run(selected);
        out.println();
        report.printTable(out);
        out.println();
        report.printKeyValues(out);
        return ok ? 0 : 1;
    }

    private long sizeOr(Long given, long full, long quickSize) {
        return given != null ? given : quick ? quickSize : full;
    }

    private boolean run(Set<String> selected) throws Exception {
        runStarted = System.nanoTime();
        machineFacts();
        String runId = Long.toString(System.currentTimeMillis() / 1000 % 100_000_000L, 36);
        Path work = repoRoot.resolve("load/target/bench");
        Files.createDirectories(work);
        EmbeddedPostgres embedded = null;
        boolean ok = true;
        // Ctrl-C or SIGTERM: stop the services and the embedded server we started, not leave them running.
        Thread cleanup = new Thread(this::closeQuietly, "bench-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
        try {
            PostgresUrl internal;
            PostgresUrl target;
            if (internalUrl == null) {
                long t = System.nanoTime();
                embedded = startedServer = EmbeddedPostgres.builder()
                        .setServerConfig("max_connections", "300")
                        .setServerConfig("shared_buffers", "256MB")
                        .setServerConfig("max_wal_size", "4GB")
                        .setServerConfig("timezone", "UTC")
                        .start();
                try (Connection c = java.sql.DriverManager.getConnection(embedded.getJdbcUrl("postgres", "postgres"));
                        Statement st = c.createStatement()) {
                    // The services and the fixture's target configs carry a password, as an operator's would.
                    st.execute("ALTER USER postgres PASSWORD 'postgres'");
                }
                PostgresUrl server = new PostgresUrl("localhost", embedded.getPort(), "postgres", "postgres", "postgres",
                        Map.of());
                internal = server.withDatabase("bench_internal");
                target = server.withDatabase("bench");
                createDatabase(server, internal.database(), true);
                phaseDone("setup", "embedded PostgreSQL on port " + embedded.getPort() + " (internal and target databases "
                        + "on one server)", t);
                report.put("setup", "postgres", "embedded-" + serverVersion(internal), "zonky, fsync on, shared_buffers 256MB");
            } else {
                internal = PostgresUrl.parse(internalUrl);
                target = PostgresUrl.parse(targetUrl);
                report.put("setup", "postgres", "external-" + serverVersion(internal), internal.redacted());
            }
            boolean pipeline = selected.contains("backfill") || selected.contains("fanout") || selected.contains("lag");
            boolean needsInternal = pipeline || selected.contains("copy");
            if (needsInternal) {
                long t = System.nanoTime();
                SchemaMigrations.migrate(dataSource(internal), MigrateMode.ALL);
                phaseDone("setup", "internal database migrated", t);
            }
            Services services = null;
            try {
                if (pipeline) {
                    long t = System.nanoTime();
                    services = startedServices = Services.start(repoRoot, internal.reactiveUri(),
                            Arrays.asList(serviceJavaOpts.strip().split("\\s+")), work.resolve("logs"),
                            Duration.ofSeconds(120));
                    services.setPipelineEnabled(false);
                    phaseDone("setup", "services started (logs in " + work.resolve("logs") + "), pipeline paused", t);
                }
                if (selected.contains("copy") || selected.contains("backfill")) {
                    copyAndBackfill(internal, target, services, "bf" + runId, selected);
                }
                if (selected.contains("fanout")) {
                    fanout(internal, target, services, "fo" + runId);
                }
                if (selected.contains("lag")) {
                    lag(internal, target, services, "lg" + runId);
                }
                if (services != null) {
                    for (Map.Entry<String, OptionalLong> e : services.peakRssKib().entrySet()) {
                        String name = shortName(e.getKey());
                        report.put("rss", "rss_mb_" + name, e.getValue().isPresent()
                                ? Report.format(e.getValue().getAsLong() / 1024.0) : "n/a",
                                "peak RSS (VmHWM) over the run, JVM " + serviceJavaOpts);
                    }
                }
            } catch (Exception e) {
                ok = false;
                out.println("FAILED: " + e);
                e.printStackTrace(out);
                report.put("result", "failed", e.getClass().getSimpleName(), String.valueOf(e.getMessage()));
            } finally {
                if (services != null) {
                    services.close();
                    startedServices = null;
                }
            }
            if (ok && selected.contains("trigger")) {
                try {
                    trigger(internal, work);
                } catch (Exception e) {
                    ok = false;
                    out.println("FAILED: " + e);
                    e.printStackTrace(out);
                    report.put("result", "failed", e.getClass().getSimpleName(), String.valueOf(e.getMessage()));
                }
            }
        } finally {
            if (embedded != null) {
                embedded.close();
                startedServer = null;
            }
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running or will run
            }
            report.put("run", "load_average_end", loadAverage(), "1-minute load average when the run ended");
            report.put("run", "total_s", (System.nanoTime() - runStarted) / 1e9, null);
        }
        return ok;
    }

    // ---- phases ---------------------------------------------------------------------------------------------

    private void copyAndBackfill(PostgresUrl internal, PostgresUrl target, Services services, String seed,
            Set<String> selected) throws Exception {
        long users = sizeOr(backfillUsers, 1_000_000, 100_000);
        PostgresUrl backfillTarget = resetDatabase(target, "backfill");
        long t = System.nanoTime();
        Fixture fixture = fixture(internal, seed);
        fixture.hugeTenancies = 1;
        fixture.usersPerHuge = users;
        fixture.targetUrl = backfillTarget.reactiveUri();
        Fixture.Result loaded = fixture.run(indented());
        phaseDone("fixture", "one tenancy with " + users + " users, " + loaded.totalRows() + " rows", t);
        UUID tenancy = hugeTenancyId(internal, seed, fixture.hugeNumberBase + 1);
        long rows = 2 * users; // users + contact_channels: the synced rows of this tenancy

        double copyRate = Double.NaN;
        if (selected.contains("copy")) {
            PostgresUrl copyTarget = resetDatabase(target, "copy");
            try (Connection in = Db.connect(internal.reactiveUri());
                    Connection tg = Db.connect(copyTarget.reactiveUri())) {
                out.println("phase copy: COPY projection -> staging -> INSERT ... ON CONFLICT DO UPDATE, users + contact_channels");
                CopyCeiling.Result[] ceiling = new CopyCeiling.Result[1];
                Timed clock = timed(internal, () -> ceiling[0] = new CopyCeiling(in, tg).run(tenancy,
                        List.of(Mappings.USERS, Mappings.CONTACT_CHANNELS)));
                CopyCeiling.Result r = ceiling[0];
                if (r.rows() != rows) {
                    throw new IllegalStateException("COPY moved " + r.rows() + " rows, expected " + rows);
                }
                copyRate = r.rowsPerSecond();
                out.printf(Locale.ROOT, "phase copy: %d rows in %.1f s%n", r.rows(), r.elapsedNanos() / 1e9);
                report.put("copy", "copy_rows", r.rows(), "users + contact_channels of one tenancy");
                report.put("copy", "copy_s", r.elapsedNanos() / 1e9, null);
                report.put("copy", "copy_rows_per_s", copyRate, "the ceiling");
                putVacuum("copy", clock);
            }
        }
        if (selected.contains("backfill")) {
            // Two clocks, because they are two different jobs: stamping is the sequencer's (every unstamped
            // change-log entry of the tenancy gets its sequence id, poller paused), the backfill proper is what a
            // tenant sees when it connects a target to data that already exists: the queued request delivered,
            // every row pulled above cursor 0 and applied. The ratio to the COPY ceiling compares like with like.
            long entries = unstampedEntries(internal, tenancy);
            out.println("phase stamp: sequencer on, poller off; clock = fusebox PUT until no change-log entry of the "
                    + "tenancy is unstamped (polled every 100 ms); " + entries + " entries to stamp");
            Timed stamp = timed(internal, () -> {
                long since = System.nanoTime();
                services.setFusebox(true, false);
                awaitStamped(internal, tenancy, services, Duration.ofMinutes(quick ? 10 : 30), since);
            });
            long stampElapsed = stamp.nanos();
            out.printf(Locale.ROOT, "phase stamp: %d change-log entries of %d users stamped in %.1f s%n",
                    entries, users, stampElapsed / 1e9);
            report.put("stamp", "stamp_s", stampElapsed / 1e9,
                    "sequencer: every unstamped change-log entry of the tenancy stamped");
            report.put("stamp", "stamp_users_per_s", users * 1e9 / stampElapsed,
                    "a fixture user leaves 2 entries: ProjectUser and ContactChannel (its primary email, written in the same transaction, adds none)");
            report.put("stamp", "stamp_entries", entries, "unstamped entries of the tenancy when the sequencer started");
            report.put("stamp", "stamp_entries_per_s", entries * 1e9 / stampElapsed, null);
            report.put("stamp", "stamp_ratio", rows * 1e9 / stampElapsed / copyRate,
                    "synced rows (users + channels) stamped per s / copy ceiling (goal >= 0.5)");
            putVacuum("stamp", stamp);

            out.println("phase backfill: poller on; clock = fusebox PUT until no queued request for the tenancy "
                    + "(delivery + fetch above cursor 0 + apply of every row)");
            Timed backfill = timed(internal, () -> {
                long since = System.nanoTime();
                services.setFusebox(true, true);
                awaitQuiescent(internal, tenancy, services, Duration.ofMinutes(quick ? 10 : 30), since);
            });
            long elapsed = backfill.nanos();
            services.setPipelineEnabled(false);
            expectCounts(backfillTarget, users, users);
            double rate = rows * 1e9 / elapsed;
            out.printf(Locale.ROOT, "phase backfill: %d rows in %.1f s%n", rows, elapsed / 1e9);
            report.put("backfill", "backfill_rows", rows, "users + contact_channels");
            report.put("backfill", "backfill_s", elapsed / 1e9, "poller on -> every row applied (queue+fetch+apply)");
            report.put("backfill", "backfill_rows_per_s", rate, null);
            report.put("backfill", "backfill_ratio", rate / copyRate, "backfill / copy ceiling (goal >= 0.8)");
            putVacuum("backfill", backfill);
            report.put("backfill", "backfill_end_to_end_s", (stampElapsed + elapsed) / 1e9,
                    "stamp + backfill: a tenancy loaded while the pipeline was off");
            report.put("backfill", "backfill_end_to_end_ratio", rows * 1e9 / (stampElapsed + elapsed) / copyRate,
                    "rows / (stamp + backfill) s / copy ceiling: a tenancy loaded while the pipeline was off");
            newTarget(internal, target, services, tenancy, users, copyRate);
        }
    }

    /**
     * The cold backfill a tenant sees when it connects a database to data that already exists: a second target added
     * to the config of the tenancy the backfill phase synced, whose change-log entries are stamped by then (the stamp
     * clock above is the other case, a backlog written while the pipeline was off). One clock, config UPDATE (which
     * enqueues the tenancy) to nothing queued; the sequence is read before and after, to show what was stamped on it.
     */
    private void newTarget(PostgresUrl internal, PostgresUrl target, Services services, UUID tenancy, long users,
            double copyRate) throws Exception {
        PostgresUrl second = resetDatabase(target, "newtarget");
        long rows = 2 * users;
        long unstamped = unstampedEntries(internal, tenancy);
        services.setPipelineEnabled(true);
        long drawnBefore = stampsDrawn(internal);
        out.println("phase new target: a second target added to the tenancy's config, pipeline on; clock = config "
                + "UPDATE until no queued request for the tenancy; " + unstamped + " entries unstamped at the start");
        Timed clock = timed(internal, () -> {
            long since = System.nanoTime();
            try (Connection c = Db.connect(internal.reactiveUri());
                    PreparedStatement ps = c.prepareStatement(ADD_TARGET)) {
                // The URL is bound, never inlined: it carries a password and statements may be logged by the server.
                ps.setString(1, second.reactiveUri());
                ps.setObject(2, tenancy);
                if (ps.executeUpdate() != 1) {
                    throw new IllegalStateException("no config row for tenancy " + tenancy);
                }
            }
            awaitQuiescent(internal, tenancy, services, Duration.ofMinutes(quick ? 10 : 30), since);
        });
        long elapsed = clock.nanos();
        long stamped = stampsDrawn(internal) - drawnBefore;
        services.setPipelineEnabled(false);
        expectCounts(second, users, users);
        double rate = rows * 1e9 / elapsed;
        out.printf(Locale.ROOT, "phase new target: %d rows in %.1f s, %d stamps drawn meanwhile%n", rows,
                elapsed / 1e9, stamped);
        report.put("new_target", "new_target_s", elapsed / 1e9,
                "config UPDATE -> every row of the tenancy applied to the added target (queue+fetch+apply)");
        report.put("new_target", "new_target_rows_per_s", rate, null);
        report.put("new_target", "new_target_ratio", rate / copyRate,
                "a target added to a sequenced tenancy, end to end (nothing to stamp) / copy ceiling");
        report.put("new_target", "new_target_unstamped_entries", unstamped, "of the tenancy, when the clock started");
        report.put("new_target", "new_target_stamps_drawn", stamped, "by the sequencer while the clock ran");
        putVacuum("new_target", clock);
    }

    /** How long one clock's work took, and the vacuuming the server did meanwhile. */
    private record Timed(long nanos, VacuumWatch.Result vacuum) {
    }

    /** Times {@code work} while a {@link VacuumWatch} on the internal database's server samples. */
    private Timed timed(PostgresUrl internal, PipelineCpu.Work work) throws Exception {
        long[] nanos = new long[1];
        VacuumWatch.Result vacuum;
        try (Connection c = Db.connect(internal.reactiveUri())) {
            vacuum = new VacuumWatch(c).around(() -> {
                long started = System.nanoTime();
                work.run();
                nanos[0] = System.nanoTime() - started;
            }, failure -> out.println("  " + failure));
        }
        return new Timed(nanos[0], vacuum);
    }

    /** Reports {@code <phase>_vacuum_s}, and says so when a vacuum shared the clock. */
    private void putVacuum(String phase, Timed clock) {
        VacuumWatch.Result vacuum = clock.vacuum();
        report.put(phase, phase + "_vacuum_s", vacuum.seconds(),
                "seconds of the clock a VACUUM ran on the server (sampled every " + VacuumWatch.SAMPLE_MILLIS
                        + " ms): " + vacuum.describe());
        if (vacuum.seconds() > 0) {
            out.printf(Locale.ROOT, "phase %s: a vacuum ran during %.1f s of the clock's %.1f s (%s)%n",
                    phase.replace('_', ' '), vacuum.seconds(), clock.nanos() / 1e9, vacuum.describe());
        }
    }

    /** Adds the target {@code bench_new} to a tenancy's config. Parameters: its URL, the tenancy. */
    private static final String ADD_TARGET = """
            UPDATE "EnvironmentConfigOverride" AS e
            SET "config" = jsonb_set(e."config", '{dbSync,externalDatabases,bench_new}',
                                     jsonb_build_object('type', 'postgres', 'connectionString', ?::text)),
                "updatedAt" = now()
            FROM "Tenancy" AS t
            WHERE t."id" = ? AND e."projectId" = t."projectId" AND e."branchId" = t."branchId\"""";

    /** How many ids {@code global_seq_id} has handed out (0 before its first). */
    private static long stampsDrawn(PostgresUrl internal) throws SQLException {
        try (Connection c = Db.connect(internal.reactiveUri()); Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("""
                        SELECT CASE WHEN s.is_called THEN (s.last_value - q.start_value) / q.increment_by + 1 ELSE 0 END
                        FROM global_seq_id AS s, pg_sequences AS q
                        WHERE q.schemaname = current_schema() AND q.sequencename = 'global_seq_id'""")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private void fanout(PostgresUrl internal, PostgresUrl target, Services services, String seed) throws Exception {
        settle(internal, services, "fanout");
        long tenancies = sizeOr(fanoutTenancies, 1_000_000, 10_000);
        PostgresUrl fanoutTarget = resetDatabase(target, "fanout");
        long t = System.nanoTime();
        Fixture fixture = fixture(internal, seed);
        fixture.smallTenancies = tenancies;
        fixture.targetUrl = fanoutTarget.reactiveUri();
        Fixture.Result loaded = fixture.run(indented());
        phaseDone("fixture", tenancies + " one-user tenancies sharing one target, " + loaded.totalRows() + " rows", t);
        out.println("phase fanout: enabling the pipeline; clock = fusebox PUT until no change-log entry is unstamped and nothing is queued");
        long started = System.nanoTime();
        PipelineCpu.Result cpu;
        try (PipelineCpu sampler = new PipelineCpu(Db.connect(internal.reactiveUri()), services.pids(),
                Services.APPLICATION_NAME_PREFIX, fanoutTarget.database(), "sync-engine-service", List.of())) {
            cpu = sampler.around(() -> {
                services.setPipelineEnabled(true);
                awaitQuiescent(internal, null, services, Duration.ofMinutes(quick ? 10 : 120), started);
            }, failure -> out.println("  " + failure));
        }
        long elapsed = System.nanoTime() - started;
        services.setPipelineEnabled(false);
        expectCounts(fanoutTarget, tenancies, tenancies);
        out.printf(Locale.ROOT, "phase fanout: %d tenancies in %.1f s%n", tenancies, elapsed / 1e9);
        report.put("fanout", "fanout_tenancies", tenancies, "one user + one email each, one shared target");
        report.put("fanout", "fanout_s", elapsed / 1e9, "fusebox on -> every tenancy applied");
        report.put("fanout", "fanout_tenancies_per_s", tenancies * 1e9 / elapsed, null);
        report.put("fanout", "fanout_rows_per_s", 2 * tenancies * 1e9 / elapsed, null);
        out.println("phase fanout: CPU by service: " + cpu.perService());
        report.put("fanout", "fanout_cpu_ms_per_tenancy", cpu.seconds() * 1000 / tenancies,
                "the three services and their database sessions (the engine's on the target too), per tenancy");
        for (Map.Entry<String, Long> service : cpu.ticksByService().entrySet()) {
            report.put("fanout", "fanout_cpu_ms_per_tenancy_" + shortName(service.getKey()),
                    service.getValue() * 1000.0 / cpu.ticksPerSecond() / tenancies, null);
        }
        report.put("fanout", "fanout_cpu_jit_ms_per_tenancy",
                cpu.totalJitTicks() * 1000.0 / cpu.ticksPerSecond() / tenancies, "of which JIT compiler threads");
    }

    private void lag(PostgresUrl internal, PostgresUrl target, Services services, String seed) throws Exception {
        int tenancies = lagTenancies != null ? lagTenancies : quick ? 20 : 1000;
        double nominal = lagRate != null ? lagRate : quick ? 200 : 1000;
        int seconds = lagSeconds != null ? lagSeconds : quick ? 20 : 60;
        PostgresUrl lagTarget = resetDatabase(target, "lag");
        long t = System.nanoTime();
        Fixture fixture = fixture(internal, seed);
        fixture.hugeTenancies = tenancies;
        fixture.usersPerHuge = 10;
        fixture.targetUrl = lagTarget.reactiveUri();
        fixture.run(indented());
        services.setPipelineEnabled(true);
        awaitQuiescent(internal, null, services, Duration.ofMinutes(10), t);
        expectCounts(lagTarget, tenancies * 10L, tenancies * 10L);
        phaseDone("fixture", tenancies + " tenancies x 10 users created and synced", t);
        int capacitySeconds = lagCapacitySeconds != null ? lagCapacitySeconds : quick ? 5 : 10;
        int threads = 16;
        // Capacity: the writers as fast as they go, pipeline running (it shares the machine with them), so the
        // offered rate below is one this machine can sustain rather than a queue mistaken for lag.
        out.printf(Locale.ROOT, "phase lag: capacity burst, %d writer threads unthrottled for %d s, pipeline on%n",
                threads, capacitySeconds);
        WriteLoad burst = writeLoad(internal, seed, tenancies, 1_000_000, capacitySeconds, threads, 2);
        WriteLoad.Result cap = burst.run(indented());
        double capacity = cap.achievedRate();
        awaitQuiescent(internal, null, services, Duration.ofMinutes(10), System.nanoTime());
        boolean halfCapacity = capacity / 2 < nominal;
        double rate = halfCapacity ? capacity / 2 : nominal;
        String basis = halfCapacity ? "half-capacity" : "nominal";
        out.printf(Locale.ROOT, "phase lag: writers sustain %.0f changes/s; offering %.0f/s (%s: min(%.0f, %.0f))%n",
                capacity, rate, basis, nominal, capacity / 2);

        // Installed after the burst: its stamps must not be read as the lag run's.
        try (Connection c = Db.connect(lagTarget.reactiveUri())) {
            LagObserver.install(c, "public");
        }
        WriteLoad load = writeLoad(internal, seed, tenancies, rate, seconds, threads, 1);
        out.printf(Locale.ROOT, "phase lag: %.0f changes/s for %d s over %d tenancies; observer polls the target every 2 ms%n",
                rate, seconds, tenancies);
        String load1Before = loadAverage();
        WriteLoad.Result w;
        Percentiles lags;
        PipelineCpu.Result cpu;
        long started;
        Connection observed = Db.connect(lagTarget.reactiveUri());
        int observerPid;
        try (Statement st = observed.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            observerPid = rs.getInt(1);
        }
        try (LagObserver observer = LagObserver.start(observed, "public", 2);
                PipelineCpu sampler = new PipelineCpu(Db.connect(internal.reactiveUri()), services.pids(),
                        Services.APPLICATION_NAME_PREFIX, lagTarget.database(), "sync-engine-service",
                        List.of(observerPid))) {
            started = System.nanoTime();
            long since = started;
            AtomicReference<WriteLoad.Result> written = new AtomicReference<>();
            cpu = sampler.around(() -> {
                written.set(load.run(indented()));
                awaitQuiescent(internal, null, services, Duration.ofMinutes(2), since);
            }, failure -> out.println("  " + failure));
            w = written.get();
            TimeUnit.MILLISECONDS.sleep(200); // the observer's last polls
            lags = observer.snapshot();
        }
        String load1After = loadAverage();
        long lost = compareFinalState(internal, lagTarget, seed);
        phaseDone("lag", String.format(Locale.ROOT, "%d changes (%.0f/s achieved), %d visible stamps, %d lost",
                w.done(), w.achievedRate(), lags.count(), lost), started);
        report.put("lag", "lag_capacity_per_s", capacity, String.format(Locale.ROOT,
                "writers unthrottled for %d s, %d threads, pipeline on", capacitySeconds, threads));
        report.put("lag", "lag_offered_per_s", rate, String.format(Locale.ROOT, "min(%.0f, capacity / 2)", nominal));
        report.put("lag", "lag_rate_basis", basis, "nominal, or half-capacity when the machine cannot offer it");
        report.put("lag", "lag_achieved_per_s", w.achievedRate(), null);
        report.put("lag", "lag_write_ms_p50", w.p50Ms(), "writers' commit latency (synchronous_commit=off)");
        report.put("lag", "lag_write_ms_p99", w.p99Ms(), null);
        report.put("lag", "lag_changes", w.done(), String.format(Locale.ROOT, "offered %.0f/s, achieved %.1f/s, "
                + "%d missed", rate, w.achievedRate(), w.missed()));
        report.put("lag", "lag_cpu_s", cpu.seconds(), String.format(Locale.ROOT,
                "three services %.1f s + %d database sessions %.1f s, writes start -> quiescent",
                cpu.serviceTicks() / (double) cpu.ticksPerSecond(), cpu.backendsSeen(),
                cpu.backendTicks() / (double) cpu.ticksPerSecond()));
        report.put("lag", "lag_cpu_ms_per_change", w.done() == 0 ? Double.NaN : cpu.seconds() * 1000 / w.done(),
                "pipeline CPU per synced change");
        out.println("phase lag: CPU by service: " + cpu.perService());
        report.put("lag", "lag_cpu_jit_ms_per_change", w.done() == 0 ? Double.NaN
                        : cpu.totalJitTicks() * 1000.0 / cpu.ticksPerSecond() / w.done(),
                "of lag_cpu_ms_per_change: the services' JIT compiler threads (warm-up, shrinks in longer runs)");
        for (Map.Entry<String, Long> service : cpu.ticksByService().entrySet()) {
            report.put("lag", "lag_cpu_ms_per_change_" + shortName(service.getKey()),
                    w.done() == 0 ? Double.NaN : service.getValue() * 1000.0 / cpu.ticksPerSecond() / w.done(),
                    "its process and its database sessions");
        }
        report.put("lag", "lag_load1_before", load1Before, "1-minute load average as the lag run started");
        report.put("lag", "lag_load1_after", load1After, null);
        report.put("lag", "lag_write_errors", w.errors(), null);
        report.put("lag", "lag_ms_p50", lags.percentile(50), "commit -> visible in target");
        report.put("lag", "lag_ms_p95", lags.percentile(95), null);
        report.put("lag", "lag_ms_p99", lags.percentile(99), null);
        report.put("lag", "lag_ms_max", lags.max(), null);
        report.put("lag", "lag_count", lags.count(), "stamps seen (a stamp overwritten before it synced is never seen)");
        report.put("lag", "lag_lost", lost, "target users differing from the internal state once quiescent");
        report.put("lag", "lag_capacity_write_errors", cap.errors(), null);
        if (w.errors() > 0 || cap.errors() > 0 || lost > 0) {
            throw new IllegalStateException("lag phase: " + (w.errors() + cap.errors()) + " write errors, " + lost
                    + " lost changes");
        }
    }

    private static WriteLoad writeLoad(PostgresUrl internal, String seed, int tenancies, double rate, int seconds,
            int threads, long randomSeed) {
        WriteLoad load = new WriteLoad();
        load.internalUrl = internal.reactiveUri();
        load.rate = rate;
        load.duration = Duration.ofSeconds(seconds);
        load.tenancies = tenancies;
        load.mix = "insert=40,update=40,email=10,delete=10";
        load.threads = threads;
        load.randomSeed = randomSeed;
        load.fixtureSeed = seed;
        load.synchronousCommit = "off";
        return load;
    }

    private void trigger(PostgresUrl internal, Path work) throws Exception {
        var pgbench = TriggerOverhead.findPgbench();
        if (pgbench.isEmpty()) {
            out.println("phase trigger: SKIPPED: pgbench not found (apt-get install -y postgresql-client, or set PGBENCH)");
            report.put("trigger", "trigger_overhead", "skipped", "pgbench not installed");
            return;
        }
        PostgresUrl base = internal.withDatabase(internal.database() + "_trig_base");
        PostgresUrl sync = internal.withDatabase(internal.database() + "_trig_sync");
        long t = System.nanoTime();
        for (PostgresUrl db : List.of(base, sync)) {
            dropDatabase(internal, db.database());
            createDatabase(internal, db.database(), false);
        }
        int seconds = triggerSeconds != null ? triggerSeconds : quick ? 2 : 3;
        int rounds = triggerRounds != null ? triggerRounds : quick ? 5 : 9;
        int tenancies = 10_000;
        TriggerOverhead overhead = new TriggerOverhead(pgbench.get(), base, sync, tenancies, rounds, seconds, 4, out);
        overhead.prepare();
        phaseDone("trigger", "two databases seeded with " + tenancies + " one-user tenancies each", t);
        t = System.nanoTime();
        List<TriggerOverhead.Ratio> ratios = overhead.measure(work);
        for (TriggerOverhead.Ratio r : ratios) {
            report.put("trigger", "trigger_tps_base_" + r.script(), r.baseTps(), "pgbench -c 4 -M prepared, synchronous_commit=off");
            report.put("trigger", "trigger_tps_sync_" + r.script(), r.syncTps(), null);
            String goal = switch (r.script()) {
                case "users", "teams" -> "; goal >= 0.85";
                case TriggerOverhead.UNMAPPED_SCRIPT -> "; goal >= 0.95";
                default -> "";
            };
            report.put("trigger", "trigger_ratio_" + r.script(), r.ratio(), String.format(Locale.ROOT,
                    "median of %d rounds of sync/base tps (means: %.2f%s)", rounds, r.syncTps() / r.baseTps(), goal));
            report.put("trigger", "trigger_cpu_ratio_" + r.script(), r.cpuRatio(),
                    "server CPU per transaction, base/sync (robust to a busy machine)");
            report.put("trigger", "trigger_entries_per_tx_" + r.script(), r.entriesPerTransaction(),
                    r.entriesWritten() + " change-log entries over " + r.syncTransactions() + " sync transactions");
        }
        ratios.stream().filter(r -> r.script().equals(TriggerOverhead.UNMAPPED_SCRIPT)).findFirst().ifPresent(r ->
                report.put("trigger", "trigger_entries_" + r.script(), r.entriesWritten(),
                        "an update of an unmapped column: nothing is synced (the run fails otherwise)"));
        report.put("trigger", "trigger_overhead", Report.format(1 - ratios.stream()
                .mapToDouble(TriggerOverhead.Ratio::ratio).min().orElse(Double.NaN)), "worst script: 1 - tps ratio");
        phaseDone("trigger", "pgbench " + rounds + " rounds x " + seconds + " s per side and script", t);
        for (PostgresUrl db : List.of(base, sync)) {
            dropDatabase(internal, db.database());
        }
    }

    private void closeQuietly() {
        Services services = startedServices;
        if (services != null) {
            services.close();
        }
        EmbeddedPostgres server = startedServer;
        if (server != null) {
            try {
                server.close();
            } catch (IOException e) {
                System.err.println("bench: embedded PostgreSQL did not stop cleanly: " + e.getMessage());
            }
        }
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private Fixture fixture(PostgresUrl internal, String seed) {
        Fixture fixture = new Fixture();
        fixture.internalUrl = internal.reactiveUri();
        fixture.seed = seed;
        fixture.batchSize = 10_000;
        fixture.hugeNumberBase = 10_000_000;
        return fixture;
    }

    /**
     * Waits until no change-log entry is unstamped and nothing is queued (for one tenancy, or anywhere); returns when
     * it first holds. The sequencer enqueues a tenancy in the transaction that stamps its entries, so "nothing
     * unstamped, nothing queued" means every change was delivered.
     */
    private void awaitQuiescent(PostgresUrl internal, UUID tenancy, Services services, Duration timeout, long since)
            throws Exception {
        String filter = tenancy == null ? "" : " AND \"tenancyId\" = '" + tenancy + "'";
        awaitNone(internal, PIPELINE_BUSY, filter, services, timeout, since, "pipeline not quiescent");
    }

    /**
     * True while an entry (of the tenancy filter {@code %1$s}, or any) is unstamped. Ordered by the partial index's
     * key rather than {@code EXISTS}, as the sequencer's idle probe: statistics analyzed before a phase's stamping
     * would otherwise make every poll scan the whole log, on the clock of the phase it measures.
     */
    private static final String ANY_UNSTAMPED = """
            (SELECT "tenancyId" FROM "SyncChange" WHERE "sequenceId" IS NULL%1$s ORDER BY "tenancyId" LIMIT 1) IS NOT NULL""";

    /** True while there is work for the pipeline; {@code %1$s} is a tenancy filter or empty. */
    private static final String PIPELINE_BUSY = "SELECT " + ANY_UNSTAMPED + """

                OR EXISTS (SELECT 1 FROM "OutgoingRequest" WHERE true%1$s)""";

    /**
     * Syncs, untimed, whatever earlier phases left for the pipeline (the copy phase's tenancy when the backfill phase
     * did not run: its million users would otherwise be stamped and applied on the next phase's clock), then pauses
     * the pipeline again.
     */
    private void settle(PostgresUrl internal, Services services, String phase) throws Exception {
        try (Connection c = Db.connect(internal.reactiveUri()); Statement st = c.createStatement();
                ResultSet rs = st.executeQuery(PIPELINE_BUSY.formatted(""))) {
            rs.next();
            if (!rs.getBoolean(1)) {
                return;
            }
        }
        long t = System.nanoTime();
        services.setPipelineEnabled(true);
        awaitQuiescent(internal, null, services, Duration.ofMinutes(quick ? 10 : 60), t);
        services.setPipelineEnabled(false);
        phaseDone(phase, "synced what earlier phases left first, untimed", t);
    }

    /** Waits until no change-log entry of the tenancy is unstamped (stamping done; the poller may be off). */
    private void awaitStamped(PostgresUrl internal, UUID tenancy, Services services, Duration timeout, long since)
            throws Exception {
        awaitNone(internal, "SELECT " + ANY_UNSTAMPED,
                " AND \"tenancyId\" = '" + tenancy + "'", services, timeout, since, "entries still unstamped");
    }

    /** The tenancy's unstamped change-log entries (what the stamp phase is about to stamp). */
    private static long unstampedEntries(PostgresUrl internal, UUID tenancy) throws SQLException {
        try (Connection c = Db.connect(internal.reactiveUri());
                PreparedStatement ps = c.prepareStatement(
                        "SELECT count(*) FROM \"SyncChange\" WHERE \"sequenceId\" IS NULL AND \"tenancyId\" = ?")) {
            ps.setObject(1, tenancy);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /**
     * Polls {@code existsSql} (its {@code %1$s} is the tenancy filter) every 100 ms until it answers false, printing
     * progress every 10 s; fails after {@code timeout} or when a service has died.
     */
    private void awaitNone(PostgresUrl internal, String existsSql, String filter, Services services, Duration timeout,
            long since, String failure) throws Exception {
        String sql = existsSql.formatted(filter);
        long deadline = System.nanoTime() + timeout.toNanos();
        long lastPrint = System.nanoTime();
        try (Connection c = Db.connect(internal.reactiveUri()); Statement st = c.createStatement()) {
            while (true) {
                try (ResultSet rs = st.executeQuery(sql)) {
                    rs.next();
                    if (!rs.getBoolean(1)) {
                        return;
                    }
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(failure + " after " + timeout.toMinutes() + " min");
                }
                services.checkAlive();
                if (System.nanoTime() - lastPrint > 10_000_000_000L) {
                    lastPrint = System.nanoTime();
                    out.printf(Locale.ROOT, "  ... %.0f s: %s%n", (lastPrint - since) / 1e9, progress(st, filter));
                }
                TimeUnit.MILLISECONDS.sleep(100);
            }
        }
    }

    private static String progress(Statement st, String filter) throws SQLException {
        try (ResultSet rs = st.executeQuery("""
                SELECT (SELECT count(*) FROM "SyncChange" WHERE "sequenceId" IS NULL%1$s),
                       (SELECT count(*) FROM "OutgoingRequest" WHERE true%1$s)""".formatted(filter))) {
            rs.next();
            return rs.getLong(1) + " change-log entries unstamped, " + rs.getLong(2) + " requests queued";
        }
    }

    private void expectCounts(PostgresUrl target, long users, long channels) throws Exception {
        try (Connection c = Db.connect(target.reactiveUri()); Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT (SELECT count(*) FROM \"users\"), (SELECT count(*) FROM \"contact_channels\")")) {
            rs.next();
            if (rs.getLong(1) != users || rs.getLong(2) != channels) {
                throw new IllegalStateException("target " + target.database() + "/" + target.params()
                        + " holds " + rs.getLong(1) + " users and " + rs.getLong(2) + " contact channels, expected "
                        + users + " and " + channels);
            }
        }
    }

    /**
     * Streams the lag tenancies' users (id, stamp) from both sides in the same order and counts every difference:
     * missing in the target, a stale stamp, or a user deleted internally but still in the target.
     */
    static long compareFinalState(PostgresUrl internal, PostgresUrl target, String seed) throws SQLException {
        String internalSql = """
                SELECT u."projectUserId"::text COLLATE "C" AS id, u."serverMetadata" ->> 'loadCommitMs'
                FROM "ProjectUser" u JOIN "Tenancy" t ON t."id" = u."tenancyId" JOIN "Project" p ON p."id" = t."projectId"
                WHERE p."displayName" LIKE 'load ' || ? || ':%' ORDER BY 1""";
        String targetSql = """
                SELECT "id"::text COLLATE "C" AS id, "server_metadata" ->> 'loadCommitMs' FROM "users" ORDER BY 1""";
        long differences = 0;
        try (Connection a = Db.connect(internal.reactiveUri()); Connection b = Db.connect(target.reactiveUri())) {
            a.setAutoCommit(false); // a cursor: stream, never load the table
            b.setAutoCommit(false);
            try (PreparedStatement pa = a.prepareStatement(internalSql); PreparedStatement pb = b.prepareStatement(targetSql)) {
                pa.setString(1, seed);
                pa.setFetchSize(5000);
                pb.setFetchSize(5000);
                try (ResultSet ra = pa.executeQuery(); ResultSet rb = pb.executeQuery()) {
                    boolean hasA = ra.next();
                    boolean hasB = rb.next();
                    while (hasA || hasB) {
                        int cmp = !hasA ? 1 : !hasB ? -1 : ra.getString(1).compareTo(rb.getString(1));
                        if (cmp == 0) {
                            if (!java.util.Objects.equals(ra.getString(2), rb.getString(2))) {
                                differences++;
                            }
                            hasA = ra.next();
                            hasB = rb.next();
                        } else if (cmp < 0) {
                            differences++; // internal user missing in the target
                            hasA = ra.next();
                        } else {
                            differences++; // target user that no longer exists internally
                            hasB = rb.next();
                        }
                    }
                }
            }
        }
        return differences;
    }

    private static UUID hugeTenancyId(PostgresUrl internal, String seed, long number) throws SQLException {
        try (Connection c = Db.connect(internal.reactiveUri());
                PreparedStatement ps = c.prepareStatement("SELECT md5(? || ':h:' || ? || ':t')::uuid")) {
            ps.setString(1, seed);
            ps.setLong(2, number);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getObject(1, UUID.class);
            }
        }
    }

    /**
     * A fresh, empty database {@code <target>_<phase>} on the target's server (dropped first if a previous run left
     * it). One database per phase, not one schema: the engine keys a target's bootstrapped schema by database.
     */
    static PostgresUrl resetDatabase(PostgresUrl target, String phase) throws SQLException {
        String name = target.database() + "_" + phase;
        dropDatabase(target, name);
        createDatabase(target, name, false);
        return target.withDatabase(name);
    }

    private static void createDatabase(PostgresUrl server, String name, boolean ifMissing) throws SQLException {
        try (Connection c = Db.connect(server.withDatabase("postgres").reactiveUri()); Statement st = c.createStatement()) {
            if (ifMissing) {
                try (ResultSet rs = st.executeQuery("SELECT 1 FROM pg_database WHERE datname = '" + name.replace("'", "''") + "'")) {
                    if (rs.next()) {
                        return;
                    }
                }
            }
            st.execute("CREATE DATABASE " + Identifiers.quote(name));
        }
    }

    private static void dropDatabase(PostgresUrl server, String name) throws SQLException {
        try (Connection c = Db.connect(server.withDatabase("postgres").reactiveUri()); Statement st = c.createStatement()) {
            st.execute("DROP DATABASE IF EXISTS " + Identifiers.quote(name) + " WITH (FORCE)");
        }
    }

    private static String serverVersion(PostgresUrl db) throws SQLException {
        try (Connection c = Db.connect(db.withDatabase("postgres").reactiveUri()); Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SHOW server_version")) {
            rs.next();
            return rs.getString(1).split(" ")[0];
        }
    }

    static PGSimpleDataSource dataSource(PostgresUrl url) {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(url.jdbcUrl());
        ds.setUser(url.user());
        ds.setPassword(url.password());
        return ds;
    }

    private void machineFacts() {
        report.put("machine", "nproc", Runtime.getRuntime().availableProcessors(), null);
        report.put("machine", "mem_total_gb", memTotalKib() / 1024.0 / 1024.0, "/proc/meminfo MemTotal");
        report.put("machine", "load_average_start", loadAverage(), "1-minute load average (other work on this machine)");
        report.put("machine", "git_commit", gitCommit(), null);
        report.put("machine", "java", System.getProperty("java.version"), null);
        report.put("machine", "mode", quick ? "quick" : "full", null);
        out.printf("bench: %s mode, %d cpus, %.1f GB, load average %s, commit %s%n", quick ? "quick" : "full",
                Runtime.getRuntime().availableProcessors(), memTotalKib() / 1024.0 / 1024.0, loadAverage(), gitCommit());
    }

    private static long memTotalKib() {
        try {
            return ProcStatus.parseField(Files.readString(Path.of("/proc/meminfo")), "MemTotal").orElse(0);
        } catch (IOException e) {
            return 0;
        }
    }

    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
        } catch (IOException e) {
            return "n/a";
        }
    }

    private String gitCommit() {
        try {
            Process p = new ProcessBuilder("git", "-C", repoRoot.toString(), "rev-parse", "--short", "HEAD")
                    .redirectErrorStream(true).start();
            String commit = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (p.waitFor() != 0) {
                return "unknown";
            }
            Process s = new ProcessBuilder("git", "-C", repoRoot.toString(), "status", "--porcelain", "--untracked-files=no")
                    .redirectErrorStream(true).start();
            boolean dirty = !new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8).isBlank();
            s.waitFor();
            return commit + (dirty ? "+dirty" : "");
        } catch (IOException e) {
            return "unknown";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "unknown";
        }
    }

    private PrintStream indented() {
        return new PrintStream(new java.io.OutputStream() {
            private boolean lineStart = true;

            @Override
            public void write(int b) {
                if (lineStart) {
                    out.print("  ");
                }
                out.write(b);
                lineStart = b == '\n';
            }
        }, true, StandardCharsets.UTF_8);
    }

    /** A service's module name as report keys name it: {@code sync-engine-service} → {@code engine}. */
    private static String shortName(String module) {
        return module.replace("-service", "").replace("sync-", "");
    }

    private void phaseDone(String phase, String what, long startedNanos) {
        out.printf(Locale.ROOT, "phase %s: %s (%.1f s; %.0f s into the run; load %s)%n", phase, what,
                (System.nanoTime() - startedNanos) / 1e9, (System.nanoTime() - runStarted) / 1e9, loadAverage());
    }

    /** For tests: where the output goes. */
    void output(PrintStream stream) {
        this.out = stream;
    }

    Report report() {
        return report;
    }
}
