package dev.externaldbsync.engine.read;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import dev.externaldbsync.mapping.FetchRange;
import dev.externaldbsync.mapping.FetchSql;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/**
 * Which mappings have stamped change-log entries above each tenancy's cursors, for a whole run or batch in ONE
 * statement: per (tenancy, mapping) one backward probe of {@code "SyncChange_stamped_idx"} over the range a page of
 * that mapping would walk ({@link FetchSql#range}, rendered against the outer row as {@link FetchSql#lateral} does),
 * stopped at the newest entry. A run then reads, backfills and mirrors only the mappings reported, instead of paging
 * every mapping to find that most have nothing. Deletes count like any other entry: they are entries of the same
 * {@code "tableName"}. The SQL is rendered from {@link Mappings#ALL} only; no tenant input reaches it. Thread-safe.
 */
public final class ChangedMappings {

    /**
     * A cursor not to probe: bound as NULL, which makes the range's index condition unsatisfiable, so the pair costs
     * no index descent (for mappings the caller learns about otherwise).
     */
    public static final long NOT_PROBED = Long.MIN_VALUE;

    private static final AtomicLong STATEMENTS = new AtomicLong();

    private static final String SQL = render();

    private final int timeoutSeconds;

    /** @param timeoutSeconds the bound on the probe (see {@code engine.statement-timeout}) */
    public ChangedMappings(int timeoutSeconds) {
        this.timeoutSeconds = timeoutSeconds;
    }

    /**
     * One tenancy's cursors, one per mapping in registry order: −1 where it has no cursor row (every stamped entry
     * counts), {@link #NOT_PROBED} for a mapping not to ask about.
     */
    public record Probe(UUID tenancyId, long[] cursors) {
    }

    /**
     * Per probe (in order), per mapping (registry order): whether it has a stamped entry above the cursor. One
     * statement, whatever the number of probes.
     */
    public List<boolean[]> changed(Connection ic, List<Probe> probes) throws SQLException {
        int mappings = Mappings.ALL.size();
        List<boolean[]> changed = new ArrayList<>(probes.size());
        for (int u = 0; u < probes.size(); u++) {
            changed.add(new boolean[mappings]);
        }
        if (probes.isEmpty()) {
            return changed;
        }
        STATEMENTS.incrementAndGet();
        try (PreparedStatement ps = ic.prepareStatement(SQL)) {
            // Server-prepared from the first use (with the session's force_generic_plan): planned once per connection.
            ps.unwrap(org.postgresql.PGStatement.class).setPrepareThreshold(1);
            ps.setQueryTimeout(timeoutSeconds);
            ps.setArray(1, ic.createArrayOf("uuid", probes.stream().map(Probe::tenancyId).toArray()));
            for (int k = 0; k < mappings; k++) {
                int mapping = k;
                ps.setArray(2 + k, ic.createArrayOf("bigint", probes.stream()
                        .map(p -> p.cursors()[mapping] == NOT_PROBED ? null : p.cursors()[mapping]).toArray()));
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    changed.get((int) rs.getLong(2) - 1)[rs.getInt(1)] = true;
                }
            }
        }
        return changed;
    }

    /** {@link #changed} of one tenancy, as mapping names (registry order). */
    public Set<String> changed(Connection ic, UUID tenancy, long[] cursors) throws SQLException {
        return names(changed(ic, List.of(new Probe(tenancy, cursors))).get(0));
    }

    /** The names of the mappings set in {@code changed} (registry order). */
    public static Set<String> names(boolean[] changed) {
        Set<String> names = new LinkedHashSet<>();
        for (int k = 0; k < changed.length; k++) {
            if (changed[k]) {
                names.add(Mappings.ALL.get(k).name());
            }
        }
        return names;
    }

    /** How many probe statements have run in this JVM (tests count round trips with it). */
    public static long statements() {
        return STATEMENTS.get();
    }

    /**
     * Parameters: tenancy ids (uuid[]), then one cursor array (bigint[]) per mapping in registry order. Rows: the
     * mapping index and the tenancy's 1-based position, only for pairs with an entry above the cursor.
     */
    static String sql() {
        return SQL;
    }

    private static String render() {
        List<Mapping> all = Mappings.ALL;
        String cursorArrays = all.stream().map(m -> "?::bigint[]").collect(Collectors.joining(", "));
        String cursorNames = IntStream.range(0, all.size()).mapToObj(k -> "\"c" + k + "\"")
                .collect(Collectors.joining(", "));
        StringBuilder sql = new StringBuilder();
        sql.append("WITH x AS MATERIALIZED (\n    SELECT u.* FROM unnest(?::uuid[], ").append(cursorArrays)
                .append(") WITH ORDINALITY AS u(\"t\", ").append(cursorNames).append(", \"i\"))\n");
        for (int k = 0; k < all.size(); k++) {
            FetchRange range = FetchSql.range(all.get(k));
            FetchRange.Binding outer = new FetchRange.Binding("x.\"t\"", "x.\"c" + k + "\"");
            String backward = range.orderBy().stream().map(c -> c + " DESC").collect(Collectors.joining(", "));
            if (k > 0) {
                sql.append("\nUNION ALL\n");
            }
            sql.append("SELECT ").append(k).append(", x.\"i\"\nFROM x CROSS JOIN LATERAL (\n    SELECT 1 FROM \"SyncChange\" ")
                    .append(range.alias()).append("\n    WHERE ").append(range.condition(outer).replace("\n", "\n    "))
                    .append("\n    ORDER BY ").append(backward).append("\n    LIMIT 1) AS p");
        }
        return sql.toString();
    }
}
