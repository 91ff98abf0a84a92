package dev.externaldbsync.engine.read;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import dev.externaldbsync.engine.store.DeadLetters;
import dev.externaldbsync.mapping.FetchRange;
import dev.externaldbsync.mapping.FetchSql;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/**
 * Reads changes from the internal database, both ways a run needs them, each rendered from the mappings' structure
 * ({@link FetchSql}):
 * <ul>
 * <li>{@link #readBatch}: every mapping's first page for every tenancy of a batch, and which mappings have
 * dead-lettered rows, in ONE statement (one round trip, one snapshot, taken after the run's locks);
 * <li>{@link #readPage}: the next page of one tenancy and mapping above its cursor.
 * </ul>
 * Every column travels as its PostgreSQL text form (an exact round trip through {@code text[]} into the target).
 * Statements are built once per shape and cached; thread-safe.
 */
public final class ChangeReader {

    /** The widest mapping: every row of the batched read has this many value columns (narrower ones pad with NULL). */
    static final int MAX_COLUMNS = Mappings.ALL.stream().mapToInt(m -> m.columns().size()).max().orElseThrow();

    /** The {@code "m"} of a batched-read row that is not a row but "this tenancy has dead-lettered rows there". */
    static final int POISON_MARK = -1;

    private static final Map<Integer, String> BATCH_BY_LIMIT = new ConcurrentHashMap<>();
    private static final Map<Mapping, String> PAGE_BY_MAPPING = new ConcurrentHashMap<>();

    private final int timeoutSeconds;

    /** @param timeoutSeconds the bound on every read (see {@code engine.statement-timeout}) */
    public ChangeReader(int timeoutSeconds) {
        this.timeoutSeconds = timeoutSeconds;
    }

    /** What a batched read asks for one (tenancy, target): its cursor of every mapping, in registry order. */
    public record Request(UUID tenancyId, String targetId, long[] cursors) {
    }

    /** What a batched read returned for one (tenancy, target). */
    public record Pages(List<List<Row>> byMapping, Set<String> mappingsWithPoison) {

        /** The rows of mapping {@code k} (registry order), in sequence order. */
        public List<Row> page(int k) {
            return byMapping.get(k);
        }

        public long rows() {
            return byMapping.stream().mapToLong(List::size).sum();
        }
    }

    /**
     * Every mapping's rows above each request's cursors, at most {@code limit} per (tenancy, mapping), in sequence
     * order, plus the names of the mappings where the tenancy has dead-lettered rows on that target; one
     * {@link Pages} per request, in request order.
     */
    public List<Pages> readBatch(Connection ic, List<Request> requests, int limit) throws SQLException {
        int mappings = Mappings.ALL.size();
        List<Pages> pages = new ArrayList<>();
        for (int u = 0; u < requests.size(); u++) {
            List<List<Row>> perMapping = new ArrayList<>();
            for (int k = 0; k < mappings; k++) {
                perMapping.add(new ArrayList<>());
            }
            pages.add(new Pages(perMapping, new HashSet<>()));
        }
        try (PreparedStatement ps = ic.prepareStatement(batchSql(limit))) {
            // Server-prepared from the first use: planning it is costly, so it must happen once per connection
            // (with the session's force_generic_plan, see application.properties), not on every call.
            ps.unwrap(org.postgresql.PGStatement.class).setPrepareThreshold(1);
            ps.setQueryTimeout(timeoutSeconds);
            ps.setArray(1, ic.createArrayOf("uuid", requests.stream().map(Request::tenancyId).toArray()));
            ps.setArray(2, ic.createArrayOf("text", requests.stream().map(Request::targetId).toArray()));
            for (int k = 0; k < mappings; k++) {
                int mapping = k;
                ps.setArray(3 + k, ic.createArrayOf("bigint",
                        requests.stream().map(r -> r.cursors()[mapping]).toArray()));
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    int k = rs.getInt(1);
                    Pages of = pages.get((int) rs.getLong(2) - 1);
                    if (k == POISON_MARK) {
                        of.mappingsWithPoison().add(rs.getString(5));
                        continue;
                    }
                    int columns = Mappings.ALL.get(k).columns().size();
                    String[] values = new String[columns];
                    for (int c = 0; c < columns; c++) {
                        values[c] = rs.getString(c + 5);
                    }
                    of.page(k).add(new Row(values, rs.getLong(3), rs.getBoolean(4)));
                }
            }
        }
        for (Pages of : pages) {
            of.byMapping().forEach(page -> page.sort(Comparator.comparingLong(Row::sequenceId)));
        }
        return pages;
    }

    /** The next page of one tenancy's rows of {@code mapping} above {@code cursor}, in sequence order. */
    public List<Row> readPage(Connection ic, UUID tenancy, Mapping mapping, long cursor, int pageSize)
            throws SQLException {
        int columns = mapping.columns().size();
        List<Row> rows = new ArrayList<>();
        try (PreparedStatement ps = ic.prepareStatement(pageSql(mapping))) {
            ps.setQueryTimeout(timeoutSeconds);
            int i = 1;
            for (Mapping.FetchParameter p : mapping.fetchParameters()) {
                switch (p) {
                    case TENANCY_ID -> ps.setObject(i++, tenancy);
                    case CURSOR -> ps.setLong(i++, cursor);
                    case LIMIT -> ps.setInt(i++, pageSize);
                }
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    String[] values = new String[columns];
                    for (int c = 0; c < columns; c++) {
                        values[c] = rs.getString(c + 1);
                    }
                    rows.add(new Row(values, rs.getLong(columns + 1), rs.getBoolean(columns + 2)));
                }
            }
        }
        return rows;
    }

    /**
     * How many rows of {@code mapping} one tenancy has above {@code cursor}, counted up to {@code cap + 1} through
     * the page query itself (the same index range scans as a run, stopped after the cap).
     */
    public long countAbove(Connection ic, UUID tenancy, Mapping mapping, long cursor, int cap) throws SQLException {
        try (PreparedStatement ps = ic.prepareStatement("SELECT count(*) FROM (" + mapping.fetchSql() + ") AS behind")) {
            ps.setQueryTimeout(timeoutSeconds);
            int i = 1;
            for (Mapping.FetchParameter p : mapping.fetchParameters()) {
                switch (p) {
                    case TENANCY_ID -> ps.setObject(i++, tenancy);
                    case CURSOR -> ps.setLong(i++, cursor);
                    case LIMIT -> ps.setInt(i++, cap + 1);
                }
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** The single page query with every target column as its text form, in sequence order. */
    static String pageSql(Mapping mapping) {
        return PAGE_BY_MAPPING.computeIfAbsent(mapping, m -> "SELECT " + FetchSql.textColumns(m, "\"_page\"")
                + ", \"_page\".\"sequence_id\", \"_page\".\"is_deleted\" FROM (" + m.fetchSql()
                + ") AS \"_page\" ORDER BY \"_page\".\"sequence_id\"");
    }

    /**
     * The batched read with {@code limit} rows per tenancy and mapping. Parameters: tenancy ids (uuid[]), target ids
     * (text[]), then one cursor array (bigint[]) per mapping in registry order, all arrays in batch order. Rows:
     * mapping index ({@link #POISON_MARK} for a poison mark), the tenancy's 1-based position in the arrays, sequence
     * id, is_deleted, then {@link #MAX_COLUMNS} text values (a poison mark carries the mapping name first). Each
     * mapping is its lateral fetch ({@link FetchSql#lateral}) per tenancy: one index probe of the change log and
     * nothing returned (nothing joined) for a mapping with nothing above the cursor. The limit is a literal (see {@link FetchSql#lateral}); callers use a
     * few distinct limits (powers of two), so few statements are prepared per connection.
     */
    static String batchSql(int limit) {
        return BATCH_BY_LIMIT.computeIfAbsent(limit, ChangeReader::renderBatch);
    }

    private static String renderBatch(int limit) {
        List<Mapping> all = Mappings.ALL;
        String cursorArrays = all.stream().map(m -> "?::bigint[]").collect(Collectors.joining(", "));
        String cursorNames = IntStream.range(0, all.size()).mapToObj(k -> "\"c" + k + "\"")
                .collect(Collectors.joining(", "));
        StringBuilder sql = new StringBuilder();
        sql.append("WITH x AS MATERIALIZED (\n    SELECT u.* FROM unnest(?::uuid[], ?::text[], ").append(cursorArrays)
                .append(") WITH ORDINALITY AS u(\"t\", \"g\", ").append(cursorNames).append(", \"i\"))\n");
        sql.append("SELECT ").append(POISON_MARK).append(", q.\"i\", 0::bigint, false, q.\"mappingName\"")
                .append(padding(1)).append("\nFROM (").append(DeadLetters.MARKED_MAPPINGS_OF_X)
                .append(") q");
        for (int k = 0; k < all.size(); k++) {
            Mapping mapping = all.get(k);
            FetchRange.Binding outer = new FetchRange.Binding("x.\"t\"", "x.\"c" + k + "\"");
            sql.append("\nUNION ALL\nSELECT ").append(k).append(", x.\"i\", p.\"sequence_id\", p.\"is_deleted\", ")
                    .append(FetchSql.textColumns(mapping, "p")).append(padding(mapping.columns().size()))
                    .append("\nFROM x CROSS JOIN LATERAL (\n").append(FetchSql.lateral(mapping, outer, limit))
                    .append("\n) AS p");
        }
        return sql.toString();
    }

    private static String padding(int used) {
        return ", NULL::text".repeat(MAX_COLUMNS - used);
    }

    /** Index of each mapping name in {@link Mappings#ALL}. */
    public static final Map<String, Integer> MAPPING_INDEX = IntStream.range(0, Mappings.ALL.size()).boxed()
            .collect(Collectors.toUnmodifiableMap(k -> Mappings.ALL.get(k).name(), k -> k));
}
