package dev.externaldbsync.engine.read;

import java.io.IOException;
import java.io.OutputStream;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

import org.postgresql.PGConnection;

import dev.externaldbsync.mapping.FetchSql;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.sql.Identifiers;

/**
 * Reads a snapshot backfill from the internal database: one tenancy's live rows of a mapping, one keyset page at a
 * time, and the log's high-water mark the backfill ends at ({@link #highestStamps}).
 *
 * <h2>The page</h2>
 * A page is the next {@code n} live source keys of the tenancy in the order of the source table's primary-key (or
 * unique) index, above the last key of the previous page, rendered into exactly the shape the log read joins
 * ({@link FetchSql#CHANGE}: {@code "tenancyId"}, {@code "primaryKey"}) and then joined to the live row through the
 * mapping's own {@link Mapping.Fetch} (its select list, joins and deleted condition). So a backfilled row is computed
 * by the same expressions as a row the log read brings, and a key the mapping would treat as deleted (an invitation
 * whose team is gone, an unlinked account) is skipped. A mapping with a {@link Mapping.Scan} (its source rows are
 * its live rows) skips the join back: the walk's rows themselves go through the scan's select and joins, which
 * compute the same columns ({@code LivePageReaderTest} holds the two forms to the same output).
 * <p>
 * Why not the mapping's projection wrapped as {@code … WHERE (key) > (last) ORDER BY key LIMIT n}: measured with
 * EXPLAIN ANALYZE (generic plans, 100,000 users in one tenancy), the wrap is an index range scan that stops after
 * the page only for the mappings whose target key is the leading order of a source index (users, teams, …). For
 * {@code contact_channels} (index {@code ("tenancyId", "projectUserId", "id")}, key {@code id}),
 * {@code team_member_profiles}, {@code team_permissions}, {@code project_permissions} (index order user first, key
 * order team or permission first) and {@code team_invitations} (the tenancy resolved through a join) the projection's
 * own {@code ORDER BY} sorted the tenancy's whole rest for every page (0.1–0.8 s per page there, quadratic over a
 * backfill). Pages here walk each source index in its own order ({@link Source#order}, which contains the target key,
 * so it is a total order on the mapping's rows); the keyset predicate is a row comparison on those index columns.
 * <p>
 * The page query's parameters, in order: the tenancy (uuid), then the previous page's last key (one text parameter
 * per order column, cast to its type; absent on the first page); the page size is a literal. Statements are built once per
 * shape; stateless apart from that cache; thread-safe.
 */
public final class LivePageReader {

    /**
     * Where a mapping's live keys come from: the source table (aliased {@code s}), the condition selecting one
     * tenancy ({@code ?} = tenancy id), its index columns in index order with their types, and the change-log key
     * ({@code "primaryKey"}, the same shape the capture triggers write for this table).
     */
    record Source(String table, String tenancyFilter, String tenancy, List<String> order, List<String> types,
            String primaryKey) {

        Source {
            Identifiers.quote(table);
            if (order.size() != types.size() || order.isEmpty()) {
                throw new IllegalArgumentException(table + ": one type per order column");
            }
        }

        static Source of(String table, List<String> order, List<String> types, String... keyFields) {
            return new Source(table, "s.\"tenancyId\" = ?", "s.\"tenancyId\"", order, types, json(keyFields));
        }

        static String json(String... keyFields) {
            return "jsonb_build_object(" + java.util.Arrays.stream(keyFields)
                    .map(f -> "'" + f + "', s." + Identifiers.quote(f)).collect(Collectors.joining(", ")) + ")";
        }
    }

    private static final List<String> UUID1 = List.of("uuid");
    private static final List<String> UUID2 = List.of("uuid", "uuid");

    /** Every mapping's source, by mapping name (a new mapping without one fails {@link #source} loudly). */
    static final Map<String, Source> SOURCES = Map.ofEntries(
            Map.entry(Mappings.USERS.name(), Source.of("ProjectUser", List.of("projectUserId"), UUID1,
                    "tenancyId", "projectUserId")),
            Map.entry(Mappings.CONTACT_CHANNELS.name(), Source.of("ContactChannel", List.of("projectUserId", "id"),
                    UUID2, "tenancyId", "projectUserId", "id")),
            Map.entry(Mappings.TEAMS.name(), Source.of("Team", List.of("teamId"), UUID1, "tenancyId", "teamId")),
            Map.entry(Mappings.TEAM_MEMBER_PROFILES.name(), Source.of("TeamMember", List.of("projectUserId", "teamId"),
                    UUID2, "tenancyId", "projectUserId", "teamId")),
            Map.entry(Mappings.TEAM_PERMISSIONS.name(), Source.of("TeamMemberDirectPermission",
                    List.of("projectUserId", "teamId", "permissionId"), List.of("uuid", "uuid", "text"),
                    "tenancyId", "projectUserId", "teamId", "permissionId")),
            // No tenancy column: the tenancy's project and branch, each an InitPlan, so the scan is the primary key
            // ("projectId", "branchId", "id") in id order (a join to "Tenancy" made the planner sort the whole rest).
            Map.entry(Mappings.TEAM_INVITATIONS.name(), new Source("VerificationCode", """
                    s."projectId" = (SELECT tn."projectId" FROM "Tenancy" tn WHERE tn."id" = ?1)
                      AND s."branchId" = (SELECT tn."branchId" FROM "Tenancy" tn WHERE tn."id" = ?1)
                      AND s."type" = 'TEAM_INVITATION'""", "?1", List.of("id"), UUID1, Source.json("id"))),
            Map.entry(Mappings.EMAIL_OUTBOXES.name(), Source.of("EmailOutbox", List.of("id"), UUID1, "id")),
            Map.entry(Mappings.PROJECT_PERMISSIONS.name(), Source.of("ProjectUserDirectPermission",
                    List.of("projectUserId", "permissionId"), List.of("uuid", "text"),
                    "tenancyId", "projectUserId", "permissionId")),
            Map.entry(Mappings.NOTIFICATION_PREFERENCES.name(), Source.of("UserNotificationPreference", List.of("id"),
                    UUID1, "tenancyId", "id")),
            Map.entry(Mappings.REFRESH_TOKENS.name(), Source.of("ProjectUserRefreshToken", List.of("id"), UUID1,
                    "tenancyId", "id")),
            Map.entry(Mappings.CONNECTED_ACCOUNTS.name(), Source.of("ProjectUserOAuthAccount", List.of("id"), UUID1,
                    "tenancyId", "id")));

    /**
     * One page: the rows to upsert (keys the mapping treats as deleted left out), each row's position in the page
     * order ({@code keys}, parallel to {@code rows}), the last key read (the next page starts above it; null when
     * none was read), how many keys were read (fewer than asked and not {@code more}: this was the last page), and
     * whether the byte limit cut the page before its key limit (then there is more above {@code lastKey}).
     */
    public record Page(List<Row> rows, List<String[]> keys, String[] lastKey, int keysRead, boolean more) {

        public Page(List<Row> rows, List<String[]> keys, String[] lastKey, int keysRead) {
            this(rows, keys, lastKey, keysRead, false);
        }
    }

    private static final Map<String, String> STATEMENTS = new ConcurrentHashMap<>();

    private static final String HIGHEST = """
            SELECT t.n, (SELECT max(e."sequenceId") FROM "SyncChange" e
                         WHERE e."tenancyId" = ? AND e."tableName" = t.n AND e."sequenceId" IS NOT NULL)
            FROM unnest(?::text[]) AS t(n)""";

    private final int timeoutSeconds;
    private final long pageMaxBytes;
    private final int copyKeys;
    private final long rowMaxBytes;

    /** @param timeoutSeconds the bound on every read (see {@code engine.statement-timeout}) */
    public LivePageReader(int timeoutSeconds) {
        this(timeoutSeconds, ChangeReader.DEFAULT_PAGE_MAX_BYTES);
    }

    /**
     * @param timeoutSeconds the bound on every read (see {@code engine.statement-timeout})
     * @param pageMaxBytes   the most text one {@link #readPage} page carries (see {@code engine.page-max-bytes})
     */
    public LivePageReader(int timeoutSeconds, long pageMaxBytes) {
        this(timeoutSeconds, pageMaxBytes, 0);
    }

    /**
     * @param timeoutSeconds the bound on every read (see {@code engine.statement-timeout})
     * @param pageMaxBytes   the most text one {@link #readPage} page carries (see {@code engine.page-max-bytes})
     * @param copyKeys       the source keys per {@link #copyChunk} chunk; 0: a backfill reads pages only (see
     *                       {@code engine.backfill.copy-keys})
     */
    public LivePageReader(int timeoutSeconds, long pageMaxBytes, int copyKeys) {
        this(timeoutSeconds, pageMaxBytes, copyKeys, Long.MAX_VALUE);
    }

    /**
     * @param timeoutSeconds the bound on every read (see {@code engine.statement-timeout})
     * @param pageMaxBytes   the most text one {@link #readPage} page carries (see {@code engine.page-max-bytes})
     * @param copyKeys       the source keys per {@link #copyChunk} chunk; 0: a backfill reads pages only (see
     *                       {@code engine.backfill.copy-keys})
     * @param rowMaxBytes    {@code internal.database.max-result-buffer}, which bounds every result but a COPY's:
     *                       a page returns a row whole only up to half of it ({@link ChangeReader#rowBound}), a wider
     *                       one as its key, marked {@linkplain Row#tooWide() too wide} to be dead-lettered, and
     *                       {@link #copyChunk} refuses a chunk holding one (the pages then dead-letter it)
     */
    public LivePageReader(int timeoutSeconds, long pageMaxBytes, int copyKeys, long rowMaxBytes) {
        this.timeoutSeconds = timeoutSeconds;
        this.pageMaxBytes = Math.max(1, pageMaxBytes);
        this.copyKeys = Math.max(0, copyKeys);
        this.rowMaxBytes = Math.max(1, rowMaxBytes);
    }

    /** The source keys per copied chunk of a backfill; 0 when backfills read pages only. */
    public int copyKeys() {
        return copyKeys;
    }

    /**
     * {@code after}, or null (from the start) when it does not fit the mapping's key. A position comes back from the
     * tenant's own database: one that does not fit restarts the backfill instead of failing on every run.
     */
    public static String[] usablePosition(Mapping mapping, String[] after) {
        return after != null && after.length != source(mapping).order().size() ? null : after;
    }

    /**
     * The last key of the next chunk: the {@code keys}-th live source key of the tenancy above {@code after} (null:
     * from the start) in the page order, or null when fewer remain, so that the chunk is the whole rest. An index
     * walk on the internal database; the chunk's rows are not read.
     */
    public String[] chunkEnd(Connection ic, UUID tenancy, Mapping mapping, String[] after, int keys)
            throws SQLException {
        Source source = source(mapping);
        int order = source.order().size();
        String sql = STATEMENTS.computeIfAbsent(mapping.name() + (after != null ? ">" : "") + "#" + keys, n -> walk(
                source, source.order().stream().map(c -> "s." + Identifiers.quote(c) + "::text")
                        .collect(Collectors.joining(", ")), after != null, 1, "?::uuid")
                + "\n    OFFSET " + (Math.max(1, keys) - 1));
        try (PreparedStatement ps = ic.prepareStatement(sql)) {
            ps.setQueryTimeout(timeoutSeconds);
            bindKeyset(ps, tenancy, after);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                String[] end = new String[order];
                for (int k = 0; k < order; k++) {
                    end[k] = rs.getString(k + 1);
                }
                return end;
            }
        }
    }

    /**
     * Streams one chunk of the tenancy's live rows of {@code mapping} into {@code sink} as {@code COPY … (FORMAT
     * binary)}: the source keys above {@code after} (null: from the start) and at most {@code upTo} (null: to the
     * end), each row computed by the page's own expressions, typed as the target's columns, keys the mapping treats
     * as deleted left out. The bytes pass through without being decoded, so memory is one copy message (one row, at
     * most the row limit wide: a wider one fails the chunk with SQLState 22P02) whatever the chunk's size. Its own
     * transaction on {@code ic}, bounded by the read timeout; the statement's parameters are transaction settings,
     * because COPY takes no bind parameters and a position (which comes back from the tenant's database) is never
     * spliced into SQL. Returns the rows streamed.
     */
    public long copyChunk(Connection ic, UUID tenancy, Mapping mapping, String[] after, String[] upTo,
            OutputStream sink) throws SQLException, IOException {
        Source source = source(mapping);
        int order = source.order().size();
        if (after != null && after.length != order || upTo != null && upTo.length != order) {
            throw new IllegalArgumentException(mapping.name() + ": a chunk bound has " + order + " columns");
        }
        boolean autoCommit = ic.getAutoCommit();
        ic.setAutoCommit(false);
        try {
            List<String> names = new ArrayList<>(List.of("statement_timeout", TENANCY_SETTING, ROW_MAX_SETTING,
                    TOO_WIDE_SETTING));
            List<String> values = new ArrayList<>(List.of(Long.toString(timeoutSeconds * 1000L), tenancy.toString(),
                    Long.toString(ChangeReader.rowBound(rowMaxBytes)),
                    TOO_WIDE + ChangeReader.rowBound(rowMaxBytes) + " bytes"));
            for (int k = 0; k < order; k++) {
                if (after != null) {
                    names.add(AFTER_SETTING + k);
                    values.add(after[k]);
                }
                if (upTo != null) {
                    names.add(UP_TO_SETTING + k);
                    values.add(upTo[k]);
                }
            }
            try (PreparedStatement ps = ic.prepareStatement(SET_PARAMETERS)) {
                ps.setArray(1, ic.createArrayOf("text", names.toArray()));
                ps.setArray(2, ic.createArrayOf("text", values.toArray()));
                ps.execute();
            }
            long rows = ic.unwrap(PGConnection.class).getCopyAPI().copyOut(copySql(mapping, after != null,
                    upTo != null), sink);
            ic.commit();
            return rows;
        } catch (SQLException | IOException | RuntimeException e) {
            try {
                ic.rollback();
            } catch (SQLException r) {
                e.addSuppressed(r);
            }
            throw e;
        } finally {
            ic.setAutoCommit(autoCommit);
        }
    }

    /** Sets transaction settings, names and values as two arrays. */
    private static final String SET_PARAMETERS = """
            SELECT count(set_config(n, v, true)) FROM unnest(?::text[], ?::text[]) AS p(n, v)""";

    /** The transaction settings {@link #copyChunk}'s statement reads its parameters from. */
    static final String TENANCY_SETTING = "external_db_sync.chunk_tenancy";
    static final String AFTER_SETTING = "external_db_sync.chunk_after_";
    static final String UP_TO_SETTING = "external_db_sync.chunk_up_to_";
    static final String ROW_MAX_SETTING = "external_db_sync.chunk_row_max_bytes";
    static final String TOO_WIDE_SETTING = "external_db_sync.chunk_too_wide";

    /**
     * What a copied chunk fails with when one of its rows is wider than the row limit: the text of an integer cast
     * that cannot succeed, which is how a plain SQL statement raises an error of its own choosing (SQLState 22P02).
     */
    static final String TOO_WIDE =
            "a source row of the chunk is wider than half of internal.database.max-result-buffer, ";

    /**
     * {@link #copyChunk}'s statement: the page's FROM clause ({@link #renderJoin} or {@link #renderScan}) without a
     * limit, bounded by the chunk's keys on both sides, each target column cast to its type, a row wider than the row
     * limit refused ({@link #widthGuard}).
     */
    static String copySql(Mapping mapping, boolean lower, boolean upper) {
        return STATEMENTS.computeIfAbsent("COPY " + mapping.name() + (lower ? ">" : "") + (upper ? "<=" : ""), n -> {
            Source source = source(mapping);
            List<String> from = new ArrayList<>();
            List<String> to = new ArrayList<>();
            for (int k = 0; k < source.order().size(); k++) {
                from.add("current_setting('" + AFTER_SETTING + k + "')::" + source.types().get(k));
                to.add("current_setting('" + UP_TO_SETTING + k + "')::" + source.types().get(k));
            }
            String tenancy = "current_setting('" + TENANCY_SETTING + "')::uuid";
            String rows = mapping.scan() != null
                    ? scanFrom(mapping, lower ? from : null, upper ? to : null, 0, tenancy)
                    : joinFrom(mapping, lower ? from : null, upper ? to : null, 0, tenancy);
            // Each row once, typed as the target; a jsonb also as its text, which is both measured and sent.
            List<String> typed = new ArrayList<>();
            List<String> out = new ArrayList<>();
            List<String> widths = new ArrayList<>();
            for (int c = 0; c < mapping.columns().size(); c++) {
                dev.externaldbsync.mapping.TargetColumn column = mapping.columns().get(c);
                String value = "\"_live\"." + column.quoted() + "::" + column.type();
                String name = "\"_c" + c + "\"";
                if (column.type().equals("jsonb")) {
                    typed.add(value + "::text AS " + name);
                    out.add(JSONB_VERSION + " || convert_to(\"_w\"." + name + ", 'UTF8')");
                    widths.add("coalesce(octet_length(\"_w\"." + name + "), 0)");
                } else {
                    typed.add(value + " AS " + name);
                    out.add("\"_w\"." + name);
                    if (column.type().equals("text")) {
                        widths.add("coalesce(octet_length(\"_w\"." + name + "), 0)");
                    }
                }
            }
            return "COPY (SELECT " + String.join(", ", out) + "\nFROM (SELECT " + String.join(", ", typed)
                    + "\nFROM " + rows + "\nWHERE NOT \"_live\".\"is_deleted\"\nOFFSET 0) AS \"_w\""
                    + widthGuard(widths) + ") TO STDOUT (FORMAT binary)";
        });
    }

    /**
     * The first byte of a jsonb in binary COPY (its format version, 1, before the text; {@code jsonb_recv}). A jsonb
     * column is sent as that and its text, as a bytea, so that its text is made once, for the width and the wire.
     */
    static final String JSONB_VERSION = "'\\x01'::bytea";

    /**
     * {@link #copySql}'s bound on a row's width. A copy message is one row, and the driver buffers a message whole
     * before the engine sees a byte of it (its {@code maxResultBuffer} does not apply to COPY), so a row wider than the
     * limit fails the chunk here, on the server; the backfill then reads pages, which the limit bounds. The width is
     * the octet length of the text columns and of the jsonb columns' text (what goes out); the other target types are
     * a few bytes each. No cheaper bound holds: a jsonb number's text can be thousands of times its stored size. The
     * cast raises only for a row over the limit: {@code current_setting} is not folded at plan time.
     */
    private static String widthGuard(List<String> widths) {
        if (widths.isEmpty()) {
            return "";
        }
        return "\nWHERE (CASE WHEN " + String.join(" + ", widths) + " > current_setting('" + ROW_MAX_SETTING
                + "')::bigint THEN current_setting('" + TOO_WIDE_SETTING + "')::int END) IS NULL";
    }

    /**
     * The highest stamped change-log entry of each mapping's table for the tenancy, as committed now (0 when it has
     * none): one backward probe of {@code "SyncChange_stamped_idx"} per mapping. Mapping name → stamp.
     */
    public Map<String, Long> highestStamps(Connection ic, UUID tenancy, List<Mapping> mappings) throws SQLException {
        Map<String, Long> byTable = new HashMap<>();
        try (PreparedStatement ps = ic.prepareStatement(HIGHEST)) {
            ps.setQueryTimeout(timeoutSeconds);
            ps.setObject(1, tenancy);
            ps.setArray(2, ic.createArrayOf("text", mappings.stream().map(Mapping::tombstoneTable).distinct()
                    .toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    byTable.put(rs.getString(1), rs.getLong(2)); // NULL (no entry) reads as 0
                }
            }
        }
        Map<String, Long> high = new HashMap<>();
        mappings.forEach(m -> high.put(m.name(), byTable.getOrDefault(m.tombstoneTable(), 0L)));
        return high;
    }

    private static final String HIGHEST_OF_MANY = """
            SELECT x.t, m.n, (SELECT max(e."sequenceId") FROM "SyncChange" e
                              WHERE e."tenancyId" = x.t AND e."tableName" = m.n AND e."sequenceId" IS NOT NULL)
            FROM unnest(?::uuid[]) AS x(t) CROSS JOIN unnest(?::text[]) AS m(n)""";

    /** {@link #highestStamps} of every mapping of several tenancies in one statement: tenancy → mapping → stamp. */
    public Map<UUID, Map<String, Long>> highestStamps(Connection ic, List<UUID> tenancies) throws SQLException {
        Map<UUID, Map<String, Long>> byTable = new HashMap<>();
        try (PreparedStatement ps = ic.prepareStatement(HIGHEST_OF_MANY)) {
            ps.setQueryTimeout(timeoutSeconds);
            ps.setArray(1, ic.createArrayOf("uuid", tenancies.toArray()));
            ps.setArray(2, ic.createArrayOf("text", Mappings.ALL.stream().map(Mapping::tombstoneTable).distinct()
                    .toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    byTable.computeIfAbsent(rs.getObject(1, UUID.class), t -> new HashMap<>()).put(rs.getString(2),
                            rs.getLong(3));
                }
            }
        }
        Map<UUID, Map<String, Long>> high = new HashMap<>();
        for (UUID t : tenancies) {
            Map<String, Long> tables = byTable.getOrDefault(t, Map.of());
            Map<String, Long> byMapping = new HashMap<>();
            Mappings.ALL.forEach(m -> byMapping.put(m.name(), tables.getOrDefault(m.tombstoneTable(), 0L)));
            high.put(t, byMapping);
        }
        return high;
    }

    /**
     * The next page of the tenancy's live rows of {@code mapping} above {@code after} (null: from the start): at
     * most {@code limit} keys and {@code engine.page-max-bytes} of text, at least one key.
     */
    public Page readPage(Connection ic, UUID tenancy, Mapping mapping, String[] after, int limit)
            throws SQLException {
        Source source = source(mapping);
        int columns = mapping.columns().size();
        int order = source.order().size();
        after = usablePosition(mapping, after);
        List<Row> rows = new ArrayList<>();
        List<String[]> keys = new ArrayList<>();
        String[] last = null;
        int read = 0;
        long available = 0;
        try (PreparedStatement ps = ic.prepareStatement(sql(mapping, after != null, limit,
                ChangeReader.rowBound(rowMaxBytes)))) {
            ps.setQueryTimeout(timeoutSeconds);
            ps.setLong(bindKeyset(ps, tenancy, after), pageMaxBytes);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    read++;
                    available = rs.getLong(columns + 2 + order);
                    last = new String[order];
                    for (int k = 0; k < order; k++) {
                        last[k] = rs.getString(columns + 2 + k);
                    }
                    if (rs.getBoolean(columns + 1)) {
                        continue;
                    }
                    String[] values = new String[columns];
                    for (int c = 0; c < columns; c++) {
                        values[c] = rs.getString(c + 1);
                    }
                    long own = rs.getLong(columns + 3 + order);
                    rows.add(new Row(values, 0, false, own > ChangeReader.rowBound(rowMaxBytes) ? own : 0));
                    keys.add(last);
                }
            }
        }
        return new Page(rows, keys, last, read, read < available);
    }

    /** Binds a walk's parameters: the tenancy, then the key it starts above (if any); returns the next index. */
    private static int bindKeyset(PreparedStatement ps, UUID tenancy, String[] after) throws SQLException {
        int i = 1;
        ps.setObject(i++, tenancy);
        if (after != null) {
            for (String value : after) {
                ps.setString(i++, value);
            }
        }
        return i;
    }

    static Source source(Mapping mapping) {
        Source source = SOURCES.get(mapping.name());
        if (source == null) {
            throw new IllegalStateException(mapping.name() + " has no backfill source");
        }
        return source;
    }

    /**
     * The page statement: the first page ({@code keyset} false) or one above a key, {@code limit} keys, cut by bytes
     * ({@link #byteCut}).
     */
    static String sql(Mapping mapping, boolean keyset, int limit, long rowBound) {
        return STATEMENTS.computeIfAbsent(mapping.name() + (keyset ? ">" : "") + limit + "/" + rowBound,
                n -> byteCut(mapping, render(mapping, keyset, limit, "?::uuid"), "?", rowBound));
    }

    /**
     * {@code page} ({@link #render}) cut by bytes on the server: a key is returned while the text of the keys
     * before it and its own stays within {@code maxBytes}, and the first key always (a row wider than the limit
     * is a page of its own). A row wider than {@code rowBound} (unless that is {@link Long#MAX_VALUE}) keeps only its
     * key and order columns, as the log read does ({@link ChangeReader}). Rows: {@code page}'s, then how many keys the
     * key limit alone would have returned, then the row's own width.
     */
    private static String byteCut(Mapping mapping, String page, String maxBytes, long rowBound) {
        int columns = mapping.columns().size();
        int order = source(mapping).order().size();
        java.util.Set<Integer> keys = java.util.Arrays.stream(mapping.keyIndexes()).boxed()
                .collect(Collectors.toSet());
        List<String> names = new ArrayList<>();
        List<String> outer = new ArrayList<>();
        List<String> bytes = new ArrayList<>();
        for (int c = 0; c < columns; c++) {
            String name = mapping.columns().get(c).quoted();
            names.add("\"_p\"." + name);
            outer.add(keys.contains(c) || rowBound == Long.MAX_VALUE ? name
                    : "CASE WHEN \"_own\" > " + rowBound + " THEN NULL ELSE " + name + " END AS " + name);
            bytes.add("coalesce(octet_length(\"_p\"." + name + "), 0)");
        }
        names.add("\"_p\".\"is_deleted\"");
        outer.add("\"is_deleted\"");
        String orderNames = java.util.stream.IntStream.range(0, order).mapToObj(k -> "\"_p\".\"_o" + k + "\"")
                .collect(Collectors.joining(", "));
        String width = String.join(" + ", bytes);
        return "SELECT " + String.join(", ", outer) + ", " + orderNames.replace("\"_p\".", "")
                + ", \"_all\", \"_own\" FROM (\nSELECT " + String.join(", ", names) + ", " + orderNames
                + ", row_number() OVER \"_w\" AS \"_n\", sum(" + width + ") OVER \"_w\" AS \"_bytes\","
                + " count(*) OVER () AS \"_all\", " + width + " AS \"_own\"\nFROM (" + page + ") AS \"_p\"\n"
                + "WINDOW \"_w\" AS (ORDER BY \"_p\".\"_r\" ROWS UNBOUNDED PRECEDING)"
                + ") AS \"_c\"\nWHERE \"_n\" = 1 OR \"_bytes\" <= " + maxBytes + "\nORDER BY \"_n\"";
    }

    /** The widest mapping: every row of the batched read has this many value columns (narrower ones pad). */
    private static final int MAX_COLUMNS = Mappings.ALL.stream().mapToInt(m -> m.columns().size()).max()
            .orElseThrow();

    private static final Map<String, String> BATCHES = new ConcurrentHashMap<>();

    /**
     * The first page, at most {@code limit} keys, of every mapping of every tenancy in {@code tenancies}, in ONE
     * statement (each mapping a LATERAL page per tenancy, as {@link #readPage} renders it): tenancy position →
     * mapping index ({@link Mappings#ALL}) → page. A page's {@code lastKey} is not set (a tenancy whose page is
     * full or cut by bytes is backfilled alone, from the start). Each page carries at most
     * {@code engine.page-max-bytes} divided among the tenancies (at least one key). For the first sync of many small tenancies sharing a target.
     */
    public List<List<Page>> readFirstPages(Connection ic, List<UUID> tenancies, int limit) throws SQLException {
        int mappings = Mappings.ALL.size();
        List<List<List<Row>>> rows = new ArrayList<>();
        int[][] read = new int[tenancies.size()][mappings];
        long[][] available = new long[tenancies.size()][mappings];
        for (int u = 0; u < tenancies.size(); u++) {
            List<List<Row>> perMapping = new ArrayList<>();
            for (int k = 0; k < mappings; k++) {
                perMapping.add(new ArrayList<>());
            }
            rows.add(perMapping);
        }
        long rowBound = ChangeReader.rowBound(rowMaxBytes);
        try (PreparedStatement ps = ic.prepareStatement(BATCHES.computeIfAbsent(limit + "/" + rowBound,
                n -> renderBatch(limit, rowBound)))) {
            // Planning the union of every mapping is costly: server-prepared from the first use, planned once per
            // connection (as the batched log read, see ChangeReader).
            ps.unwrap(org.postgresql.PGStatement.class).setPrepareThreshold(1);
            ps.setQueryTimeout(timeoutSeconds);
            ps.setArray(1, ic.createArrayOf("uuid", tenancies.toArray()));
            ps.setLong(2, Math.max(1, pageMaxBytes / Math.max(1, tenancies.size())));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    int k = rs.getInt(1);
                    int u = (int) rs.getLong(2) - 1;
                    read[u][k]++;
                    available[u][k] = rs.getLong(4 + MAX_COLUMNS);
                    if (rs.getBoolean(3)) {
                        continue;
                    }
                    int columns = Mappings.ALL.get(k).columns().size();
                    String[] values = new String[columns];
                    for (int c = 0; c < columns; c++) {
                        values[c] = rs.getString(c + 4);
                    }
                    long own = rs.getLong(5 + MAX_COLUMNS);
                    rows.get(u).get(k).add(new Row(values, 0, false, own > rowBound ? own : 0));
                }
            }
        }
        List<List<Page>> pages = new ArrayList<>();
        for (int u = 0; u < tenancies.size(); u++) {
            List<Page> perMapping = new ArrayList<>();
            for (int k = 0; k < mappings; k++) {
                perMapping.add(new Page(rows.get(u).get(k), List.of(), null, read[u][k],
                        read[u][k] < available[u][k]));
            }
            pages.add(perMapping);
        }
        return pages;
    }

    /**
     * Parameters: the tenancies (uuid[]), the byte limit of each page ({@link #byteCut}). Rows: mapping index, the
     * tenancy's 1-based position, is_deleted, then {@link #MAX_COLUMNS} text values, then how many keys the page had
     * before the byte limit, then the row's own width.
     */
    private static String renderBatch(int limit, long rowBound) {
        StringBuilder sql = new StringBuilder(
                "WITH x AS MATERIALIZED (SELECT u.*, \"_b\".\"b\" FROM unnest(?::uuid[]) WITH ORDINALITY AS u(\"t\", \"i\")"
                        + " CROSS JOIN (SELECT ?::bigint AS \"b\") AS \"_b\")\n");
        for (int k = 0; k < Mappings.ALL.size(); k++) {
            Mapping mapping = Mappings.ALL.get(k);
            if (k > 0) {
                sql.append("\nUNION ALL\n");
            }
            sql.append("SELECT ").append(k).append(", x.\"i\", p.\"is_deleted\", ")
                    .append(FetchSql.textColumns(mapping, "p"))
                    .append(", NULL::text".repeat(MAX_COLUMNS - mapping.columns().size())).append(", p.\"_all\"")
                    .append(", p.\"_own\"\nFROM x CROSS JOIN LATERAL (\n")
                    .append(byteCut(mapping, render(mapping, false, limit, "x.\"t\""), "x.\"b\"", rowBound))
                    .append("\n) AS p");
        }
        return sql.toString();
    }

    /**
     * Rows: the target columns' text forms, {@code is_deleted}, then the order columns' text forms, then the row's
     * position in that order ({@code "_r"}, what {@link #byteCut} sums in). Each key's live
     * row is a LATERAL subquery kept apart ({@code OFFSET 0}): joined as a whole, the planner cannot see through the
     * {@code "primaryKey"} JSON and chose hash joins over a sequential scan of the whole source table for every page.
     * The limit is a literal: with {@code LIMIT ?} the generic plan of {@code team_invitations} sorted the tenancy's
     * whole rest instead of walking the index. The tenancy is
     * one parameter however often the source mentions it ({@code ?1}); JDBC only knows {@code ?}, so it is bound in
     * a one-row subquery every mention reads.
     */
    private static String render(Mapping mapping, boolean keyset, int limit, String tenancyValue) {
        return mapping.scan() != null ? renderScan(mapping, keyset, limit, tenancyValue)
                : renderJoin(mapping, keyset, limit, tenancyValue);
    }

    /**
     * The page of a mapping without a {@link Mapping.Scan}: each key of the source walk joined back to its live row
     * through the mapping's fetch. Also what a test holds {@link #renderScan} against.
     */
    static String renderJoin(Mapping mapping, boolean keyset, int limit, String tenancyValue) {
        return page(mapping, "k", source(mapping).order().size(),
                joinFrom(mapping, keyset ? bindParameters(source(mapping)) : null, null, limit, tenancyValue));
    }

    /** {@link #renderJoin}'s FROM clause: the keys walk, each key's live row a LATERAL named {@code "_live"}. */
    private static String joinFrom(Mapping mapping, List<String> lower, List<String> upper, int limit,
            String tenancyValue) {
        Source source = source(mapping);
        Mapping.Fetch fetch = mapping.fetch();
        List<String> order = source.order().stream().map(c -> "s." + Identifiers.quote(c)).toList();
        List<String> outputs = new ArrayList<>();
        for (int k = 0; k < order.size(); k++) {
            outputs.add(order.get(k) + " AS \"_o" + k + "\"");
        }
        String tenancy = source.tenancy().replace("?1", "tp.\"id\"");
        String keysPage = walk(source, tenancy + " AS \"tenancyId\", " + source.primaryKey() + " AS \"primaryKey\", "
                + String.join(", ", outputs), lower, upper, limit, tenancyValue);
        return "(\n    " + keysPage + ") AS k\nCROSS JOIN LATERAL (\nSELECT "
                + fetch.select() + ",\n       (" + fetch.deleted() + ") AS \"is_deleted\"\nFROM (SELECT k.\"tenancyId\", "
                + "k.\"primaryKey\") AS " + FetchSql.CHANGE + "\n" + fetch.joins() + "\nOFFSET 0) AS \"_live\"";
    }

    /**
     * The page of a mapping with a {@link Mapping.Scan}: the same source walk ({@link #renderJoin}'s keys page, whole
     * rows instead of keys), its rows named by the scan's alias, then only the scan's joins. Same output as
     * {@link #renderJoin}; {@code is_deleted} is always false (see {@link Mapping.Scan}).
     */
    static String renderScan(Mapping mapping, boolean keyset, int limit, String tenancyValue) {
        return page(mapping, "\"_live\"", source(mapping).order().size(),
                scanFrom(mapping, keyset ? bindParameters(source(mapping)) : null, null, limit, tenancyValue));
    }

    /** {@link #renderScan}'s FROM clause: the rows walk through the scan's joins, named {@code "_live"}. */
    private static String scanFrom(Mapping mapping, List<String> lower, List<String> upper, int limit,
            String tenancyValue) {
        Source source = source(mapping);
        Mapping.Scan scan = mapping.scan();
        String alias = Identifiers.quote(scan.alias());
        int order = source.order().size();
        String rowsPage = walk(source, "s.*", lower, upper, limit, tenancyValue);
        List<String> outputs = new ArrayList<>();
        for (int k = 0; k < order; k++) {
            outputs.add(alias + "." + Identifiers.quote(source.order().get(k)) + " AS \"_o" + k + "\"");
        }
        return "(\nSELECT " + scan.select() + ",\n       false AS \"is_deleted\", "
                + String.join(", ", outputs) + "\nFROM (\n    " + rowsPage + ") AS " + alias + "\n" + scan.joins()
                + "\nOFFSET 0) AS \"_live\"";
    }

    /**
     * What both page forms return from {@code from} (which names the live rows {@code "_live"} and the order columns
     * {@code <orderOf>."_o0"…}): the target columns as text, {@code is_deleted}, the order columns as text and the
     * row's position in that order ({@code "_r"}), in that order.
     */
    private static String page(Mapping mapping, String orderOf, int order, String from) {
        String orderBy = java.util.stream.IntStream.range(0, order).mapToObj(k -> orderOf + ".\"_o" + k + "\"")
                .collect(Collectors.joining(", "));
        String orderText = java.util.stream.IntStream.range(0, order).mapToObj(k -> orderOf + ".\"_o" + k + "\"::text")
                .collect(Collectors.joining(", "));
        return "SELECT " + FetchSql.textColumns(mapping, "\"_live\"") + ", \"_live\".\"is_deleted\", " + orderText
                + ", row_number() OVER (ORDER BY " + orderBy + ") AS \"_r\"\nFROM " + from + "\nORDER BY " + orderBy;
    }

    /**
     * The walk both page forms start from: {@code select} over the tenancy's source rows ({@code s}) in index order,
     * above the previous page's last key when {@code keyset} (one parameter per order column), {@code limit} rows.
     */
    private static String walk(Source source, String select, boolean keyset, int limit, String tenancyValue) {
        return walk(source, select, keyset ? bindParameters(source) : null, null, limit, tenancyValue);
    }

    /** One bind parameter per order column, cast to its type. */
    private static List<String> bindParameters(Source source) {
        return source.types().stream().map(t -> "?::" + t).toList();
    }

    /**
     * The walk over the tenancy's source rows in index order: above {@code lower} and at most {@code upper} (SQL
     * expressions, one per order column; null: unbounded on that side), at most {@code limit} rows (0: no limit).
     */
    private static String walk(Source source, String select, List<String> lower, List<String> upper, int limit,
            String tenancyValue) {
        List<String> order = source.order().stream().map(c -> "s." + Identifiers.quote(c)).toList();
        String filter = source.tenancyFilter().replace("?1", "tp.\"id\"").replace("?", "tp.\"id\"");
        String keyPredicate = "";
        if (lower != null) {
            keyPredicate += "\n      AND (" + String.join(", ", order) + ") > (" + String.join(", ", lower) + ")";
        }
        if (upper != null) {
            keyPredicate += "\n      AND (" + String.join(", ", order) + ") <= (" + String.join(", ", upper) + ")";
        }
        return "SELECT " + select + "\n    FROM (SELECT " + tenancyValue + " AS \"id\") AS tp, "
                + Identifiers.quote(source.table()) + " AS s\n    WHERE " + filter.replace("\n", "\n    ")
                + keyPredicate + "\n    ORDER BY " + String.join(", ", order) + (limit > 0 ? "\n    LIMIT " + limit : "");
    }
}
