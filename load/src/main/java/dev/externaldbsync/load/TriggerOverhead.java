package dev.externaldbsync.load;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writer throughput with the sync layer divided by without it, measured with {@code pgbench} on two databases of the
 * same server: one with the base (Stack Auth) tables only, one with base tables and the sync layer. Both are seeded
 * with the same one-user tenancies by {@link Fixture} (the sync one's change log then stamped and compacted, as the
 * sequencer would leave it).
 * After a one-second warm-up per side, rounds alternate base/sync back to back so that a noisy neighbour hits both
 * sides alike; the ratio is the median over rounds of sync tps / base tps. When the server runs on this machine, the
 * server CPU per transaction (the backends' CPU, reaped by the postmaster) gives a second ratio, base CPU / sync CPU
 * per transaction, which a busy neighbour disturbs far less than throughput. Four scripts, each a Stack-shaped writer:
 * <ul>
 * <li>{@code users}: a sign-up (user + primary email channel in one transaction), then a display-name update;</li>
 * <li>{@code teams}: a team created and the tenancy's user added as its member, in one transaction;</li>
 * <li>{@code lastactive}: the activity bump, an update of {@code "ProjectUser"."lastActiveAt"}, a column no mapping
 * reads: it must write no change-log entry (checked by counting the sync side's entries around its runs);</li>
 * <li>{@code signin}: a sign-in, a refresh token inserted for the tenancy's user and that user's activity bumped, in
 * one transaction.</li>
 * </ul>
 * Sessions run with {@code synchronous_commit=off}: with a WAL flush per commit the disk, not the triggers, would
 * bound both sides and hide the overhead. Not thread-safe; one instance per measurement.
 */
final class TriggerOverhead {

    /**
     * One script's outcome. {@code entriesWritten} is how many change-log entries the sync side gained over all of the
     * script's sync runs (warm-up included), {@code syncTransactions} how many transactions those runs committed.
     */
    record Ratio(String script, double baseTps, double syncTps, double medianRoundRatio, double cpuRatio,
            long entriesWritten, long syncTransactions) {
        /** The median over rounds of sync tps / base tps: on a shared machine one burst skews a mean. */
        double ratio() {
            return medianRoundRatio;
        }

        double entriesPerTransaction() {
            return syncTransactions == 0 ? Double.NaN : (double) entriesWritten / syncTransactions;
        }
    }

    /** The script that updates only a column no mapping reads: it must write no change-log entry at all. */
    static final String UNMAPPED_SCRIPT = "lastactive";

    private static final Pattern TPS = Pattern.compile("tps = ([0-9.]+)");
    private static final Pattern TRANSACTIONS = Pattern.compile("number of transactions actually processed: ([0-9]+)");

    /** One pgbench run: its throughput and, when the server is local, the server CPU it cost. */
    private record Run(double tps, long transactions, long serverCpuTicks) {
    }

    private long postmasterPid = -1;

    static final String SEED = "pgbench";

    private final String pgbench;
    private final PostgresUrl base;
    private final PostgresUrl sync;
    private final int tenancies;
    private final int rounds;
    private final int secondsPerRun;
    private final int clients;
    private final PrintStream out;

    TriggerOverhead(String pgbench, PostgresUrl base, PostgresUrl sync, int tenancies, int rounds, int secondsPerRun,
            int clients, PrintStream out) {
        this.pgbench = pgbench;
        this.base = base;
        this.sync = sync;
        this.tenancies = tenancies;
        this.rounds = rounds;
        this.secondsPerRun = secondsPerRun;
        this.clients = clients;
        this.out = out;
    }

    /** {@code pgbench} from PATH (or {@code PGBENCH}), if installed. */
    static Optional<String> findPgbench() {
        String explicit = System.getenv("PGBENCH");
        if (explicit != null && !explicit.isBlank() && Files.isExecutable(Path.of(explicit))) {
            return Optional.of(explicit);
        }
        String path = System.getenv("PATH");
        for (String dir : (path == null ? "" : path).split(":")) {
            Path candidate = Path.of(dir.isEmpty() ? "." : dir, "pgbench");
            if (Files.isExecutable(candidate)) {
                return Optional.of(candidate.toString());
            }
        }
        return Optional.empty();
    }

    /** Creates both databases' schemas and seeds them; the databases must exist and be empty. */
    void prepare() throws Exception {
        applyBaseTablesOnly(base);
        SchemaMigrations.migrate(Bench.dataSource(sync), MigrateMode.ALL);
        for (PostgresUrl db : List.of(base, sync)) {
            Fixture fixture = new Fixture();
            fixture.internalUrl = db.reactiveUri();
            fixture.smallTenancies = tenancies;
            fixture.targetUrl = "postgresql://bench:unused@localhost:1/unused";
            fixture.seed = SEED;
            fixture.batchSize = 10_000;
            fixture.hugeNumberBase = 10_000_000;
            fixture.run(new PrintStream(PrintStream.nullOutputStream()));
        }
        try (Connection c = Db.connect(sync.reactiveUri()); Statement st = c.createStatement()) {
            // What the sequencer leaves behind: every change-log entry stamped (the unstamped index empty) and only
            // each key's newest entry kept (its compaction). Source rows are never stamped.
            st.execute("""
                    UPDATE "SyncChange" SET "sequenceId" = nextval('global_seq_id') WHERE "sequenceId" IS NULL""");
            st.execute("""
                    DELETE FROM "SyncChange" AS older USING "SyncChange" AS newer
                    WHERE newer."tenancyId" = older."tenancyId" AND newer."tableName" = older."tableName"
                      AND newer."primaryKey" = older."primaryKey" AND newer."sequenceId" > older."sequenceId"
                    """);
            st.execute("DELETE FROM \"OutgoingRequest\"");
            String experiment = System.getenv("BENCH_TRIGGER_SYNC_SQL");
            if (experiment != null && !experiment.isBlank()) {
                st.execute(experiment);
            }
        }
        for (PostgresUrl db : List.of(base, sync)) {
            try (Connection c = Db.connect(db.reactiveUri()); Statement st = c.createStatement()) {
                st.execute("VACUUM ANALYZE");
            }
        }
    }

    /** The db/internal migrations alone: the Stack Auth tables as an installation without the sync layer has them. */
    static void applyBaseTablesOnly(PostgresUrl db) throws IOException, SQLException {
        try (Connection c = Db.connect(db.reactiveUri()); Statement st = c.createStatement()) {
            for (String file : resource("db/internal/migrations.idx").split("\n")) {
                if (!file.isBlank()) {
                    st.execute(resource("db/internal/" + file.strip()));
                }
            }
        }
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = TriggerOverhead.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException("missing classpath resource " + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** Runs every script; every run prints its tps as it goes. */
    List<Ratio> measure(Path workDir) throws Exception {
        List<Ratio> ratios = new ArrayList<>();
        for (Map.Entry<String, String> script : scripts().entrySet()) {
            Path file = workDir.resolve(script.getKey() + ".sql");
            Files.writeString(file, script.getValue());
            postmasterPid = postmasterPid(base);
            long entriesBefore = changeLogEntries();
            run(base, file, 1); // warm-up, not counted: cold caches and the first autovacuum favour neither side
            long syncTx = run(sync, file, 1).transactions();
            double[] perRound = new double[rounds];
            double baseSum = 0;
            double syncSum = 0;
            long[] cpu = new long[2]; // base, sync: server CPU ticks
            long[] tx = new long[2];
            for (int round = 1; round <= rounds; round++) {
                // Alternate which side goes first, so that a neighbour's burst does not favour one side.
                boolean baseFirst = round % 2 == 1;
                Run first = run(baseFirst ? base : sync, file, secondsPerRun);
                Run second = run(baseFirst ? sync : base, file, secondsPerRun);
                Run br = baseFirst ? first : second;
                Run sr = baseFirst ? second : first;
                double b = br.tps();
                double s = sr.tps();
                cpu[0] += br.serverCpuTicks();
                cpu[1] += sr.serverCpuTicks();
                tx[0] += br.transactions();
                tx[1] += sr.transactions();
                syncTx += sr.transactions();
                baseSum += b;
                syncSum += s;
                perRound[round - 1] = s / b;
                out.printf(Locale.ROOT, "  trigger %s round %d: base %.0f tps, sync %.0f tps (%.2f)%n", script.getKey(),
                        round, b, s, s / b);
            }
            long entries = changeLogEntries() - entriesBefore;
            out.printf(Locale.ROOT, "  trigger %s: %d change-log entries for %d sync transactions%n", script.getKey(),
                    entries, syncTx);
            if (script.getKey().equals(UNMAPPED_SCRIPT) && entries != 0) {
                throw new IllegalStateException("the " + UNMAPPED_SCRIPT + " script updates only a column no mapping "
                        + "reads, yet wrote " + entries + " change-log entries: it must sync nothing");
            }
            ratios.add(new Ratio(script.getKey(), baseSum / rounds, syncSum / rounds,
                    new Percentiles(perRound, rounds).percentile(50),
                    postmasterPid < 0 || cpu[0] <= 0 || cpu[1] <= 0 ? Double.NaN
                            : ((double) cpu[0] / tx[0]) / ((double) cpu[1] / tx[1]),
                    entries, syncTx));
        }
        return ratios;
    }

    /** Entries in the sync side's change log; nothing stamps or compacts them while the bench runs. */
    long changeLogEntries() throws SQLException {
        try (Connection c = Db.connect(sync.reactiveUri()); Statement st = c.createStatement();
                java.sql.ResultSet rs = st.executeQuery("SELECT count(*) FROM \"SyncChange\"")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** The server's postmaster, when it runs on this machine (the parent of our backend); else -1. */
    private static long postmasterPid(PostgresUrl db) throws SQLException {
        try (Connection c = Db.connect(db.reactiveUri()); Statement st = c.createStatement();
                java.sql.ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            long backend = rs.getLong(1);
            String host = db.host();
            boolean local = host.equals("localhost") || host.startsWith("127.") || host.equals("::1");
            return local ? ProcStatus.parentPid(backend).orElse(-1) : -1;
        }
    }

    private long reapedCpu() {
        return postmasterPid < 0 ? 0 : ProcStatus.reapedChildrenCpuTicks(postmasterPid).orElse(0);
    }

    private Run run(PostgresUrl db, Path script, int seconds) throws IOException, InterruptedException {
        long cpuBefore = reapedCpu();
        List<String> command = List.of(pgbench, "-n", "-M", "prepared", "-c", Integer.toString(clients), "-j",
                Integer.toString(Math.max(1, clients / 2)), "-T", Integer.toString(seconds),
                "-D", "tenancies=" + tenancies, "-f", script.toString(),
                "-h", db.host(), "-p", Integer.toString(db.port()), "-U", db.user(), db.database());
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        if (db.password() != null) {
            builder.environment().put("PGPASSWORD", db.password()); // never on the command line (ps would show it)
        }
        builder.environment().put("PGOPTIONS", "-c synchronous_commit=off");
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(seconds + 60L, TimeUnit.SECONDS) || process.exitValue() != 0) {
            process.destroyForcibly();
            throw new IllegalStateException("pgbench failed on " + db.database() + ":\n" + output);
        }
        Matcher m = TPS.matcher(output);
        Matcher n = TRANSACTIONS.matcher(output);
        if (!m.find() || !n.find()) {
            throw new IllegalStateException("no tps in pgbench output:\n" + output);
        }
        // pgbench's backends have exited; give the postmaster a moment to reap them so their CPU is counted.
        long cpu = reapedCpu();
        for (int i = 0; i < 20 && postmasterPid >= 0; i++) {
            TimeUnit.MILLISECONDS.sleep(50);
            long now = reapedCpu();
            if (now == cpu && i >= 2) {
                break;
            }
            cpu = now;
        }
        return new Run(Double.parseDouble(m.group(1)), Long.parseLong(n.group(1)), cpu - cpuBefore);
    }

    /**
     * The scripts. pgbench replaces every {@code :name} with a parameter, even inside quotes, so the fixture's keys
     * ({@code seed:s:n:t}) are spelled with {@code chr(58)}.
     */
    static Map<String, String> scripts() {
        String key = "concat('" + SEED + "', chr(58), 's', chr(58), :t::int, chr(58), '%s')";
        String ids = """
                \\set t random(1, :tenancies)
                SELECT gen_random_uuid() AS u, gen_random_uuid() AS team, md5(%s)::uuid AS tid,
                       md5(%s)::uuid::text AS pid, md5(concat(%s, chr(58), 'u', chr(58), '1'))::uuid AS uid \\gset
                """.formatted(key.formatted("t"), key.formatted("p"),
                "concat('" + SEED + "', chr(58), 's', chr(58), :t::int)");
        String users = ids + """
                BEGIN;
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId", "projectId", "updatedAt", "displayName", "clientMetadata") VALUES (:tid, :u, :pid, 'main', :pid, now(), NULL, '{}');
                INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary", "isVerified", "value", "usedForAuth") VALUES (:tid, :u, gen_random_uuid(), now(), 'EMAIL', 'TRUE', false, concat(:u::text, '@bench.example.com'), 'TRUE');
                COMMIT;
                UPDATE "ProjectUser" SET "displayName" = 'Signed-up user', "updatedAt" = now() WHERE "tenancyId" = :tid AND "projectUserId" = :u;
                """;
        String teams = ids + """
                BEGIN;
                INSERT INTO "Team" ("tenancyId", "teamId", "mirroredProjectId", "mirroredBranchId", "updatedAt", "displayName") VALUES (:tid, :team, :pid, 'main', now(), 'Bench team');
                INSERT INTO "TeamMember" ("tenancyId", "projectUserId", "teamId", "updatedAt") VALUES (:tid, :uid, :team, now());
                COMMIT;
                """;
        String lastActive = ids + """
                UPDATE "ProjectUser" SET "lastActiveAt" = now() WHERE "tenancyId" = :tid AND "projectUserId" = :uid;
                """;
        String signIn = ids + """
                BEGIN;
                INSERT INTO "ProjectUserRefreshToken" ("id", "tenancyId", "projectUserId", "updatedAt", "refreshToken", "expiresAt") VALUES (:u, :tid, :uid, now(), concat('bench-', :u::text), now() + interval '1 year');
                UPDATE "ProjectUser" SET "lastActiveAt" = now() WHERE "tenancyId" = :tid AND "projectUserId" = :uid;
                COMMIT;
                """;
        Map<String, String> scripts = new java.util.LinkedHashMap<>();
        scripts.put("users", users);
        scripts.put("teams", teams);
        scripts.put(UNMAPPED_SCRIPT, lastActive);
        scripts.put("signin", signIn);
        return scripts;
    }
}
