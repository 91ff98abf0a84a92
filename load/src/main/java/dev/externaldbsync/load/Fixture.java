package dev.externaldbsync.load;

import dev.externaldbsync.config.PostgresUrl;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;

/**
 * Fills an internal database with Stack-compatible rows at mission scale through set-based SQL
 * ({@code generate_series}, one transaction per batch). Every id is derived from {@code --seed} and the row's
 * number ({@code md5(...)::uuid}), and every insert is {@code ON CONFLICT DO NOTHING}, so a re-run creates nothing
 * twice and a re-run with larger counts adds only the missing rows. Not thread-safe; one instance per run.
 */
@Command(name = "fixture", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
                "Fills an internal database with one-user tenancies and huge tenancies (Project, Tenancy,",
                "EnvironmentConfigOverride with a dbSync target, ProjectUser, primary ContactChannel, AuthMethod,",
                "PasswordAuthMethod). Ids are deterministic per --seed: re-runs are idempotent and larger counts add rows.",
                "With --target-per-tenancy the target databases must exist unless --create-databases is given."})
public final class Fixture implements Callable<Integer> {

    /** A bcrypt-shaped (60 characters, cost 13) hash that matches no password. */
    static final String PASSWORD_HASH = "$2a$13$" + "LoadFixtureSaltLoadFix" + "ture.hash.not.a.real.password.1";

    private static final Pattern SEED = Pattern.compile("[A-Za-z0-9_-]{1,40}");

    @Option(names = "--internal-url", defaultValue = "${env:INTERNAL_DATABASE_URL}",
            description = "Internal database connection string (postgresql://user:pass@host:port/db). Default: env INTERNAL_DATABASE_URL.")
    String internalUrl;

    @Option(names = "--small-tenancies", defaultValue = "0", paramLabel = "N",
            description = "Number of one-user projects (tenancies 1..N). Default: ${DEFAULT-VALUE}.")
    long smallTenancies;

    @Option(names = "--huge-tenancies", defaultValue = "0", paramLabel = "M",
            description = "Number of huge projects. Default: ${DEFAULT-VALUE}.")
    int hugeTenancies;

    @Option(names = "--users-per-huge", defaultValue = "1000000", paramLabel = "K",
            description = "Users in each huge project. Default: ${DEFAULT-VALUE}.")
    long usersPerHuge;

    @Option(names = "--target-url", paramLabel = "URL",
            description = "One shared external database for every tenancy (the default target mode).")
    String targetUrl;

    @Option(names = "--target-per-tenancy",
            description = "One external database per tenancy, from --target-url-template.")
    boolean targetPerTenancy;

    @Option(names = "--target-url-template", paramLabel = "TEMPLATE",
            description = "Connection string with %%d replaced by the tenancy number, e.g. "
                    + "'postgresql://u:p@h:5432/tenant_%%d'. Small tenancies are numbered 1..N, huge ones --huge-number-base+1..")
    String targetUrlTemplate;

    @Option(names = "--create-databases",
            description = "With --target-per-tenancy: create every missing target database (CREATE DATABASE on the template's server).")
    boolean createDatabases;

    @Option(names = "--huge-number-base", defaultValue = "10000000",
            description = "Tenancy number of huge tenancy h is base+h (for the template and the ids). Default: ${DEFAULT-VALUE}.")
    long hugeNumberBase;

    @Option(names = "--seed", defaultValue = "load",
            description = "Prefix of every deterministic id and email ([A-Za-z0-9_-]). Default: ${DEFAULT-VALUE}.")
    String seed;

    @Option(names = "--batch-size", defaultValue = "10000",
            description = "Rows per statement (tenancies or users); one transaction per batch. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** What one run inserted (rows per table, conflicts excluded) and how long it took. */
    public record Result(Map<String, Long> inserted, long elapsedNanos) {
        public long totalRows() {
            return inserted.values().stream().mapToLong(Long::longValue).sum();
        }

        public double rowsPerSecond() {
            return elapsedNanos == 0 ? 0 : totalRows() * 1e9 / elapsedNanos;
        }
    }

    @Override
    public Integer call() throws Exception {
        validate();
        Result result = run(System.out);
        PrintStream out = System.out;
        result.inserted().forEach((table, rows) -> out.printf("inserted_%s=%d%n", table, rows));
        out.printf("total_rows=%d%nelapsed_s=%.3f%nrows_per_s=%.0f%n", result.totalRows(),
                result.elapsedNanos() / 1e9, result.rowsPerSecond());
        return 0;
    }

    private void validate() {
        CommandLine cl = spec.commandLine();
        if (internalUrl == null || internalUrl.isBlank()) {
            throw new CommandLine.ParameterException(cl, "--internal-url (or env INTERNAL_DATABASE_URL) is required");
        }
        if (!SEED.matcher(seed).matches()) {
            throw new CommandLine.ParameterException(cl, "--seed must match " + SEED.pattern());
        }
        if (smallTenancies < 0 || hugeTenancies < 0 || usersPerHuge < 0 || batchSize < 1) {
            throw new CommandLine.ParameterException(cl, "counts must be >= 0 and --batch-size >= 1");
        }
        if (targetPerTenancy) {
            if (targetUrlTemplate == null || !targetUrlTemplate.contains("%d")) {
                throw new CommandLine.ParameterException(cl, "--target-per-tenancy needs --target-url-template containing %d");
            }
            PostgresUrl.parse(targetUrlTemplate.replace("%d", "1"));
        } else {
            if (targetUrl == null) {
                throw new CommandLine.ParameterException(cl, "--target-url is required (or --target-per-tenancy)");
            }
            PostgresUrl.parse(targetUrl);
        }
        if (createDatabases && !targetPerTenancy) {
            throw new CommandLine.ParameterException(cl, "--create-databases needs --target-per-tenancy");
        }
    }

    /** Runs the fixture, printing progress to {@code out} at most once per second. */
    Result run(PrintStream out) throws SQLException {
        long started = System.nanoTime();
        Map<String, Long> inserted = new LinkedHashMap<>();
        for (String table : new String[] {"Project", "Tenancy", "EnvironmentConfigOverride", "ProjectUser",
                "ContactChannel", "AuthMethod", "PasswordAuthMethod"}) {
            inserted.put(table, 0L);
        }
        Progress progress = new Progress(out, started);
        if (createDatabases) {
            createTargetDatabases(out);
        }
        try (Connection c = Db.connect(internalUrl)) {
            c.setAutoCommit(false);
            for (long from = 1; from <= smallTenancies; from += batchSize) {
                long to = Math.min(smallTenancies, from + batchSize - 1);
                // Small tenancy i: tenancy number i, one user whose key is the tenancy's key.
                String tenancies = """
                        SELECT n, n AS num, '%1$s:s:' || n AS tkey FROM generate_series(%2$d, %3$d) n"""
                        .formatted(seed, from, to);
                insertTenancies(c, tenancies, inserted);
                String users = """
                        SELECT md5(tkey || ':t')::uuid AS tid, md5(tkey || ':p')::uuid::text AS pid,
                               tkey || ':u:1' AS ukey, 1 AS un
                        FROM (%s) t""".formatted(tenancies);
                insertUsers(c, users, inserted);
                c.commit();
                progress.maybePrint("small tenancies", to, smallTenancies, inserted);
            }
            for (int h = 1; h <= hugeTenancies; h++) {
                long num = hugeNumberBase + h;
                String tenancy = "SELECT %1$d AS n, %1$d AS num, '%2$s:h:' || %1$d AS tkey".formatted(num, seed);
                insertTenancies(c, tenancy, inserted);
                c.commit();
                for (long from = 1; from <= usersPerHuge; from += batchSize) {
                    long to = Math.min(usersPerHuge, from + batchSize - 1);
                    String users = """
                            SELECT md5(t.tkey || ':t')::uuid AS tid, md5(t.tkey || ':p')::uuid::text AS pid,
                                   t.tkey || ':u:' || j AS ukey, j AS un
                            FROM (%s) t, generate_series(%d, %d) j""".formatted(tenancy, from, to);
                    insertUsers(c, users, inserted);
                    c.commit();
                    progress.maybePrint("huge tenancy " + h + "/" + hugeTenancies + " users", to, usersPerHuge, inserted);
                }
            }
            // Fresh statistics, as after any bulk load: without them the services' first plans over these tables
            // (made while they were empty) can be orders of magnitude off until autovacuum gets to them.
            c.setAutoCommit(true);
            try (java.sql.Statement st = c.createStatement()) {
                st.execute("""
                        ANALYZE "Project", "Tenancy", "EnvironmentConfigOverride", "ProjectUser", "ContactChannel",
                                "AuthMethod", "PasswordAuthMethod\"""");
            }
        }
        return new Result(inserted, System.nanoTime() - started);
    }

    /** {@code source} yields (n, num, tkey): tenancy number and deterministic key. */
    private void insertTenancies(Connection c, String source, Map<String, Long> inserted) throws SQLException {
        add(inserted, "Project", update(c, """
                INSERT INTO "Project" ("id", "updatedAt", "displayName", "description", "isProductionMode")
                SELECT md5(tkey || ':p')::uuid::text, now(), 'load ' || tkey, 'load fixture', false FROM (%s) s
                ON CONFLICT DO NOTHING""".formatted(source), null));
        add(inserted, "Tenancy", update(c, """
                INSERT INTO "Tenancy" ("id", "updatedAt", "projectId", "branchId", "hasNoOrganization")
                SELECT md5(tkey || ':t')::uuid, now(), md5(tkey || ':p')::uuid::text, 'main', 'TRUE' FROM (%s) s
                ON CONFLICT DO NOTHING""".formatted(source), null));
        // The URL is bound, never inlined: it carries a password and statements may be logged by the server.
        String url = targetPerTenancy ? "replace(?, '%d', num::text)" : "?";
        add(inserted, "EnvironmentConfigOverride", update(c, """
                INSERT INTO "EnvironmentConfigOverride" ("projectId", "branchId", "updatedAt", "config")
                SELECT md5(tkey || ':p')::uuid::text, 'main', now(),
                       jsonb_build_object('dbSync', jsonb_build_object('externalDatabases', jsonb_build_object(
                           'main', jsonb_build_object('type', 'postgres', 'connectionString', %s))))
                FROM (%s) s
                ON CONFLICT DO NOTHING""".formatted(url, source), targetPerTenancy ? targetUrlTemplate : targetUrl));
    }

    /** {@code source} yields (tid, pid, ukey, un): tenancy, project, deterministic user key and user number. */
    private void insertUsers(Connection c, String source, Map<String, Long> inserted) throws SQLException {
        add(inserted, "ProjectUser", update(c, """
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "projectId", "updatedAt", "displayName", "clientMetadata")
                SELECT tid, md5(ukey)::uuid, pid, 'main', pid, now(), 'User ' || un, '{"fixture": true}'::jsonb
                FROM (%s) s
                ON CONFLICT DO NOTHING""".formatted(source), null));
        add(inserted, "ContactChannel", update(c, """
                INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                                              "isVerified", "value", "usedForAuth")
                SELECT tid, md5(ukey)::uuid, md5(ukey || ':c')::uuid, now(), 'EMAIL', 'TRUE', true,
                       replace(ukey, ':', '-') || '@load.example.com', 'TRUE'
                FROM (%s) s
                ON CONFLICT DO NOTHING""".formatted(source), null));
        add(inserted, "AuthMethod", update(c, """
                INSERT INTO "AuthMethod" ("tenancyId", "id", "projectUserId", "updatedAt")
                SELECT tid, md5(ukey || ':a')::uuid, md5(ukey)::uuid, now() FROM (%s) s
                ON CONFLICT DO NOTHING""".formatted(source), null));
        add(inserted, "PasswordAuthMethod", update(c, """
                INSERT INTO "PasswordAuthMethod" ("tenancyId", "authMethodId", "projectUserId", "updatedAt", "passwordHash")
                SELECT tid, md5(ukey || ':a')::uuid, md5(ukey)::uuid, now(), ? FROM (%s) s
                ON CONFLICT DO NOTHING""".formatted(source), PASSWORD_HASH));
    }

    private static long update(Connection c, String sql, String param) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            if (param != null) {
                ps.setString(1, param);
            }
            return ps.executeLargeUpdate();
        }
    }

    private static void add(Map<String, Long> inserted, String table, long rows) {
        inserted.merge(table, rows, Long::sum);
    }

    private void createTargetDatabases(PrintStream out) throws SQLException {
        PostgresUrl server = PostgresUrl.parse(targetUrlTemplate.replace("%d", "0")).withDatabase("postgres");
        long created = 0;
        try (Connection c = java.sql.DriverManager.getConnection(server.jdbcUrl(), server.user(), server.password())) {
            c.setAutoCommit(true);
            for (long i = 1; i <= smallTenancies + hugeTenancies; i++) {
                long num = i <= smallTenancies ? i : hugeNumberBase + (i - smallTenancies);
                String database = PostgresUrl.parse(targetUrlTemplate.replace("%d", Long.toString(num))).database();
                boolean exists;
                try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM pg_database WHERE datname = ?")) {
                    ps.setString(1, database);
                    try (var rs = ps.executeQuery()) {
                        exists = rs.next();
                    }
                }
                if (!exists) {
                    try (var st = c.createStatement()) {
                        st.execute("CREATE DATABASE \"" + database.replace("\"", "\"\"") + "\"");
                    }
                    created++;
                }
            }
        }
        out.printf("created_databases=%d%n", created);
    }

    /** Prints at most one progress line per second. */
    private static final class Progress {
        private final PrintStream out;
        private final long started;
        private long lastPrinted;

        Progress(PrintStream out, long started) {
            this.out = out;
            this.started = started;
            this.lastPrinted = started;
        }

        void maybePrint(String phase, long done, long total, Map<String, Long> inserted) {
            long now = System.nanoTime();
            if (now - lastPrinted < 1_000_000_000L) {
                return;
            }
            lastPrinted = now;
            long rows = inserted.values().stream().mapToLong(Long::longValue).sum();
            out.printf("progress: %s %d/%d, %d rows in %.1f s (%.0f rows/s)%n", phase, done, total, rows,
                    (now - started) / 1e9, rows * 1e9 / (now - started));
        }
    }
}
