package dev.externaldbsync.verifier;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.config.TargetConfig;
import dev.externaldbsync.config.TargetConfigError;
import dev.externaldbsync.config.TargetConfigParser;
import dev.externaldbsync.config.TargetConfigs;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/**
 * One verification run: pages tenancies, reads each one's targets from its config, and for every target and
 * selected mapping merge-compares the internal projection with the target table ({@link UnitComparer}).
 * <p>
 * Snapshots: per (tenancy, target) the target transaction starts first (its cursors are its first read), then the
 * internal one. Every change the target has applied was committed internally before, so the internal snapshot
 * sees it; every change made after the target snapshot has, internally, a pending mark or a sequence id above the
 * target's cursor (sequence order is commit order), so it shows as pending, never as a mismatch.
 * <p>
 * Memory: one page of tenancies, one row per side, counters and at most {@code maxReported} findings per unit.
 * Failing records are spooled to a temporary file and printed at the end, so {@code --no-bail} holds none of them.
 * Not thread-safe; one run per instance.
 */
final class Verifier {

    /** Exit codes. */
    static final int OK = 0;
    static final int MISMATCH = 1;
    static final int USAGE_OR_CONNECTION = 2;

    /** What to run; validated by the command line. */
    record Options(PostgresUrl internalUrl, long start, long count, boolean recentFirst, List<UUID> tenancies,
            List<Mapping> mappings, Integer maxUsersPerProject, boolean noBail, Path saveOutput, Path verifyOutput,
            int maxReported, int verifyWindow, int targetConnections) {
    }

    private static final JsonFactory JSON = new JsonFactory();

    /** A target is shared when its cursor table also tracks another tenancy. */
    private static final String SHARED_SQL = """
            SELECT EXISTS (SELECT 1 FROM "_stack_sync_metadata" WHERE "tenancy_id" <> ?)""";

    private final Options options;
    private final PrintStream out;
    private final PrintStream err;
    private final Progress progress;
    private final Map<String, UnitQueries> queries = new HashMap<>();
    private final Mapping users = Mappings.byName("users").orElse(null);

    private Path spool;
    private BufferedWriter spoolWriter;
    private BufferedWriter saveWriter;
    private Path saveTmp;
    private SavedOutputComparer savedComparer;
    private boolean stop;
    private long tenanciesChecked;
    private long units;
    private long failedUnits;
    private long pendingRows;
    private long verifyDifferences;

    Verifier(Options options, PrintStream out, PrintStream err) {
        this.options = options;
        this.out = out;
        this.err = err;
        this.progress = new Progress(err);
    }

    /** Runs and returns the exit code. */
    int run() throws IOException {
        Connection internal;
        try {
            internal = TargetConnections.connect(options.internalUrl(), "verify-integrity");
        } catch (SQLException e) {
            err.println("verify-integrity: cannot connect to the internal database " + options.internalUrl() + ": "
                    + TargetConnections.safeMessage(e, options.internalUrl()));
            return USAGE_OR_CONNECTION;
        }
        spool = Files.createTempFile("verify-integrity-failures", ".jsonl");
        spoolWriter = Files.newBufferedWriter(spool, StandardCharsets.UTF_8);
        BufferedReader savedReader = null;
        boolean completed = false;
        try (internal; TargetConnections targets = new TargetConnections(options.targetConnections())) {
            if (options.saveOutput() != null) {
                saveTmp = options.saveOutput().resolveSibling(options.saveOutput().getFileName() + ".tmp");
                saveWriter = Files.newBufferedWriter(saveTmp, StandardCharsets.UTF_8);
            }
            if (options.verifyOutput() != null) {
                savedReader = Files.newBufferedReader(options.verifyOutput(), StandardCharsets.UTF_8);
                boolean byId = options.tenancies().isEmpty() && !options.recentFirst();
                // By id, the run's order is uuid order, which is the code point order of their text.
                savedComparer = new SavedOutputComparer(savedReader, options.verifyWindow(),
                        byId ? UnitQueries::compareCodePoints : null, this::onDifference);
            }
            completed = loop(internal, targets);
            if (completed && savedComparer != null) {
                savedComparer.finish();
            }
        } catch (SQLException e) {
            err.println("verify-integrity: internal database error: "
                    + TargetConnections.safeMessage(e, options.internalUrl()));
            finishOutputs(false);
            return USAGE_OR_CONNECTION;
        } catch (IllegalArgumentException e) {
            err.println("verify-integrity: " + PostgresUrl.redact(e.getMessage()));
            finishOutputs(false);
            return USAGE_OR_CONNECTION;
        } finally {
            if (savedReader != null) {
                savedReader.close();
            }
        }
        finishOutputs(completed);
        int exit = failedUnits > 0 || verifyDifferences > 0 ? MISMATCH : OK;
        printSummary(exit, completed);
        return exit;
    }

    private boolean loop(Connection internal, TargetConnections targets) throws SQLException, IOException {
        long total;
        TenancySource source;
        Connection recentConnection = null;
        if (!options.tenancies().isEmpty()) {
            total = options.tenancies().size();
            source = TenancySource.explicit(internal, options.tenancies());
        } else {
            total = TenancySource.total(internal, options.start(), options.count());
            if (options.recentFirst()) {
                recentConnection = TargetConnections.connect(options.internalUrl(), "verify-integrity tenancies");
                source = TenancySource.recentFirst(internal, recentConnection, options.start(), options.count());
            } else {
                source = TenancySource.byId(internal, options.start(), options.count());
            }
        }
        try (source) {
            TenancySource.Tenancy t;
            long index = 0;
            while (!stop && (t = source.next()) != null) {
                progress.tenancy(++index, total);
                checkTenancy(internal, targets, t);
                tenanciesChecked++;
                if (savedComparer != null) {
                    savedComparer.tenancyDone(t.id().toString());
                }
            }
        } finally {
            if (recentConnection != null) {
                TargetConnections.closeQuietly(recentConnection);
            }
        }
        return !stop;
    }

    private void checkTenancy(Connection internal, TargetConnections targets, TenancySource.Tenancy t)
            throws SQLException, IOException {
        TargetConfigs configs = TargetConfigParser.parse(t.config());
        String tenancy = t.id().toString();
        for (TargetConfigError e : configs.errors()) {
            emit(UnitResult.error(tenancy, e.targetId(), "*", "invalid target config: " + e.message()));
            if (stop) {
                return;
            }
        }
        for (TargetConfig target : configs.targets()) {
            checkTarget(internal, targets, t.id(), target);
            if (stop) {
                return;
            }
        }
    }

    /**
     * All selected mappings of one target, in one target snapshot and one internal snapshot. After an error both
     * transactions are rolled back and the remaining mappings start fresh ones (in the same order: target first).
     */
    private void checkTarget(Connection internal, TargetConnections targets, UUID tenancyId, TargetConfig target)
            throws SQLException, IOException {
        String tenancy = tenancyId.toString();
        Connection tc;
        try {
            tc = targets.get(target.url());
        } catch (SQLException e) {
            emit(UnitResult.error(tenancy, target.id(), "*", "cannot connect to target " + target.url() + ": "
                    + TargetConnections.safeMessage(e, target.url())));
            return;
        }
        TargetState state = null;
        try {
            state = begin(internal, tc, tenancyId);
        } catch (SQLException e) {
            rollback(internal);
            rollback(tc);
            if (!isValid(internal)) {
                throw e;
            }
            if (!isValid(tc)) {
                // A cached connection the server has since closed (restart, idle timeout): one fresh attempt.
                targets.evict(target.url());
                try {
                    tc = targets.get(target.url());
                } catch (SQLException again) {
                    emit(UnitResult.error(tenancy, target.id(), "*", "cannot connect to target " + target.url()
                            + ": " + TargetConnections.safeMessage(again, target.url())));
                    return;
                }
            }
            // else: state stays null and the first mapping retries begin() and reports what fails
        }
        for (Mapping mapping : options.mappings()) {
            try {
                if (state == null) {
                    state = begin(internal, tc, tenancyId);
                }
                String boundColumn = boundColumn(mapping, state.bound());
                UnitQueries q = queries.computeIfAbsent(mapping.name() + "/" + boundColumn,
                        k -> new UnitQueries(mapping, boundColumn));
                UnitResult r = new UnitComparer(internal, tc, tenancyId, target.id(), q,
                        state.cursors().getOrDefault(mapping.name(), -1L), options.maxReported(), progress)
                        .run(state.bound(), state.tables().getOrDefault(mapping.name(), false), state.shared());
                emit(r);
            } catch (SQLException | RuntimeException e) {
                rollback(internal);
                rollback(tc);
                if (!isValid(internal)) {
                    throw e instanceof SQLException s ? s : new SQLException(e.getMessage(), e);
                }
                boolean targetBroken = !isValid(tc);
                if (targetBroken) {
                    targets.evict(target.url());
                }
                state = null;
                emit(UnitResult.error(tenancy, target.id(), mapping.name(),
                        (targetBroken ? "target " + target.url() + " failed: " : "")
                                + TargetConnections.safeMessage(e, target.url())));
                if (targetBroken) {
                    return;
                }
            }
            if (stop) {
                break;
            }
        }
        if (state != null) {
            internal.commit();
            tc.commit();
        }
    }

    /** Per (tenancy, target): the target's tables and cursors (its snapshot), then the user-key bound (internal). */
    private record TargetState(Map<String, Boolean> tables, Map<String, Long> cursors, boolean shared, String bound) {
    }

    private TargetState begin(Connection internal, Connection target, UUID tenancy) throws SQLException {
        Map<String, Boolean> tables = new HashMap<>();
        List<String> names = new ArrayList<>();
        options.mappings().forEach(m -> names.add(m.name()));
        names.add(Mappings.METADATA_TABLE);
        try (PreparedStatement ps = target.prepareStatement(
                "SELECT n, to_regclass(quote_ident(n)) IS NOT NULL FROM unnest(?::text[]) AS n")) {
            ps.setArray(1, target.createArrayOf("text", names.toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    tables.put(rs.getString(1), rs.getBoolean(2));
                }
            }
        }
        Map<String, Long> cursors = new HashMap<>();
        boolean shared = false;
        if (tables.getOrDefault(Mappings.METADATA_TABLE, false)) {
            try (PreparedStatement ps = target.prepareStatement(SHARED_SQL)) {
                ps.setObject(1, tenancy);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    shared = rs.getBoolean(1);
                }
            }
            try (PreparedStatement ps = target.prepareStatement(Mappings.READ_CURSORS_SQL)) {
                ps.setObject(1, tenancy);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        cursors.put(rs.getString(1), rs.getLong(2));
                    }
                }
            }
        }
        return new TargetState(tables, cursors, shared, userBound(internal, tenancy));
    }

    /**
     * {@code --max-users-per-project=N}: the N-th user key of the tenancy in key order (null when it has fewer, or
     * when the option is off). {@code users} is then compared up to that key, and every mapping with a
     * {@code user_id} column only for those users.
     */
    private String userBound(Connection internal, UUID tenancy) throws SQLException {
        if (options.maxUsersPerProject() == null || users == null) {
            return null;
        }
        String key = users.columns().get(users.keyIndexes()[0]).quoted();
        try (PreparedStatement ps = internal.prepareStatement("SELECT (p." + key + ")::text FROM (\n"
                + users.projectionSql() + "\n) AS p ORDER BY p." + key + " OFFSET ? LIMIT 1")) {
            ps.setObject(1, tenancy);
            ps.setLong(2, options.maxUsersPerProject() - 1L);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }

    private String boundColumn(Mapping mapping, String bound) {
        if (bound == null) {
            return null;
        }
        if (mapping == users) {
            return users.keyColumns().get(0);
        }
        return hasUserColumn(mapping) ? "user_id" : null;
    }

    /** A mapping whose rows belong to a user (it has a {@code user_id} column). */
    static boolean hasUserColumn(Mapping mapping) {
        return mapping.columns().stream().anyMatch(c -> c.name().equals("user_id"));
    }

    private void emit(UnitResult r) throws IOException {
        units++;
        pendingRows += r.pending();
        String line = ResultJson.toLine(r);
        if (saveWriter != null) {
            saveWriter.write(line);
            saveWriter.newLine();
        }
        if (r.failed()) {
            failedUnits++;
            spoolWriter.write(line);
            spoolWriter.newLine();
            if (!options.noBail()) {
                stop = true;
            }
        }
        if (savedComparer != null) {
            savedComparer.accept(r);
        }
    }

    private void onDifference(SavedOutputComparer.Difference d) {
        verifyDifferences++;
        try {
            java.io.StringWriter line = new java.io.StringWriter();
            try (JsonGenerator g = JSON.createGenerator(line)) {
                g.writeStartObject();
                g.writeStringField("verifyOutput", d.kind());
                g.writeStringField("unit", d.key());
                g.writeStringField("detail", d.detail());
                g.writeEndObject();
            }
            spoolWriter.write(line.toString());
            spoolWriter.newLine();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (!options.noBail()) {
            stop = true;
        }
    }

    /** Prints the spooled failures, then renames the saved output when the run checked everything. */
    private void finishOutputs(boolean completed) throws IOException {
        spoolWriter.close();
        try (BufferedReader r = Files.newBufferedReader(spool, StandardCharsets.UTF_8)) {
            String line;
            while ((line = r.readLine()) != null) {
                out.println(line);
            }
        }
        Files.deleteIfExists(spool);
        if (saveWriter != null) {
            saveWriter.close();
            if (completed) {
                Files.move(saveTmp, options.saveOutput(), StandardCopyOption.REPLACE_EXISTING,
                        StandardCopyOption.ATOMIC_MOVE);
            }
        }
        out.flush();
    }

    private void printSummary(int exit, boolean completed) throws IOException {
        double seconds = progress.seconds();
        java.io.StringWriter w = new java.io.StringWriter();
        try (JsonGenerator g = JSON.createGenerator(w)) {
            g.writeStartObject();
            g.writeObjectFieldStart("summary");
            g.writeNumberField("exit", exit);
            g.writeBooleanField("completed", completed);
            g.writeNumberField("tenancies", tenanciesChecked);
            g.writeNumberField("units", units);
            g.writeNumberField("failedUnits", failedUnits);
            g.writeNumberField("pendingRows", pendingRows);
            g.writeNumberField("rowsCompared", progress.rows());
            g.writeNumberField("seconds", Math.round(seconds * 1000) / 1000.0);
            g.writeNumberField("rowsPerSecond", seconds > 0 ? Math.round(progress.rows() / seconds) : 0);
            if (savedComparer != null) {
                g.writeNumberField("savedMissing", savedComparer.missing());
                g.writeNumberField("savedExtra", savedComparer.extra());
                g.writeNumberField("savedChanged", savedComparer.changed());
            }
            g.writeEndObject();
            g.writeEndObject();
        }
        out.println(w);
        out.flush();
    }

    private static boolean isValid(Connection c) {
        try {
            return c.isValid(5);
        } catch (SQLException e) {
            return false;
        }
    }

    private static void rollback(Connection c) {
        try {
            c.rollback();
        } catch (SQLException ignored) {
            // the connection is checked with isValid by the caller; a failed rollback of a dead one changes nothing
        }
    }
}
