package dev.externaldbsync.engine;

import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/**
 * The statements of a batched run: many tenancies that share one target, read and applied together. Built once
 * from {@link Mappings#ALL}; constants only, thread-safe.
 */
final class BatchSql {

    /** The widest mapping: every row of the batched read has this many value columns (narrower ones pad with NULL). */
    static final int MAX_COLUMNS = Mappings.ALL.stream().mapToInt(m -> m.columns().size()).max().orElseThrow();

    /** The {@code "m"} of a batched-read row that is not a row but "this tenancy has dead-lettered rows there". */
    static final int POISON_MARK = -1;

    /*
     * Every mapping's first page for every tenancy of a batch, and the mappings with dead-lettered rows, in ONE
     * statement (one round trip, one snapshot, taken after the run's locks). {@code %d} in the text is the per-tenancy
     * page size (a literal, see {@link #fetch(int)}). Parameters: tenancy ids (uuid[]), target ids (text[]), then one
     * cursor array (bigint[]) per mapping in registry order, all arrays in batch order. Rows: mapping index
     * ({@link #POISON_MARK} for a poison mark), the tenancy's 1-based position in the arrays, sequence id,
     * is_deleted, then {@link #MAX_COLUMNS} text values (a poison mark carries the mapping name first).
     * <p>
     * Each mapping is its own fetch query ({@link Mapping#fetchSql()}) run as a LATERAL subquery per tenancy, with
     * its range rewritten by {@link #lateralRanges}: two index probes and nothing returned for a mapping with nothing
     * above the cursor.
     */
    private static final class Template {
        // A holder: built on first use, after every pattern below is initialised.
        static final String FETCH = fetchAll();
    }

    private static final java.util.concurrent.ConcurrentHashMap<Integer, String> FETCH_BY_LIMIT =
            new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * The batched read with {@code limit} rows per tenancy and mapping. The limit is a literal, not a parameter: a
     * LIMIT the planner cannot see makes it cost every tenancy's whole range (measured: an estimated cost past
     * {@code jit_above_cost} at 20 tenancies, and 760 ms of JIT compilation per execution). Callers use a few
     * distinct limits (powers of two), so few statements are prepared per connection.
     */
    static String fetch(int limit) {
        return FETCH_BY_LIMIT.computeIfAbsent(limit, l -> Template.FETCH.replace(LIMIT_TOKEN, Integer.toString(l)));
    }

    private static final String LIMIT_TOKEN = "x.\"l\"";

    private static String fetchAll() {
        List<Mapping> all = Mappings.ALL;
        String cursorArrays = all.stream().map(m -> "?::bigint[]").collect(Collectors.joining(", "));
        String cursorNames = IntStream.range(0, all.size()).mapToObj(k -> "\"c" + k + "\"")
                .collect(Collectors.joining(", "));
        StringBuilder sql = new StringBuilder();
        // "pp"/"pb": the tenancy's project and branch, for mappings keyed by them (team invitations).
        sql.append("WITH x AS MATERIALIZED (\n    SELECT u.*, tn.\"projectId\" AS \"pp\", tn.\"branchId\" AS \"pb\"\n")
                .append("    FROM unnest(?::uuid[], ?::text[], ").append(cursorArrays)
                .append(") WITH ORDINALITY AS u(\"t\", \"g\", ").append(cursorNames).append(", \"i\")\n")
                .append("    LEFT JOIN \"Tenancy\" tn ON tn.\"id\" = u.\"t\")\n");
        sql.append("SELECT ").append(POISON_MARK).append(", q.\"i\", 0::bigint, false, q.\"mappingName\"")
                .append(padding(1)).append("\nFROM (SELECT DISTINCT x.\"i\", p.\"mappingName\" FROM x")
                .append(" JOIN \"SyncEnginePoisonRow\" p ON p.\"tenancyId\" = x.\"t\" AND p.\"targetId\" = x.\"g\") q");
        for (int k = 0; k < all.size(); k++) {
            Mapping mapping = all.get(k);
            String values = mapping.columns().stream().map(c -> "p." + c.quoted() + "::text")
                    .collect(Collectors.joining(", "));
            String bound = bind(mapping.fetchSql(), mapping.fetchParameters(), "x.\"t\"", "x.\"c" + k + "\"",
                    LIMIT_TOKEN);
            sql.append("\nUNION ALL\nSELECT ").append(k).append(", x.\"i\", p.\"sequence_id\", p.\"is_deleted\", ")
                    .append(values).append(padding(mapping.columns().size()))
                    .append("\nFROM x CROSS JOIN LATERAL (\n").append(lateralRanges(mapping.name(), bound))
                    .append("\n) AS p");
        }
        return sql.toString();
    }

    private static final String MAX = "9223372036854775807";

    /** A live branch's range over ("tenancyId", "sequenceId"), see {@link Mapping}. */
    private static final Pattern LIVE_RANGE = Pattern.compile(
            "\\((\\w+)\\.\"tenancyId\", \\1\\.\"sequenceId\"\\) > \\(x\\.\"t\", (x\\.\"c\\d+\")\\)\\s+"
                    + "AND \\(\\1\\.\"tenancyId\", \\1\\.\"sequenceId\"\\) <= \\(x\\.\"t\", " + MAX + "\\)");

    /** A tombstone branch's range over ("tenancyId", "tableName", "sequenceId"). */
    private static final Pattern TOMBSTONE_RANGE = Pattern.compile(
            "\\(d\\.\"tenancyId\", d\\.\"tableName\", d\\.\"sequenceId\"\\) > \\(x\\.\"t\", '([^']+)', (x\\.\"c\\d+\")\\)"
                    + "\\s+AND \\(d\\.\"tenancyId\", d\\.\"tableName\", d\\.\"sequenceId\"\\) <= \\(x\\.\"t\", '\\1', "
                    + MAX + "\\)");

    /** The team invitations' range over ("projectId", "branchId", "sequenceId"), the tenancy's looked up. */
    private static final Pattern PROJECT_RANGE = Pattern.compile(
            "\\((\\w+)\\.\"projectId\", \\1\\.\"branchId\", \\1\\.\"sequenceId\"\\) > \\(\\s*"
                    + "SELECT tn\\.\"projectId\", tn\\.\"branchId\", q\\.\"cursor\"\\s+"
                    + "FROM \\(SELECT x\\.\"t\"::uuid AS \"id\", (x\\.\"c\\d+\")::bigint AS \"cursor\"\\) q "
                    + "JOIN \"Tenancy\" tn ON tn\\.\"id\" = q\\.\"id\"\\)\\s+"
                    + "AND \\(\\1\\.\"projectId\", \\1\\.\"branchId\", \\1\\.\"sequenceId\"\\) <= \\(\\s*"
                    + "SELECT tn\\.\"projectId\", tn\\.\"branchId\", " + MAX + "::bigint FROM \"Tenancy\" tn\\s+"
                    + "WHERE tn\\.\"id\" = x\\.\"t\"::uuid\\)");

    /**
     * Rewrites the bound fetch query's ranges for a LATERAL subquery. A single run binds the tenancy and cursor as
     * parameters, and there the row comparisons {@code (tenancy, sequence) > (?, ?)} are what make every plan an
     * index range scan (see {@link Mapping}). Against the outer row of a LATERAL join the same comparisons are only
     * half used: measured, PostgreSQL used the tenancy as the index condition, filtered on the sequence id and sorted
     * the tenancy's whole range (and picked an unrelated index on ("tenancyId", "createdAt") to do it), so a big
     * tenancy in a batch would read every one of its rows. The equality form {@code "tenancyId" = x.t AND
     * "sequenceId" > x.c} is a parameterized range scan of the same index that stops after the page.
     *
     * @throws IllegalStateException when a branch's range is not one of the known shapes (every mapping has exactly
     *                               one per branch; a new shape must be added here, the engine's tests fail first)
     */
    static String lateralRanges(String mapping, String bound) {
        String out = LIVE_RANGE.matcher(bound).replaceAll("$1.\"tenancyId\" = x.\"t\" AND $1.\"sequenceId\" > $2");
        out = TOMBSTONE_RANGE.matcher(out).replaceAll(
                "d.\"tenancyId\" = x.\"t\" AND d.\"tableName\" = '$1' AND d.\"sequenceId\" > $2");
        out = PROJECT_RANGE.matcher(out).replaceAll(
                "$1.\"projectId\" = x.\"pp\" AND $1.\"branchId\" = x.\"pb\" AND $1.\"sequenceId\" > $2");
        if (out.contains(MAX) || countOf(bound, MAX) != 2) {
            throw new IllegalStateException("mapping " + mapping + ": a fetch range of an unknown shape; teach "
                    + "BatchSql.lateralRanges its LATERAL form");
        }
        return out;
    }

    private static String padding(int used) {
        return ", NULL::text".repeat(MAX_COLUMNS - used);
    }

    private static int countOf(String text, String part) {
        int n = 0;
        for (int i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + 1)) {
            n++;
        }
        return n;
    }

    /**
     * The fetch query with its {@code ?} placeholders replaced, in order, by the given expressions. Placeholders in
     * string literals, quoted identifiers and comments are not placeholders; the count must match the parameter list.
     *
     * @throws IllegalStateException when the query has another number of placeholders than parameters
     */
    static String bind(String sql, List<Mapping.FetchParameter> parameters, String tenancy, String cursor,
            String limit) {
        StringBuilder out = new StringBuilder(sql.length() + 64);
        int next = 0;
        int i = 0;
        while (i < sql.length()) {
            char ch = sql.charAt(i);
            if (ch == '\'' || ch == '"') {
                int end = sql.indexOf(ch, i + 1);
                while (end >= 0 && end + 1 < sql.length() && sql.charAt(end + 1) == ch) {
                    end = sql.indexOf(ch, end + 2); // a doubled quote inside the literal
                }
                end = end < 0 ? sql.length() - 1 : end;
                out.append(sql, i, end + 1);
                i = end + 1;
            } else if (ch == '-' && i + 1 < sql.length() && sql.charAt(i + 1) == '-') {
                int end = sql.indexOf('\n', i);
                end = end < 0 ? sql.length() : end;
                out.append(sql, i, end);
                i = end;
            } else if (ch == '?') {
                if (next >= parameters.size()) {
                    throw new IllegalStateException("fetch query has more placeholders than parameters");
                }
                out.append(switch (parameters.get(next++)) {
                case TENANCY_ID -> tenancy;
                case CURSOR -> cursor;
                case LIMIT -> limit;
                });
                i++;
            } else {
                out.append(ch);
                i++;
            }
        }
        if (next != parameters.size()) {
            throw new IllegalStateException("fetch query has " + next + " placeholders for " + parameters.size()
                    + " parameters");
        }
        return out.toString();
    }

    /** Try-locks every (tenancy, target) of a batch on the run's internal session; one boolean per key, in order. */
    static final String TRY_LOCKS = """
            SELECT pg_try_advisory_lock(x.k) FROM unnest(?::bigint[]) WITH ORDINALITY AS x(k, i) ORDER BY x.i""";

    static final String UNLOCKS = """
            SELECT count(*) FILTER (WHERE pg_advisory_unlock(x.k)) FROM unnest(?::bigint[]) AS x(k)""";

    /** Reads one config row per tenancy: id, config JSON (null without an override), paused. */
    static final String READ_CONFIGS = """
            SELECT t."id", e."config"::text,
                   EXISTS (SELECT 1 FROM "ExternalDbSyncTenancyPause" p WHERE p."tenancyId" = t."id")
            FROM "Tenancy" t
            LEFT JOIN "EnvironmentConfigOverride" e ON e."projectId" = t."projectId" AND e."branchId" = t."branchId"
            WHERE t."id" = ANY(?::uuid[])""";

    /** Every cursor of the batch's tenancies in the target; rows tenancy, mapping name, cursor. */
    static final String READ_CURSORS = """
            SELECT "tenancy_id", "mapping_name", "last_synced_sequence_id" FROM "_stack_sync_metadata"
            WHERE "tenancy_id" = ANY(?::uuid[])""";

    /**
     * Creates missing cursors at −1 and returns them (a row created meanwhile by someone else is returned with its
     * value: the no-op update makes RETURNING see it). Parameters tenancy uuid[], mapping text[].
     */
    static final String ENSURE_CURSORS = """
            INSERT INTO "_stack_sync_metadata" AS m ("tenancy_id", "mapping_name")
            SELECT * FROM unnest(?::uuid[], ?::text[])
            ON CONFLICT ("tenancy_id", "mapping_name") DO UPDATE SET "tenancy_id" = m."tenancy_id"
            RETURNING "tenancy_id", "mapping_name", "last_synced_sequence_id\"""";

    /**
     * Creates the cursors of first syncs at their final values; an existing one is left alone (the caller compares
     * the count). Parameters tenancy uuid[], mapping text[], cursor bigint[].
     */
    static final String CREATE_CURSORS = """
            INSERT INTO "_stack_sync_metadata" ("tenancy_id", "mapping_name", "last_synced_sequence_id")
            SELECT * FROM unnest(?::uuid[], ?::text[], ?::bigint[])
            ON CONFLICT ("tenancy_id", "mapping_name") DO NOTHING""";

    /**
     * The cursor advance of every (tenancy, mapping) a batch applied, as one compare-and-set: each moves only if it
     * still is the value its rows were read from. Fewer updated rows than pairs means one moved underneath: the
     * caller rolls the whole batch back. Parameters tenancy uuid[], mapping text[], new cursor bigint[], expected
     * cursor bigint[].
     */
    static final String ADVANCE_CURSORS = """
            UPDATE "_stack_sync_metadata" AS m
            SET "last_synced_sequence_id" = GREATEST(m."last_synced_sequence_id", x.n), "updated_at" = now()
            FROM unnest(?::uuid[], ?::text[], ?::bigint[], ?::bigint[]) AS x(t, name, n, e)
            WHERE m."tenancy_id" = x.t AND m."mapping_name" = x.name AND m."last_synced_sequence_id" = x.e""";

    /** The mapping's upsert, returning the text form of the key of every row it really wrote. */
    static String upsertReturningKeys(Mapping mapping) {
        return mapping.upsertSql() + " RETURNING " + keyTexts(mapping);
    }

    /** The mapping's delete, returning the text form of the key of every row it removed. */
    static String deleteReturningKeys(Mapping mapping) {
        return mapping.deleteSql() + " RETURNING " + keyTexts(mapping);
    }

    private static String keyTexts(Mapping mapping) {
        return mapping.keyColumns().stream().map(k -> "t." + quote(k) + "::text").collect(Collectors.joining(", "));
    }

    private static String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }
}
