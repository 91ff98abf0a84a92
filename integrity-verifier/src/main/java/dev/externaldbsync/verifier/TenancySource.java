package dev.externaldbsync.verifier;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

import dev.externaldbsync.config.TenancyDirectory;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/**
 * The tenancies to check, in order, with their environment config, never more than one page in memory.
 * <ul>
 * <li>By id (default): keyset pages of {@value #PAGE} ({@code WHERE id > last ORDER BY id}), each read in its own
 * short transaction; {@code START} is an {@code OFFSET} on the first page only.
 * <li>{@code --recent-first}: by the tenancy's <b>most recent change = its greatest stamped
 * {@code "SyncChange"."sequenceId"}</b> over the table names of {@link Mappings#ALL} (deletes are entries too);
 * ties and tenancies with no stamped entry (last) by id. The value is a few index probes per tenancy but no index
 * orders tenancies by it, so a keyset page would recompute and sort it for every tenancy on every page; instead one
 * ordered query is streamed with a server-side cursor on a dedicated read-only connection (one sort, one snapshot
 * of the order).
 * <li>{@code --tenancy}: exactly the given ids, in the given order.
 * </ul>
 * Not thread-safe.
 */
final class TenancySource implements AutoCloseable {

    /** A tenancy and its {@code "EnvironmentConfigOverride"."config"} JSON text (null when it has none). */
    record Tenancy(UUID id, String config) {
    }

    static final int PAGE = 500;

    private final Connection internal;
    private final long start;
    private final long count;
    private final List<UUID> explicit;
    private final Connection recentConnection;
    private PreparedStatement recentStatement;
    private ResultSet recent;
    private final Deque<Tenancy> page = new ArrayDeque<>();
    private UUID lastId;
    private long produced;
    private int explicitIndex;
    private boolean exhausted;

    private TenancySource(Connection internal, long start, long count, List<UUID> explicit,
            Connection recentConnection) {
        this.internal = internal;
        this.start = start;
        this.count = count;
        this.explicit = explicit;
        this.recentConnection = recentConnection;
    }

    static TenancySource byId(Connection internal, long start, long count) {
        return new TenancySource(internal, start, count, null, null);
    }

    static TenancySource explicit(Connection internal, List<UUID> ids) {
        return new TenancySource(internal, 1, ids.size(), List.copyOf(ids), null);
    }

    /**
     * A tenancy's most recent change: per table name of the mappings, the greatest stamped entry is the last entry of
     * that (tenancy, table) range of {@code "SyncChange_stamped_idx"} (a backward index probe, whatever the log's
     * size), and the greatest of those is the tenancy's. A plain {@code max} over the tenancy's entries would read
     * every entry it has.
     */
    private static final String RECENCY = """
            (SELECT max(r.s) FROM unnest(?::text[]) AS n(name),
                    LATERAL (SELECT max(x."sequenceId") AS s FROM "SyncChange" x
                             WHERE x."tenancyId" = t."id" AND x."tableName" = n.name
                               AND x."sequenceId" IS NOT NULL) r)""";

    static TenancySource recentFirst(Connection internal, Connection dedicated, long start, long count)
            throws SQLException {
        TenancySource source = new TenancySource(internal, start, count, null, dedicated);
        String[] tables = Mappings.ALL.stream().map(Mapping::tombstoneTable).distinct().toArray(String[]::new);
        source.recentStatement = dedicated.prepareStatement(TenancyDirectory.ENTRY_COLUMNS
                + TenancyDirectory.FROM_TENANCIES + "ORDER BY " + RECENCY + " DESC NULLS LAST, t.\"id\" OFFSET ? LIMIT ?");
        source.recentStatement.setFetchSize(PAGE);
        source.recentStatement.setArray(1, dedicated.createArrayOf("text", tables));
        source.recentStatement.setLong(2, start - 1);
        source.recentStatement.setLong(3, count);
        source.recent = source.recentStatement.executeQuery();
        return source;
    }

    /** How many tenancies this source will produce at most (for progress), counted once. */
    static long total(Connection internal, long start, long count) throws SQLException {
        try (PreparedStatement ps = internal.prepareStatement("SELECT count(*) FROM \"Tenancy\"");
                ResultSet rs = ps.executeQuery()) {
            rs.next();
            long all = rs.getLong(1);
            internal.commit();
            return Math.max(0, Math.min(count, all - (start - 1)));
        }
    }

    /** The next tenancy, or null when done. */
    Tenancy next() throws SQLException {
        if (produced >= count) {
            return null;
        }
        Tenancy t;
        if (explicit != null) {
            t = explicitIndex < explicit.size() ? explicitOne(explicit.get(explicitIndex++)) : null;
        } else if (recent != null) {
            t = recent.next() ? tenancy(TenancyDirectory.entry(recent)) : null;
        } else {
            if (page.isEmpty() && !exhausted) {
                fillPage();
            }
            t = page.poll();
        }
        if (t != null) {
            produced++;
        }
        return t;
    }

    /** An id given with {@code --tenancy}; an unknown id is a usage error (exit 2). */
    private Tenancy explicitOne(UUID id) throws SQLException {
        Optional<TenancyDirectory.Entry> entry = TenancyDirectory.byId(internal, id);
        internal.commit();
        return tenancy(entry.orElseThrow(() -> new IllegalArgumentException("no tenancy with id " + id)));
    }

    private static Tenancy tenancy(TenancyDirectory.Entry entry) {
        return new Tenancy(entry.tenancyId(), entry.config());
    }

    private void fillPage() throws SQLException {
        for (TenancyDirectory.Entry entry : TenancyDirectory.page(internal, lastId, start - 1, PAGE)) {
            page.add(tenancy(entry));
            lastId = entry.tenancyId();
        }
        internal.commit();
        if (page.size() < PAGE) {
            exhausted = true;
        }
    }

    @Override
    public void close() throws SQLException {
        if (recent != null) {
            recent.close();
            recentStatement.close();
            recentConnection.commit();
        }
    }
}
