package dev.externaldbsync.load;

import dev.externaldbsync.config.TenancyDirectory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;

/**
 * Sustained, rate-limited mixed writes against existing tenancies. Each change is one auto-committed statement
 * that stamps {@code "ProjectUser"."serverMetadata"->'loadCommitMs'} with the server's wall clock in epoch
 * milliseconds ({@code clock_timestamp()}, taken inside the committing statement), so a reader of the target's
 * {@code users} table can compute commit → visible lag. Deletes carry no stamp (the row is gone).
 * Open-loop schedule: change k is due at start + k/rate; workers park until it is due, never spin. The run ends
 * at {@code --duration}; changes still due then are dropped (counted as {@code missed}), so run time is bounded.
 * Not reusable: one instance per run.
 */
@Command(name = "write-load", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
                "Sustained mixed writes at --rate changes/s for --duration across --tenancies existing tenancies",
                "(those with a dbSync target first, by id). Each insert/update/email change stamps",
                "ProjectUser.serverMetadata.loadCommitMs = server wall-clock epoch ms of the committing statement."})
public final class WriteLoad implements Callable<Integer> {

    /** The metadata key carrying the commit time (epoch ms) of the last load write to a user. */
    public static final String STAMP_KEY = "loadCommitMs";

    /** The kinds of change. */
    public enum Op { INSERT, UPDATE, EMAIL, DELETE }

    @Option(names = "--internal-url", defaultValue = "${env:INTERNAL_DATABASE_URL}",
            description = "Internal database connection string. Default: env INTERNAL_DATABASE_URL.")
    String internalUrl;

    @Option(names = "--rate", defaultValue = "200", description = "Changes per second. Default: ${DEFAULT-VALUE}.")
    double rate;

    @Option(names = "--duration", defaultValue = "20s", converter = Db.DurationConverter.class,
            description = "Run time (500ms, 20s, 5m, PT1M). Default: ${DEFAULT-VALUE}.")
    Duration duration;

    @Option(names = "--tenancies", defaultValue = "100",
            description = "How many existing tenancies to write to. Default: ${DEFAULT-VALUE}.")
    int tenancies;

    @Option(names = "--mix", defaultValue = "insert=40,update=40,email=10,delete=10",
            description = "Weights of insert (user + primary email), update (name + metadata), email (primary email "
                    + "value) and delete (user). Default: ${DEFAULT-VALUE}.")
    String mix;

    @Option(names = "--threads", defaultValue = "8",
            description = "Writer threads, one connection each; needs about rate x p99 write latency. Default: ${DEFAULT-VALUE}.")
    int threads;

    @Option(names = "--random-seed", defaultValue = "1",
            description = "Seed of the choice of operations, tenancies and users (new ids are always fresh). Default: ${DEFAULT-VALUE}.")
    long randomSeed;

    @Option(names = "--fixture-seed", paramLabel = "SEED",
            description = "Only tenancies that `fixture --seed SEED` created (default: any tenancy).")
    String fixtureSeed;

    @Option(names = "--synchronous-commit", paramLabel = "on|off|local",
            description = "synchronous_commit of the writers' sessions (default: the server's setting).")
    String synchronousCommit;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** The outcome of a run. {@code noops} are changes that found no row to change (e.g. an emptied tenancy). */
    public record Result(long done, long errors, long noops, long missed, Map<Op, Long> perOp,
            Map<Op, Long> noopsPerOp, double elapsedSeconds,
            double achievedRate, double p50Ms, double p99Ms, double maxMs) {
    }

    private record Tenancy(UUID id, String projectId, String branchId) {
    }

    @Override
    public Integer call() throws Exception {
        if (internalUrl == null || internalUrl.isBlank()) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--internal-url (or env INTERNAL_DATABASE_URL) is required");
        }
        Result r = run(System.out);
        PrintStream out = System.out;
        out.printf(Locale.ROOT, "target_rate=%.1f%nachieved_rate=%.1f%ndone=%d%nerrors=%d%nnoops=%d%nmissed=%d%n",
                rate, r.achievedRate(), r.done(), r.errors(), r.noops(), r.missed());
        r.perOp().forEach((op, n) -> out.printf("op_%s=%d%n", op.name().toLowerCase(Locale.ROOT), n));
        out.printf(Locale.ROOT, "write_latency_ms_p50=%.2f%nwrite_latency_ms_p99=%.2f%nwrite_latency_ms_max=%.2f%n"
                + "elapsed_s=%.2f%nstamp_key=serverMetadata.%s%n", r.p50Ms(), r.p99Ms(), r.maxMs(),
                r.elapsedSeconds(), STAMP_KEY);
        return r.errors() == 0 ? 0 : 1;
    }

    static Map<Op, Integer> parseMix(String text) {
        Map<Op, Integer> weights = new EnumMap<>(Op.class);
        for (String part : text.split(",")) {
            String[] kv = part.strip().split("=");
            if (kv.length != 2) {
                throw new IllegalArgumentException("--mix entries look like insert=40: " + part);
            }
            int w = Integer.parseInt(kv[1].strip());
            if (w < 0) {
                throw new IllegalArgumentException("--mix weights must be >= 0: " + part);
            }
            weights.put(Op.valueOf(kv[0].strip().toUpperCase(Locale.ROOT)), w);
        }
        if (weights.values().stream().mapToInt(Integer::intValue).sum() <= 0) {
            throw new IllegalArgumentException("--mix needs a positive weight");
        }
        return weights;
    }

    Result run(PrintStream out) throws Exception {
        if (rate <= 0 || threads < 1 || tenancies < 1 || duration.isNegative() || duration.isZero()) {
            throw new IllegalArgumentException("--rate, --duration, --threads and --tenancies must be positive");
        }
        Map<Op, Integer> weights = parseMix(mix);
        Op[] table = weightTable(weights);
        List<Tenancy> chosen = chooseTenancies();
        if (chosen.isEmpty()) {
            throw new IllegalStateException("no tenancies in the internal database; run fixture first");
        }
        out.printf("write-load: %d tenancies, %.1f changes/s for %s, %d threads, mix %s%n", chosen.size(), rate,
                duration, threads, weights);

        AtomicLong nextTicket = new AtomicLong();
        AtomicLong done = new AtomicLong();
        AtomicLong errors = new AtomicLong();
        AtomicLong noops = new AtomicLong();
        AtomicLongArray perOp = new AtomicLongArray(Op.values().length);
        AtomicLongArray noopsPerOp = new AtomicLongArray(Op.values().length);
        LatencyHistogram latencies = new LatencyHistogram();
        long intervalNanos = (long) (1e9 / rate);
        // Every worker connected and prepared before the clock starts: connecting is not a write, and a schedule
        // started earlier would open with a backlog that reads as commit latency.
        List<Connection> connections = new ArrayList<>();
        List<Writer> writers = new ArrayList<>();
        try {
            for (int t = 0; t < threads; t++) {
                Connection c = Db.connect(internalUrl);
                connections.add(c);
                c.setAutoCommit(true);
                if (synchronousCommit != null) {
                    try (PreparedStatement set = c.prepareStatement("SELECT set_config('synchronous_commit', ?, false)")) {
                        set.setString(1, synchronousCommit);
                        set.execute();
                    }
                }
                writers.add(new Writer(c));
            }
        } catch (SQLException | RuntimeException e) {
            for (Connection c : connections) {
                c.close();
            }
            throw e;
        }
        long start = System.nanoTime() + 5_000_000L; // every thread started and parked before the first change is due
        long end = start + duration.toNanos();
        List<Thread> workers = new ArrayList<>();
        List<Exception> fatal = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int t = 0; t < threads; t++) {
            SplittableRandom random = new SplittableRandom(randomSeed * 1_000_003L + t);
            Connection c = connections.get(t);
            Writer writer = writers.get(t);
            Thread thread = new Thread(() -> {
                try (c) {
                    while (true) {
                        long ticket = nextTicket.getAndIncrement();
                        long due = start + ticket * intervalNanos;
                        if (due >= end) {
                            return;
                        }
                        long wait = due - System.nanoTime();
                        if (wait > 0) {
                            LockSupport.parkNanos(wait);
                            continue_waiting(due);
                        } else if (System.nanoTime() >= end) {
                            // Behind schedule at the end: drop what is left instead of overrunning the duration.
                            nextTicket.set(Long.MAX_VALUE / 2);
                            return;
                        }
                        Op op = table[random.nextInt(table.length)];
                        Tenancy tenancy = chosen.get(random.nextInt(chosen.size()));
                        long began = System.nanoTime();
                        try {
                            int rows = writer.applyRetrying(op, tenancy, random);
                            latencies.record(System.nanoTime() - began);
                            done.incrementAndGet();
                            perOp.incrementAndGet(op.ordinal());
                            if (rows == 0) {
                                noops.incrementAndGet();
                                noopsPerOp.incrementAndGet(op.ordinal());
                            }
                        } catch (SQLException e) {
                            errors.incrementAndGet();
                            if (errors.get() <= 5) {
                                System.err.println("write-load: " + op + " failed: " + e.getMessage());
                            }
                        }
                    }
                } catch (SQLException e) {
                    fatal.add(e);
                }
            }, "write-load-" + t);
            workers.add(thread);
        }
        workers.forEach(Thread::start);
        for (Thread w : workers) {
            w.join();
        }
        long finished = System.nanoTime();
        if (!fatal.isEmpty()) {
            throw fatal.get(0);
        }
        Map<Op, Long> counts = new LinkedHashMap<>();
        Map<Op, Long> noopCounts = new LinkedHashMap<>();
        for (Op op : Op.values()) {
            counts.put(op, perOp.get(op.ordinal()));
            noopCounts.put(op, noopsPerOp.get(op.ordinal()));
        }
        double elapsed = Math.max(1, finished - start) / 1e9;
        long scheduled = (duration.toNanos() + intervalNanos - 1) / intervalNanos;
        long missed = Math.max(0, scheduled - done.get() - errors.get());
        return new Result(done.get(), errors.get(), noops.get(), missed, counts, noopCounts, elapsed,
                done.get() / (duration.toNanos() / 1e9), latencies.percentileMs(0.50), latencies.percentileMs(0.99),
                latencies.percentileMs(1.0));
    }

    /** parkNanos may return early (spurious wake-up); park again until the change is due. */
    private static void continue_waiting(long due) {
        long wait;
        while ((wait = due - System.nanoTime()) > 0) {
            LockSupport.parkNanos(wait);
        }
    }

    private static Op[] weightTable(Map<Op, Integer> weights) {
        List<Op> ops = new ArrayList<>();
        weights.forEach((op, w) -> {
            for (int i = 0; i < w; i++) {
                ops.add(op);
            }
        });
        return ops.toArray(Op[]::new);
    }

    private List<Tenancy> chooseTenancies() throws SQLException {
        // Tenancies with a configured target first: writes elsewhere would never reach a target.
        String sql = TenancyDirectory.ENTRY_COLUMNS + TenancyDirectory.FROM_TENANCIES + """
                JOIN "Project" pr ON pr."id" = t."projectId"
                WHERE ?::text IS NULL OR pr."displayName" LIKE 'load ' || ? || ':%'
                ORDER BY (e."config" -> 'dbSync' -> 'externalDatabases') IS NULL, t."id"
                LIMIT ?""";
        List<Tenancy> result = new ArrayList<>();
        try (Connection c = Db.connect(internalUrl); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, fixtureSeed);
            ps.setString(2, fixtureSeed);
            ps.setInt(3, tenancies);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    TenancyDirectory.Entry entry = TenancyDirectory.entry(rs);
                    result.add(new Tenancy(entry.tenancyId(), entry.projectId(), entry.branchId()));
                }
            }
        }
        return result;
    }

    /** One connection's prepared statements. Not thread-safe: one per worker thread. */
    private static final class Writer {
        private static final String STAMP = "jsonb_build_object('" + STAMP_KEY
                + "', (extract(epoch FROM clock_timestamp()) * 1000)::bigint)";
        // A random user of the tenancy: the first id at or after a random uuid, wrapping to the smallest.
        private static final String PICK = """
                (SELECT "projectUserId" FROM (
                    (SELECT "projectUserId" FROM "ProjectUser" WHERE "tenancyId" = ? AND "projectUserId" >= ?
                     ORDER BY "projectUserId" LIMIT 1)
                    UNION ALL
                    (SELECT "projectUserId" FROM "ProjectUser" WHERE "tenancyId" = ? ORDER BY "projectUserId" LIMIT 1)
                 ) p LIMIT 1)""";

        private final PreparedStatement insert;
        private final PreparedStatement update;
        private final PreparedStatement email;
        private final PreparedStatement delete;

        Writer(Connection c) throws SQLException {
            insert = c.prepareStatement("""
                    WITH u AS (
                        INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                                   "projectId", "updatedAt", "displayName", "serverMetadata")
                        VALUES (?, ?, ?, ?, ?, now(), ?, %s)
                        RETURNING "tenancyId", "projectUserId")
                    INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                                                  "isVerified", "value", "usedForAuth")
                    SELECT "tenancyId", "projectUserId", ?, now(), 'EMAIL', 'TRUE', false, ?, 'TRUE' FROM u"""
                    .formatted(STAMP));
            update = c.prepareStatement("""
                    UPDATE "ProjectUser"
                    SET "displayName" = ?, "updatedAt" = now(),
                        "serverMetadata" = coalesce("serverMetadata", '{}'::jsonb) || %s
                    WHERE "tenancyId" = ? AND "projectUserId" = %s""".formatted(STAMP, PICK));
            email = c.prepareStatement("""
                    WITH target AS (SELECT ?::uuid AS tid, %s AS uid),
                    c AS (
                        UPDATE "ContactChannel" ch SET "value" = ?, "updatedAt" = now()
                        FROM target
                        WHERE ch."tenancyId" = target.tid AND ch."projectUserId" = target.uid AND ch."isPrimary" = 'TRUE'
                        RETURNING ch."projectUserId")
                    UPDATE "ProjectUser" u
                    SET "updatedAt" = now(), "serverMetadata" = coalesce(u."serverMetadata", '{}'::jsonb) || %s
                    FROM target
                    WHERE u."tenancyId" = target.tid AND u."projectUserId" = target.uid""".formatted(PICK, STAMP));
            delete = c.prepareStatement("""
                    DELETE FROM "ProjectUser" WHERE "tenancyId" = ? AND "projectUserId" = %s""".formatted(PICK));
        }

        /** Two writers may pick the same user and lock its rows in opposite order: retry the deadlock victim. */
        int applyRetrying(Op op, Tenancy t, SplittableRandom random) throws SQLException {
            for (int attempt = 1; ; attempt++) {
                try {
                    return apply(op, t, random);
                } catch (SQLException e) {
                    boolean retryable = "40P01".equals(e.getSQLState()) || "40001".equals(e.getSQLState());
                    if (!retryable || attempt >= 3) {
                        throw e;
                    }
                }
            }
        }

        int apply(Op op, Tenancy t, SplittableRandom random) throws SQLException {
            UUID probe = new UUID(random.nextLong(), random.nextLong());
            switch (op) {
                case INSERT -> {
                    // New ids and values come from an unseeded source: a re-run with the same --random-seed
                    // must not collide with the rows the previous run inserted.
                    java.util.concurrent.ThreadLocalRandom fresh = java.util.concurrent.ThreadLocalRandom.current();
                    UUID user = new UUID(fresh.nextLong(), fresh.nextLong());
                    insert.setObject(1, t.id());
                    insert.setObject(2, user);
                    insert.setString(3, t.projectId());
                    insert.setString(4, t.branchId());
                    insert.setString(5, t.projectId());
                    insert.setString(6, "Load user " + Long.toHexString(user.getMostSignificantBits()));
                    insert.setObject(7, new UUID(fresh.nextLong(), fresh.nextLong()));
                    insert.setString(8, "load-" + user + "@load.example.com");
                    return insert.executeUpdate();
                }
                case UPDATE -> {
                    update.setString(1, "Renamed " + Long.toHexString(System.nanoTime()));
                    update.setObject(2, t.id());
                    setPick(update, 3, t, probe);
                    return update.executeUpdate();
                }
                case EMAIL -> {
                    email.setObject(1, t.id());
                    setPick(email, 2, t, probe);
                    email.setString(5, "changed-" + UUID.randomUUID() + "@load.example.com");
                    return email.executeUpdate();
                }
                case DELETE -> {
                    delete.setObject(1, t.id());
                    setPick(delete, 2, t, probe);
                    return delete.executeUpdate();
                }
                default -> throw new IllegalStateException(op.name());
            }
        }

        private static void setPick(PreparedStatement ps, int first, Tenancy t, UUID probe) throws SQLException {
            ps.setObject(first, t.id());
            ps.setObject(first + 1, probe);
            ps.setObject(first + 2, t.id());
        }
    }

    /**
     * Lock-free log-bucket histogram of latencies: 2% relative precision from 1 µs to hours, fixed memory.
     * Thread-safe.
     */
    static final class LatencyHistogram {
        private static final double BASE = 1.02;
        private static final int BUCKETS = 1400;
        private final AtomicLongArray counts = new AtomicLongArray(BUCKETS);
        private final AtomicLong total = new AtomicLong();

        void record(long nanos) {
            double micros = Math.max(1.0, nanos / 1000.0);
            int bucket = (int) Math.min(BUCKETS - 1, Math.floor(Math.log(micros) / Math.log(BASE)));
            counts.incrementAndGet(bucket);
            total.incrementAndGet();
        }

        /** The upper bound of the bucket holding the q-quantile, in ms; 0 when nothing was recorded. */
        double percentileMs(double q) {
            long n = total.get();
            if (n == 0) {
                return 0;
            }
            long rank = Math.max(1, (long) Math.ceil(q * n));
            long seen = 0;
            for (int i = 0; i < BUCKETS; i++) {
                seen += counts.get(i);
                if (seen >= rank) {
                    return Math.pow(BASE, i + 1) / 1000.0;
                }
            }
            return Math.pow(BASE, BUCKETS) / 1000.0;
        }
    }
}
