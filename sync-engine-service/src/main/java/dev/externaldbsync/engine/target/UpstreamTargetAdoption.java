package dev.externaldbsync.engine.target;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import org.jboss.logging.Logger;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.config.TargetConfig;
import dev.externaldbsync.config.TenancyDirectory;
import dev.externaldbsync.engine.EngineConfig;
import dev.externaldbsync.engine.errors.SqlFailure;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.mapping.TargetColumn;
import dev.externaldbsync.sql.Identifiers;
import io.agroal.api.AgroalDataSource;

/**
 * Moves a target that Stack Auth's own in-app sync created onto this product's cursors (issue 19, README "Adopting
 * a Stack Auth deployment"). Upstream's cursor table has the same name as ours but one cursor per mapping and no
 * tenancy column, so it can neither be read nor kept: it is renamed (kept for audit), and the target is treated as
 * never synced. Every tenancy that uses it then re-applies from the start with the idempotent upserts (equal rows are
 * not rewritten), and before any of them does, every target row that has no live source row in any of those
 * tenancies is removed: upstream may have skipped tombstones (its overlapping sequencer runs) or written rows before
 * tombstones existed, and re-applying alone can only add and update.
 *
 * <p>Safety, in short: the removal runs while no run can apply to the target (the target's adoption lock, a session
 * advisory lock there, is held by the adopting run; every other run that meets an unfinished adoption fails fast and
 * is retried by the poller); it reads target keys in key order one page at a time and deletes, in the same target
 * transaction as the resume point in {@code _external_db_sync_adoption}, only keys that no tenancy using this database
 * has live; so an engine that dies half-way resumes at the last committed page, and the adoption runs once per
 * target. A row removed for a tenancy this scan did not know of is re-applied by that tenancy, whose cursors in the
 * new table start at −1 too. Thread-safe: all state is in the target.
 */
@ApplicationScoped
public class UpstreamTargetAdoption {

    private static final Logger LOG = Logger.getLogger(UpstreamTargetAdoption.class);

    /** Session advisory lock in the target: one adoption at a time, and no apply while it runs. */
    public static final long ADOPTION_LOCK = 0x5359_4E43_4144_4F50L; // "SYNCADOP"

    static final String STATE_TABLE = "_external_db_sync_adoption";

    /** Where upstream's cursor table is kept (a numbered suffix when that name is taken). */
    static final String UPSTREAM_TABLE = "_stack_sync_metadata_upstream";

    private static final String DETECT = """
            SELECT to_regclass('"_stack_sync_metadata"') IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM pg_attribute
                                   WHERE attrelid = to_regclass('"_stack_sync_metadata"')
                                     AND attname = 'tenancy_id' AND NOT attisdropped),
                   to_regclass('"_external_db_sync_adoption"') IS NOT NULL""";

    private static final String STATE_DDL = """
            CREATE TABLE IF NOT EXISTS "_external_db_sync_adoption" (
                "singleton" boolean PRIMARY KEY DEFAULT true CHECK ("singleton"),
                "upstream_table" text NOT NULL,
                "tenancies" integer NOT NULL,
                "mapping_name" text,
                "last_key" text[],
                "rows_kept" bigint NOT NULL DEFAULT 0,
                "rows_removed" bigint NOT NULL DEFAULT 0,
                "started_at" timestamp without time zone NOT NULL DEFAULT now(),
                "finished_at" timestamp without time zone
            )""";

    private static final String READ_STATE = """
            SELECT "upstream_table", "mapping_name", "last_key", "rows_kept", "rows_removed", "finished_at" IS NOT NULL,
                   extract(epoch FROM (coalesce("finished_at", now()::timestamp) - "started_at")) * 1000
            FROM "_external_db_sync_adoption\"""";

    private static final String START_STATE = """
            INSERT INTO "_external_db_sync_adoption" ("singleton", "upstream_table", "tenancies", "mapping_name")
            VALUES (true, ?, ?, ?)
            ON CONFLICT ("singleton") DO UPDATE SET "upstream_table" = EXCLUDED."upstream_table",
                "tenancies" = EXCLUDED."tenancies", "mapping_name" = EXCLUDED."mapping_name", "last_key" = NULL,
                "rows_kept" = 0, "rows_removed" = 0, "started_at" = now(), "finished_at" = NULL""";

    private static final String ADVANCE_STATE = """
            UPDATE "_external_db_sync_adoption"
            SET "mapping_name" = ?, "last_key" = ?::text[], "rows_kept" = "rows_kept" + ?,
                "rows_removed" = "rows_removed" + ?""";

    private static final String FINISH_STATE = """
            UPDATE "_external_db_sync_adoption" SET "mapping_name" = NULL, "last_key" = NULL, "finished_at" = now()""";

    /** Tenancies whose config may name an external database; the parser decides (nested or dotted keys). */
    private static final String CONFIGURED_TENANCIES = TenancyDirectory.ENTRY_COLUMNS
            + TenancyDirectory.FROM_TENANCIES
            + "WHERE e.\"config\"::text LIKE '%externalDatabases%' AND strpos(e.\"config\"::text, ?) > 0";

    /** A name that appears verbatim in a connection string inside JSON (no percent or JSON escaping possible). */
    private static final java.util.regex.Pattern PLAIN = java.util.regex.Pattern.compile("[A-Za-z0-9_.-]+");

    private static final String ENQUEUE = "SELECT sync_enqueue_tenancies(?::uuid[])";

    @Inject
    AgroalDataSource internal;

    @Inject
    EngineConfig config;

    /** Thrown while another run adopts the target: this run fails, and the poller retries it later. */
    static final class AdoptionInProgress extends SQLException {
        AdoptionInProgress() {
            // The engine prefixes the (redacted) target to the message.
            super("being adopted from Stack Auth's in-app sync by another run; retried later", "55P03");
        }
    }

    /**
     * Adopts the target behind {@code tc} if upstream's cursor table is there or an adoption is unfinished; a no-op
     * (one catalog query) otherwise. Called at the start of the schema bootstrap, before the target's tables are
     * created. Leaves {@code tc} with auto-commit off and no transaction open.
     *
     * @throws AdoptionInProgress when another run holds the target's adoption
     */
    public void adoptIfUpstream(Connection tc, PostgresUrl url) throws SQLException {
        tc.setAutoCommit(false);
        boolean upstream;
        boolean hasState;
        try (Statement st = tc.createStatement(); ResultSet rs = st.executeQuery(DETECT)) {
            rs.next();
            upstream = rs.getBoolean(1);
            hasState = rs.getBoolean(2);
        }
        if (hasState && !upstream && finished(tc)) {
            tc.commit();
            return;
        }
        tc.commit();
        if (!upstream && !hasState) {
            return;
        }
        if (!tryLock(tc)) {
            throw new AdoptionInProgress();
        }
        try {
            adoptLocked(tc, url);
        } finally {
            try (Statement st = tc.createStatement()) {
                st.execute("SELECT pg_advisory_unlock(" + ADOPTION_LOCK + ")");
                tc.commit();
            } catch (SQLException e) {
                LOG.debugf("Adoption unlock failed (released with the session): %s", SqlFailure.describe(e));
            }
        }
    }

    private void adoptLocked(Connection tc, PostgresUrl url) throws SQLException {
        long startedNanos = System.nanoTime();
        List<UUID> tenancies;
        try (Statement st = tc.createStatement()) {
            boolean upstream;
            try (ResultSet rs = st.executeQuery(DETECT)) {
                rs.next();
                upstream = rs.getBoolean(1);
            }
            if (!upstream && finished(tc)) {
                tc.commit();
                return;
            }
            tenancies = tenanciesUsing(url);
            if (tenancies.isEmpty()) {
                // The run came from a tenancy's config, so its own tenancy must be found; if not, pruning against
                // an empty set would empty the target.
                throw new SQLException("no tenancy's config names this database; not adopting it", "55000");
            }
            if (upstream) {
                String keptAs = freeName(st);
                st.execute("ALTER TABLE \"_stack_sync_metadata\" RENAME TO " + Identifiers.quote(keptAs));
                st.execute(STATE_DDL);
                try (PreparedStatement ps = tc.prepareStatement(START_STATE)) {
                    ps.setString(1, keptAs);
                    ps.setInt(2, tenancies.size());
                    ps.setString(3, Mappings.ALL.get(0).name());
                    ps.executeUpdate();
                }
                tc.commit();
                LOG.infof("Adopting target %s created by Stack Auth's in-app sync: its cursor table is kept as %s, "
                        + "%d tenancies use this database", url.redacted(), keptAs, tenancies.size());
            } else {
                tc.commit();
            }
        } catch (SQLException | RuntimeException e) {
            TargetSession.rollbackQuietly(tc);
            throw e;
        }
        prune(tc, tenancies);
        String keptAs;
        long kept;
        long removed;
        long totalMs;
        try (Statement st = tc.createStatement()) {
            st.execute(FINISH_STATE);
            try (ResultSet rs = st.executeQuery(READ_STATE)) {
                rs.next();
                keptAs = rs.getString(1);
                kept = rs.getLong(4);
                removed = rs.getLong(5);
                totalMs = Math.round(rs.getDouble(7));
            }
            tc.commit();
        } catch (SQLException | RuntimeException e) {
            TargetSession.rollbackQuietly(tc);
            throw e;
        }
        // Every tenancy using the target starts from -1 in the new cursor table; a request each makes them converge
        // now rather than at their next change.
        try (Connection ic = internal.getConnection(); PreparedStatement ps = ic.prepareStatement(ENQUEUE)) {
            ps.setArray(1, ic.createArrayOf("uuid", tenancies.toArray()));
            ps.execute();
        }
        LOG.infof("Adopted target %s from Stack Auth's in-app sync: rows kept %d, removed %d (no live source row), "
                + "%d tenancies re-apply from the start; upstream's cursor table kept as %s; %d ms (this run %d ms)",
                url.redacted(), kept, removed, tenancies.size(), keptAs, totalMs,
                (System.nanoTime() - startedNanos) / 1_000_000);
    }

    private static boolean finished(Connection tc) throws SQLException {
        try (Statement st = tc.createStatement(); ResultSet rs = st.executeQuery(READ_STATE)) {
            return rs.next() && rs.getBoolean(6);
        }
    }

    private static boolean tryLock(Connection tc) throws SQLException {
        try (Statement st = tc.createStatement();
                ResultSet rs = st.executeQuery("SELECT pg_try_advisory_lock(" + ADOPTION_LOCK + ")")) {
            rs.next();
            boolean locked = rs.getBoolean(1);
            tc.commit();
            return locked;
        }
    }

    private static String freeName(Statement st) throws SQLException {
        for (int n = 0;; n++) {
            String name = n == 0 ? UPSTREAM_TABLE : UPSTREAM_TABLE + "_" + n;
            try (ResultSet rs = st.executeQuery("SELECT to_regclass('" + Identifiers.quote(name) + "') IS NULL")) {
                rs.next();
                if (rs.getBoolean(1)) {
                    return name;
                }
            }
        }
    }

    /**
     * Every tenancy whose config names this database (host, port, database and schema parameters; the user may
     * differ, since another role still sees the same tables). Streamed; only the matching ids are kept.
     */
    List<UUID> tenanciesUsing(PostgresUrl url) throws SQLException {
        Set<UUID> found = new LinkedHashSet<>();
        try (Connection ic = internal.getConnection()) {
            boolean autoCommit = ic.getAutoCommit();
            ic.setAutoCommit(false);
            try (PreparedStatement ps = ic.prepareStatement(CONFIGURED_TENANCIES)) {
                // Every database's adoption reads the configs once; the name filter keeps that a text scan instead
                // of a JSON parse per configured tenancy (N targets would otherwise parse N configs each).
                ps.setString(1, PLAIN.matcher(url.database()).matches() ? url.database() : "");
                ps.setFetchSize(500);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        TenancyDirectory.Entry entry = TenancyDirectory.entry(rs);
                        for (TargetConfig target : entry.targets().targets()) {
                            if (sameDatabase(target.url(), url)) {
                                found.add(entry.tenancyId());
                            }
                        }
                    }
                }
                ic.commit();
            } finally {
                ic.setAutoCommit(autoCommit);
            }
        }
        return new ArrayList<>(found);
    }

    static boolean sameDatabase(PostgresUrl a, PostgresUrl b) {
        return a.host().equalsIgnoreCase(b.host()) && a.port() == b.port() && a.database().equals(b.database())
                && Objects.equals(a.params().get("currentSchema"), b.params().get("currentSchema"))
                && Objects.equals(a.params().get("options"), b.params().get("options"));
    }

    private void prune(Connection tc, List<UUID> tenancies) throws SQLException {
        String mappingName;
        String[] lastKey;
        try (Statement st = tc.createStatement(); ResultSet rs = st.executeQuery(READ_STATE)) {
            rs.next();
            mappingName = rs.getString(2);
            java.sql.Array array = rs.getArray(3);
            lastKey = array == null ? null : (String[]) array.getArray();
            tc.commit();
        }
        // No mapping named: every mapping was pruned before the engine stopped.
        int start = mappingName == null ? Mappings.ALL.size() : 0;
        while (start < Mappings.ALL.size() && !Mappings.ALL.get(start).name().equals(mappingName)) {
            start++;
        }
        for (int k = start; k < Mappings.ALL.size(); k++) {
            Mapping mapping = Mappings.ALL.get(k);
            String next = k + 1 < Mappings.ALL.size() ? Mappings.ALL.get(k + 1).name() : null;
            long mappingStarted = System.nanoTime();
            pruneMapping(tc, mapping, k == start ? lastKey : null, tenancies);
            LOG.debugf("Adoption pruned %s in %d ms", mapping.name(), (System.nanoTime() - mappingStarted) / 1_000_000);
            advance(tc, next, null, 0, 0);
            tc.commit();
        }
    }

    private void pruneMapping(Connection tc, Mapping mapping, String[] after, List<UUID> tenancies)
            throws SQLException {
        if (!tableExists(tc, mapping)) {
            return;
        }
        List<TargetColumn> keys = keyColumns(mapping);
        String keyList = keys.stream().map(TargetColumn::quoted).collect(Collectors.joining(", "));
        String select = "SELECT " + keys.stream().map(c -> c.quoted() + "::text").collect(Collectors.joining(", "))
                + ", " + probeColumn(mapping).quoted() + "::text FROM " + mapping.quotedTable();
        int pageSize = Math.max(1, config.pageSize());
        // A literal limit (an int): with LIMIT as a parameter the generic plan sorted the whole table per page.
        String order = " ORDER BY " + keyList + " LIMIT " + pageSize;
        String firstPage = select + order;
        String nextPage = select + " WHERE (" + keyList + ") > ("
                + keys.stream().map(c -> "?::" + c.type()).collect(Collectors.joining(", ")) + ")" + order;
        String liveQuery = liveKeysSql(mapping);
        String exactQuery = PROBE_BY_USER.contains(mapping.name())
                ? liveKeysSql(mapping, keyColumns(mapping).get(0)) : null;
        String[] last = after;
        while (true) {
            List<String[]> page = new ArrayList<>(pageSize);
            List<String> probes = new ArrayList<>(pageSize);
            try (PreparedStatement ps = tc.prepareStatement(last == null ? firstPage : nextPage)) {
                int p = 1;
                if (last != null) {
                    for (String v : last) {
                        ps.setString(p++, v);
                    }
                }
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        String[] key = new String[keys.size()];
                        for (int i = 0; i < key.length; i++) {
                            key[i] = rs.getString(i + 1);
                        }
                        page.add(key);
                        probes.add(rs.getString(key.length + 1));
                    }
                }
            }
            if (page.isEmpty()) {
                tc.commit();
                return;
            }
            Set<String> live = liveKeys(liveQuery, page, probes, tenancies);
            List<String[]> gone = page.stream().filter(key -> !live.contains(joined(key))).toList();
            if (!gone.isEmpty() && exactQuery != null) {
                // A row whose owner changed is live under another user_id: look the few candidates up by key.
                Set<String> liveElsewhere = liveKeys(exactQuery, gone,
                        gone.stream().map(key -> key[0]).toList(), tenancies);
                gone = gone.stream().filter(key -> !liveElsewhere.contains(joined(key))).toList();
            }
            try {
                if (!gone.isEmpty()) {
                    try (PreparedStatement ps = tc.prepareStatement(mapping.deleteSql())) {
                        for (int i = 0; i < keys.size(); i++) {
                            int column = i;
                            ps.setArray(i + 1, tc.createArrayOf("text",
                                    gone.stream().map(key -> key[column]).toArray()));
                        }
                        ps.executeUpdate();
                    }
                }
                last = page.get(page.size() - 1);
                advance(tc, mapping.name(), last, page.size() - gone.size(), gone.size());
                tc.commit();
            } catch (SQLException | RuntimeException e) {
                TargetSession.rollbackQuietly(tc);
                throw e;
            }
            if (page.size() < pageSize) {
                return;
            }
        }
    }

    /**
     * Which keys of one target page are live in any of the tenancies: each tenancy's projection (the verifier's
     * definition of "what the target must hold"), probed by the page's {@link #probeColumn} values, which the
     * source's tenancy-leading indexes serve. Streamed; only the page's own keys are remembered.
     */
    private Set<String> liveKeys(String sql, List<String[]> page, List<String> probes, List<UUID> tenancies)
            throws SQLException {
        Set<String> wanted = new HashSet<>(page.size() * 2);
        for (String[] key : page) {
            wanted.add(joined(key));
        }
        Set<String> leading = new LinkedHashSet<>(probes);
        Set<String> live = new HashSet<>();
        if (tenancies.isEmpty()) {
            return live;
        }
        try (Connection ic = internal.getConnection()) {
            boolean autoCommit = ic.getAutoCommit();
            ic.setAutoCommit(false);
            try (Statement st = ic.createStatement()) {
                // The generic plan of a pooled, server-prepared probe does not know the array's size and scanned
                // the tenancy's rows instead of probing the index: several times slower per page.
                st.execute("SET LOCAL plan_cache_mode = force_custom_plan");
            }
            try (PreparedStatement ps = ic.prepareStatement(sql)) {
                ps.setQueryTimeout((int) Math.max(1, config.statementTimeout().toSeconds()));
                ps.setFetchSize(2000);
                ps.setArray(1, ic.createArrayOf("uuid", tenancies.toArray()));
                ps.setArray(2, ic.createArrayOf("text", leading.toArray()));
                try (ResultSet rs = ps.executeQuery()) {
                    int n = rs.getMetaData().getColumnCount();
                    String[] key = new String[n];
                    while (rs.next()) {
                        for (int i = 0; i < n; i++) {
                            key[i] = rs.getString(i + 1);
                        }
                        String k = joined(key);
                        if (wanted.contains(k)) {
                            live.add(k);
                        }
                    }
                }
                ic.commit();
            } finally {
                ic.setAutoCommit(autoCommit);
            }
        }
        return live;
    }

    /**
     * The live-key probe of one mapping: its projection for each tenancy (the projection's one parameter, the
     * tenancy, becomes the lateral tenancy id), restricted to the page's probe-column values.
     */
    public static String liveKeysSql(Mapping mapping) {
        return liveKeysSql(mapping, probeColumn(mapping));
    }

    private static String liveKeysSql(Mapping mapping, TargetColumn first) {
        String projection = mapping.projectionSql();
        if (projection == null || projection.indexOf('?') != projection.lastIndexOf('?') || projection.indexOf('?') < 0) {
            throw new IllegalStateException(mapping.name() + ": the projection must take exactly one parameter");
        }
        List<TargetColumn> keys = keyColumns(mapping);
        return "SELECT " + keys.stream().map(c -> "\"_p\"." + c.quoted() + "::text").collect(Collectors.joining(", "))
                + " FROM unnest(?::uuid[]) AS \"_adopt_t\"(\"id\") CROSS JOIN LATERAL (\n"
                + projection.replace("?", "\"_adopt_t\".\"id\"") + "\n) AS \"_p\" WHERE \"_p\"." + first.quoted()
                + " = ANY (?::text[]::" + first.type() + "[])";
    }

    /**
     * Mappings whose leading key column is not what the source's tenancy-leading index continues with: their source
     * rows are found by owner ({@code "projectUserId"}, the index's second column), so the probe goes by the target's
     * {@code user_id} instead (a contact channel's id alone would make every page scan the tenancy's channels).
     */
    private static final Set<String> PROBE_BY_USER = Set.of("contact_channels", "team_member_profiles",
            "team_permissions");

    /** The target column whose page values select the candidate live rows: an indexed probe in the source. */
    static TargetColumn probeColumn(Mapping mapping) {
        String name = PROBE_BY_USER.contains(mapping.name()) ? "user_id" : mapping.keyColumns().get(0);
        return mapping.columns().stream().filter(c -> c.name().equals(name)).findFirst().orElseThrow();
    }

    private static List<TargetColumn> keyColumns(Mapping mapping) {
        return mapping.keyColumns().stream()
                .map(k -> mapping.columns().stream().filter(c -> c.name().equals(k)).findFirst().orElseThrow())
                .toList();
    }

    private static boolean tableExists(Connection tc, Mapping mapping) throws SQLException {
        try (PreparedStatement ps = tc.prepareStatement("SELECT to_regclass(?) IS NOT NULL")) {
            ps.setString(1, mapping.quotedTable());
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                boolean exists = rs.getBoolean(1);
                tc.commit();
                return exists;
            }
        }
    }

    private static void advance(Connection tc, String mapping, String[] lastKey, long kept, long removed)
            throws SQLException {
        try (PreparedStatement ps = tc.prepareStatement(ADVANCE_STATE)) {
            ps.setString(1, mapping);
            ps.setArray(2, lastKey == null ? null : tc.createArrayOf("text", lastKey));
            ps.setLong(3, kept);
            ps.setLong(4, removed);
            ps.executeUpdate();
        }
    }

    private static String joined(String[] key) {
        return key.length == 1 ? key[0] : String.join("\u0001", Arrays.asList(key));
    }
}
