package dev.externaldbsync.engine.read;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
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
 * dead-lettered rows, in ONE statement (one snapshot, taken after the run's locks), sent with its planner settings
 * ({@link #READ_SETTINGS}) in one round trip;
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

    /** Batched reads by limit and the set of mappings read (bit k: mapping k). */
    private final Map<Long, String> batchByShape = new ConcurrentHashMap<>();
    private final Map<Mapping, String> pageByMapping = new ConcurrentHashMap<>();

    /** The default of {@code engine.page-max-bytes}. */
    public static final long DEFAULT_PAGE_MAX_BYTES = 4L * 1024 * 1024;

    private final int timeoutSeconds;
    private final long pageMaxBytes;
    private final long rowMaxBytes;

    /** @param timeoutSeconds the bound on every read (see {@code engine.statement-timeout}) */
    public ChangeReader(int timeoutSeconds) {
        this(timeoutSeconds, DEFAULT_PAGE_MAX_BYTES);
    }

    /**
     * @param timeoutSeconds the bound on every read (see {@code engine.statement-timeout})
     * @param pageMaxBytes   the most text one {@link #readPage} page carries (see {@code engine.page-max-bytes})
     */
    public ChangeReader(int timeoutSeconds, long pageMaxBytes) {
        this(timeoutSeconds, pageMaxBytes, Long.MAX_VALUE);
    }

    /**
     * @param resultMaxBytes the most one result read from the internal database may carry
     *                       ({@code internal.database.max-result-buffer}: the driver closes the session on a result
     *                       over it). A row (its text) wider than half of it is read as its key alone,
     *                       {@linkplain Row#tooWide() marked}, to be dead-lettered: the rest of its page shares the
     *                       bound. {@link Long#MAX_VALUE}: no bound.
     */
    public ChangeReader(int timeoutSeconds, long pageMaxBytes, long resultMaxBytes) {
        this.timeoutSeconds = timeoutSeconds;
        this.pageMaxBytes = Math.max(1, pageMaxBytes);
        this.rowMaxBytes = rowBound(resultMaxBytes);
    }

    /**
     * The text one mapping's pages of a batched read carry together: {@code engine.page-max-bytes}, or less when every
     * mapping at that size would not fit the row bound (half the result bound) between them. A result over the bound
     * would close the session and fail the whole batch; what is cut here is read on by the member alone.
     */
    private long batchBytesPerMapping() {
        return Math.max(1, Math.min(pageMaxBytes, rowMaxBytes / Mappings.ALL.size()));
    }

    /** The widest row a read returns whole under a result bound of {@code resultMaxBytes} (see the constructor). */
    public static long rowBound(long resultMaxBytes) {
        return resultMaxBytes == Long.MAX_VALUE ? Long.MAX_VALUE : Math.max(1, resultMaxBytes / 2);
    }

    /**
     * One {@link #readPage} page: its rows in sequence order, and whether it was cut by the byte limit before its
     * row limit (then it is short although more is above it: the caller reads on).
     */
    public record Page(List<Row> rows, boolean more) {
    }

    /** What a batched read asks for one (tenancy, target): its cursor of every mapping, in registry order. */
    public record Request(UUID tenancyId, String targetId, long[] cursors) {
    }

    /**
     * What a batched read returned for one (tenancy, target); {@code cut[k]}: mapping {@code k}'s page was cut by
     * bytes before its row limit, so there is more above it although it is short.
     */
    public record Pages(List<List<Row>> byMapping, Set<String> mappingsWithPoison, boolean[] cut) {

        /** Whether mapping {@code k}'s page was cut by bytes (there is more above it). */
        public boolean more(int k) {
            return cut[k];
        }

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
     * {@link Pages} per request, in request order. A page has fewer than {@code limit} rows only when nothing more
     * is above the cursor or it was cut by bytes ({@link Pages#more}): the rare page made short by a key's several
     * entries is topped up by single reads. Each (tenancy, mapping) page carries at most {@code engine.page-max-bytes}
     * ({@link #batchBytesPerMapping}) divided among the batch's tenancies (at least one row), so a batch holds at
     * most that limit per mapping.
     */
    public List<Pages> readBatch(Connection ic, List<Request> requests, int limit) throws SQLException {
        return readBatch(ic, requests, limit, everyMapping());
    }

    /**
     * {@link #readBatch} of the mappings set in {@code read} only (registry order); the others' pages come back
     * empty. The statement holds a branch for each mapping read and none for the others: starting a statement costs
     * about as much per branch as probing a batch's tenancies there, so a batch that knows where its changes are
     * ({@link ChangedMappings}) reads only there.
     */
    public List<Pages> readBatch(Connection ic, List<Request> requests, int limit, boolean[] read)
            throws SQLException {
        int mappings = Mappings.ALL.size();
        List<Pages> pages = new ArrayList<>();
        for (int u = 0; u < requests.size(); u++) {
            List<List<Row>> perMapping = new ArrayList<>();
            for (int k = 0; k < mappings; k++) {
                perMapping.add(new ArrayList<>());
            }
            pages.add(new Pages(perMapping, new HashSet<>(), new boolean[mappings]));
        }
        boolean none = true;
        for (boolean r : read) {
            none &= !r;
        }
        if (none) {
            return pages; // nothing to read; dead-letter marks matter only beside rows
        }
        long[][] entries = new long[requests.size()][mappings];
        long[][] available = new long[requests.size()][mappings];
        try (ReadStatement statement = ReadStatement.prepare(ic, batchSql(limit, read))) {
            PreparedStatement ps = statement.ps();
            // Server-prepared from the first use: planning it is costly, so it must happen once per connection
            // (with the session's force_generic_plan, see application.properties), not on every call.
            ps.unwrap(org.postgresql.PGStatement.class).setPrepareThreshold(1);
            ps.setQueryTimeout(timeoutSeconds);
            ps.setArray(1, ic.createArrayOf("uuid", requests.stream().map(Request::tenancyId).toArray()));
            ps.setArray(2, ic.createArrayOf("text", requests.stream().map(Request::targetId).toArray()));
            int parameter = 3;
            for (int k = 0; k < mappings; k++) {
                int mapping = k;
                if (read[k]) {
                    ps.setArray(parameter++, ic.createArrayOf("bigint",
                            requests.stream().map(r -> r.cursors()[mapping]).toArray()));
                }
            }
            ps.setLong(parameter, Math.max(1, batchBytesPerMapping() / Math.max(1, requests.size())));
            try (ResultSet rs = statement.executeQuery()) {
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
                    of.page(k).add(new Row(values, rs.getLong(3), rs.getBoolean(4),
                            wideOrZero(rs.getLong(7 + MAX_COLUMNS))));
                    entries[(int) rs.getLong(2) - 1][k] += rs.getLong(5 + MAX_COLUMNS);
                    available[(int) rs.getLong(2) - 1][k] = rs.getLong(6 + MAX_COLUMNS);
                }
            }
        }
        for (int u = 0; u < pages.size(); u++) {
            List<List<Row>> byMapping = pages.get(u).byMapping();
            for (int k = 0; k < mappings; k++) {
                byMapping.get(k).sort(Comparator.comparingLong(Row::sequenceId));
                if (byMapping.get(k).size() < available[u][k]) {
                    pages.get(u).cut()[k] = true;
                } else if (byMapping.get(k).size() < limit && entries[u][k] >= limit) {
                    // Unbounded by bytes: the batch takes a short page for "caught up".
                    byMapping.set(k, topUp(ic, requests.get(u).tenancyId(), Mappings.ALL.get(k), byMapping.get(k),
                            limit, Long.MAX_VALUE).rows());
                }
            }
        }
        return pages;
    }

    /**
     * The next page of one tenancy's rows of {@code mapping} above {@code cursor}, in sequence order: at most
     * {@code pageSize} rows, one per key, and at most {@code engine.page-max-bytes} of text (but always at least one
     * row, so a single huge row still moves the cursor). Fewer rows than {@code pageSize} only when nothing more is
     * above the cursor or the page was cut by bytes ({@link Page#more}).
     */
    public Page readPage(Connection ic, UUID tenancy, Mapping mapping, long cursor, int pageSize)
            throws SQLException {
        List<Row> rows = new ArrayList<>();
        Read read = readOnce(ic, tenancy, mapping, cursor, pageSize, pageMaxBytes, rows);
        if (read.cut()) {
            return new Page(rows, true);
        }
        return rows.size() < pageSize && read.entries() >= pageSize
                ? topUp(ic, tenancy, mapping, rows, pageSize, pageMaxBytes)
                : new Page(rows, false);
    }

    /**
     * The planner settings of every read, for its transaction only. Each read joins a few dozen entries to their live
     * rows by key, and its generic plan is made once per connection: costed for a table of a few thousand rows, a hash
     * join over a sequential scan of the whole source table looked cheaper than an index probe per entry, and stayed
     * the plan as the table grew (figures in the engine README). Without hash and merge joins, every join is a nested
     * loop over the entries.
     */
    static final String READ_SETTINGS = "SELECT set_config('enable_hashjoin', 'off', true), "
            + "set_config('enable_mergejoin', 'off', true)";

    /** {@code sql} behind {@link #READ_SETTINGS}, as one multi-statement query (see {@link ReadStatement}). */
    static String withReadSettings(String sql) {
        return READ_SETTINGS + ";\n" + sql;
    }

    /**
     * A read's statement with {@link #READ_SETTINGS} in effect for it alone. On a connection in autocommit the
     * settings and the read go out as one multi-statement query, which the server runs as one implicit transaction
     * (one round trip, where a transaction of its own took three: begin with the settings, the read, the commit); the
     * read has its own snapshot, taken after the settings ran. Inside a transaction the read runs as it is: the
     * settings would outlive it.
     */
    private record ReadStatement(PreparedStatement ps, boolean withSettings) implements AutoCloseable {

        static ReadStatement prepare(Connection ic, String sql) throws SQLException {
            boolean withSettings = ic.getAutoCommit();
            return new ReadStatement(ic.prepareStatement(withSettings ? withReadSettings(sql) : sql), withSettings);
        }

        /** Runs the read (after the settings, when they go with it) and returns its rows. */
        ResultSet executeQuery() throws SQLException {
            if (!withSettings) {
                return ps.executeQuery();
            }
            ps.execute();
            if (!ps.getMoreResults()) {
                throw new SQLException("the read after its planner settings returned no result");
            }
            return ps.getResultSet();
        }

        @Override
        public void close() throws SQLException {
            ps.close();
        }
    }

    /** What one page query stood for: its change-log entries, and whether the byte limit left rows out. */
    private record Read(long entries, boolean cut) {
    }

    /**
     * One page query: its rows into {@code rows}. The byte limit is applied by the server (a running sum over the
     * rows' text in sequence order), so rows past it never cross the wire or the heap.
     */
    private Read readOnce(Connection ic, UUID tenancy, Mapping mapping, long cursor, int pageSize, long maxBytes,
            List<Row> rows) throws SQLException {
        int columns = mapping.columns().size();
        long entries = 0;
        long uncut = 0; // how many rows the row limit alone would have returned
        try (ReadStatement statement = ReadStatement.prepare(ic, pageSql(mapping))) {
            PreparedStatement ps = statement.ps();
            ps.setQueryTimeout(timeoutSeconds);
            int i = 1;
            for (Mapping.FetchParameter p : mapping.fetchParameters()) {
                switch (p) {
                    case TENANCY_ID -> ps.setObject(i++, tenancy);
                    case CURSOR -> ps.setLong(i++, cursor);
                    case LIMIT -> ps.setInt(i++, pageSize);
                }
            }
            ps.setLong(i, maxBytes);
            try (ResultSet rs = statement.executeQuery()) {
                while (rs.next()) {
                    String[] values = new String[columns];
                    for (int c = 0; c < columns; c++) {
                        values[c] = rs.getString(c + 1);
                    }
                    rows.add(new Row(values, rs.getLong(columns + 1), rs.getBoolean(columns + 2),
                            wideOrZero(rs.getLong(columns + 5))));
                    entries += rs.getLong(columns + 3);
                    uncut = rs.getLong(columns + 4);
                }
            }
        }
        return new Read(entries, rows.size() < uncut);
    }

    /**
     * A page that is short only because keys had several entries in it (a key deleted and re-created before the
     * log's conversion, or entries the sequencer has not compacted yet): the callers take a short page for "caught
     * up", so read on above it until the page is full or the entries end. A key read again keeps only its newer read,
     * which is from a later snapshot and a higher entry: anything that changed after the first read has an entry
     * above the first read's last one, so the merged page is as current as its newest read.
     */
    private Page topUp(Connection ic, UUID tenancy, Mapping mapping, List<Row> page, int pageSize, long maxBytes)
            throws SQLException {
        int[] keys = mapping.keyIndexes();
        Map<String, Row> byKey = new LinkedHashMap<>();
        page.forEach(r -> byKey.put(key(r, keys), r));
        long cursor = page.get(page.size() - 1).sequenceId();
        boolean cut = false;
        while (byKey.size() < pageSize) {
            int wanted = pageSize - byKey.size();
            List<Row> more = new ArrayList<>();
            Read read = readOnce(ic, tenancy, mapping, cursor, wanted, maxBytes, more);
            long entries = read.entries();
            for (Row r : more) {
                String key = key(r, keys);
                byKey.remove(key);
                byKey.put(key, r);
            }
            if (read.cut()) {
                cut = true;
                break;
            }
            if (more.isEmpty() || entries < wanted) {
                break;
            }
            cursor = more.get(more.size() - 1).sequenceId();
        }
        List<Row> merged = new ArrayList<>(byKey.values());
        merged.sort(Comparator.comparingLong(Row::sequenceId));
        return new Page(merged, cut);
    }

    private static String key(Row row, int[] keys) {
        StringBuilder key = new StringBuilder();
        for (int k : keys) {
            key.append(row.values()[k]).append('\u0000');
        }
        return key.toString();
    }

    /**
     * How many rows (distinct keys) of {@code mapping} one tenancy has stamped above {@code cursor}, counted up to
     * {@code cap + 1}: the distinct keys among its first {@code ENTRIES_PER_COUNTED_ROW * (cap + 1)} entries above the
     * cursor (one index range scan of {@code "SyncChange_stamped_idx"}, stopped there). A key usually has one or two
     * entries there (its own and a derived one), so a scan that reaches its limit counts as more than the cap.
     */
    public long countAbove(Connection ic, UUID tenancy, Mapping mapping, long cursor, int cap) throws SQLException {
        long scanLimit = (long) ENTRIES_PER_COUNTED_ROW * (cap + 1);
        try (PreparedStatement ps = ic.prepareStatement(COUNT_ABOVE)) {
            ps.setQueryTimeout(timeoutSeconds);
            ps.setObject(1, tenancy);
            ps.setString(2, mapping.tombstoneTable());
            ps.setLong(3, cursor);
            ps.setLong(4, scanLimit);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                long keys = rs.getLong(1);
                return rs.getLong(2) >= scanLimit ? Math.max(keys, cap + 1L) : keys;
            }
        }
    }

    private static final int ENTRIES_PER_COUNTED_ROW = 4;

    private static final String COUNT_ABOVE = """
            SELECT count(DISTINCT e."primaryKey"), count(*) FROM (
                SELECT c."primaryKey" FROM "SyncChange" c
                WHERE c."tenancyId" = ? AND c."tableName" = ? AND c."sequenceId" > ? AND c."sequenceId" IS NOT NULL
                ORDER BY c."sequenceId" LIMIT ?) AS e""";

    /**
     * The single page query with every target column as its text form, in sequence order, then sequence id,
     * is_deleted, entries and how many rows the row limit alone would have returned. Its last parameter is the byte
     * limit: a row is returned while the text of the rows before it and its own stays within it, and the first row
     * always (a row wider than the limit is a page of its own).
     */
    String pageSql(Mapping mapping) {
        return pageByMapping.computeIfAbsent(mapping, m -> pageSql(m, rowMaxBytes));
    }

    /** {@link #pageSql(Mapping)} with rows wider than {@code rowMaxBytes} returned as their key alone. */
    static String pageSql(Mapping m, long rowMaxBytes) {
        return "SELECT " + textNames(m.columns().size(), "\"_c\"")
                + ", \"_c\".\"sequence_id\", \"_c\".\"is_deleted\", \"_c\".\"entries\", \"_c\".\"_all\", "
                + "\"_c\".\"_own\" FROM (\n" + byteCut(m, m.fetchSql(), "?", rowMaxBytes) + ") AS \"_c\"\n"
                + "ORDER BY \"_c\".\"_n\"";
    }

    /**
     * What a row {@linkplain Row#tooWide() too wide to read} fails its apply with, before anything reaches the
     * target: a data error, so that the page is narrowed down to it and it is dead-lettered (retried when it changes).
     * Its values are not in the message.
     */
    public static SQLException tooWide(Mapping mapping, Row row) {
        return new SQLException("a row of " + mapping.name() + " is " + row.tooWideBytes() + " bytes of text, more "
                + "than internal.database.max-result-buffer lets a read return", "22000");
    }

    /** The first row of {@code rows} too wide to apply, as its {@link #tooWide} error; null when there is none. */
    public static SQLException firstTooWide(Mapping mapping, List<Row> rows) {
        for (Row row : rows) {
            if (row.tooWide()) {
                return tooWide(mapping, row);
            }
        }
        return null;
    }

    /** A row's own width as the reads return it ({@code "_own"}), kept only when it is over the bound. */
    private long wideOrZero(long own) {
        return own > rowMaxBytes ? own : 0;
    }

    /**
     * {@code page} (a fetch of {@code mapping}: its columns, sequence_id, is_deleted, entries) with its columns as
     * text ({@code "_v0"}…), cut at {@code maxBytes} by a running sum of that text in sequence order (the first row
     * always), with each row's position ({@code "_n"}), how many rows the page had before the cut ({@code "_all"})
     * and the row's own width ({@code "_own"}). A row wider than {@code rowMaxBytes} (unless that is
     * {@link Long#MAX_VALUE}: no bound) keeps only its key columns (the others are NULL): a tenant writes the rows,
     * and one that the driver would refuse to buffer must cost a dead letter, not the read. The text is cast once, for
     * the sums, the guard and the result.
     */
    private static String byteCut(Mapping mapping, String page, String maxBytes, long rowMaxBytes) {
        int columns = mapping.columns().size();
        List<String> aliased = new ArrayList<>();
        List<String> bytes = new ArrayList<>();
        List<String> guarded = new ArrayList<>();
        java.util.Set<Integer> keys = java.util.Arrays.stream(mapping.keyIndexes()).boxed()
                .collect(Collectors.toSet());
        for (int c = 0; c < columns; c++) {
            aliased.add("\"_page\"." + mapping.columns().get(c).quoted() + "::text AS \"_v" + c + "\"");
            bytes.add("coalesce(octet_length(\"_t\".\"_v" + c + "\"), 0)");
            guarded.add(keys.contains(c) || rowMaxBytes == Long.MAX_VALUE ? "\"_w\".\"_v" + c + "\""
                    : "CASE WHEN \"_w\".\"_own\" > " + rowMaxBytes + " THEN NULL ELSE \"_w\".\"_v" + c
                            + "\" END AS \"_v" + c + "\"");
        }
        String width = String.join(" + ", bytes);
        return "SELECT " + String.join(", ", guarded) + ", \"_w\".\"sequence_id\", \"_w\".\"is_deleted\", "
                + "\"_w\".\"entries\", \"_w\".\"_n\", \"_w\".\"_all\", \"_w\".\"_own\" FROM (\nSELECT \"_t\".*, "
                + "row_number() OVER \"_o\" AS \"_n\", sum(" + width + ") OVER \"_o\" AS \"_bytes\", count(*) OVER () "
                + "AS \"_all\", " + width + " AS \"_own\"\nFROM (SELECT " + String.join(", ", aliased)
                + ", \"_page\".\"sequence_id\", \"_page\".\"is_deleted\", \"_page\".\"entries\" FROM (" + page
                + ") AS \"_page\") AS \"_t\"\n"
                + "WINDOW \"_o\" AS (ORDER BY \"_t\".\"sequence_id\" ROWS UNBOUNDED PRECEDING)) AS \"_w\"\n"
                + "WHERE \"_w\".\"_n\" = 1 OR \"_w\".\"_bytes\" <= " + maxBytes;
    }

    private static String textNames(int columns, String alias) {
        return IntStream.range(0, columns).mapToObj(c -> alias + ".\"_v" + c + "\"").collect(Collectors.joining(", "));
    }

    /**
     * The batched read with {@code limit} rows per tenancy and mapping. Parameters: tenancy ids (uuid[]), target ids
     * (text[]), then one cursor array (bigint[]) per mapping in registry order, all arrays in batch order, then the
     * byte limit of each (tenancy, mapping) page (as {@link #pageSql}'s, applied per lateral page). Rows:
     * mapping index ({@link #POISON_MARK} for a poison mark), the tenancy's 1-based position in the arrays, sequence
     * id, is_deleted, then {@link #MAX_COLUMNS} text values (a poison mark carries the mapping name first), then the
     * number of change-log entries the row stands for (see {@link FetchSql}), then how many rows the page had before
     * the byte limit. Each mapping is its lateral fetch ({@link FetchSql#lateral}) per tenancy: one index probe of
     * the change log and nothing returned (nothing joined) for a mapping with nothing above the cursor. The limit is
     * a literal (see {@link FetchSql#lateral}); callers use a few distinct limits (powers of two), so few statements
     * are prepared per connection.
     */
    String batchSql(int limit) {
        return batchSql(limit, everyMapping());
    }

    /** Every mapping set, for a read of them all. */
    public static boolean[] everyMapping() {
        boolean[] every = new boolean[Mappings.ALL.size()];
        Arrays.fill(every, true);
        return every;
    }

    /** {@link #batchSql(int)} with a branch (and a cursor array) only for the mappings set in {@code read}. */
    String batchSql(int limit, boolean[] read) {
        long bits = 0;
        for (int k = 0; k < read.length; k++) {
            bits |= read[k] ? 1L << k : 0;
        }
        long shape = (long) limit << Mappings.ALL.size() | bits;
        return batchByShape.computeIfAbsent(shape, l -> renderBatch(limit, rowMaxBytes, read.clone()));
    }

    static String renderBatch(int limit, long rowMaxBytes, boolean[] read) {
        List<Mapping> all = Mappings.ALL;
        String cursorArrays = IntStream.range(0, all.size()).filter(k -> read[k]).mapToObj(k -> ", ?::bigint[]")
                .collect(Collectors.joining());
        String cursorNames = IntStream.range(0, all.size()).filter(k -> read[k]).mapToObj(k -> ", \"c" + k + "\"")
                .collect(Collectors.joining());
        StringBuilder sql = new StringBuilder();
        sql.append("WITH x AS MATERIALIZED (\n    SELECT u.*, \"_b\".\"b\" FROM unnest(?::uuid[], ?::text[]")
                .append(cursorArrays).append(") WITH ORDINALITY AS u(\"t\", \"g\"").append(cursorNames)
                .append(", \"i\") CROSS JOIN (SELECT ?::bigint AS \"b\") AS \"_b\")\n");
        sql.append("SELECT ").append(POISON_MARK).append(", q.\"i\", 0::bigint, false, q.\"mappingName\"")
                .append(padding(1)).append(", 0::bigint, 0::bigint, 0::bigint\nFROM (")
                .append(DeadLetters.MARKED_MAPPINGS_OF_X)
                .append(") q");
        for (int k = 0; k < all.size(); k++) {
            if (!read[k]) {
                continue;
            }
            Mapping mapping = all.get(k);
            FetchRange.Binding outer = new FetchRange.Binding("x.\"t\"", "x.\"c" + k + "\"");
            String lateral = FetchSql.lateral(mapping, outer, limit);
            sql.append("\nUNION ALL\nSELECT ").append(k).append(", x.\"i\", p.\"sequence_id\", p.\"is_deleted\", ")
                    .append(textNames(mapping.columns().size(), "p")).append(padding(mapping.columns().size()))
                    .append(", p.\"entries\", p.\"_all\", p.\"_own\"\nFROM x CROSS JOIN LATERAL (\n")
                    .append(byteCut(mapping, lateral, "x.\"b\"", rowMaxBytes)).append("\n) AS p");
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
