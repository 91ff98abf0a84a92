package dev.externaldbsync.verifier;

import dev.externaldbsync.sql.Identifiers;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;

import dev.externaldbsync.config.TenancyDirectory;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/**
 * The tenancies to check, in order, with their environment config, never more than one page in memory.
 * <ul>
 * <li>By id (default): keyset pages of {@value #PAGE} ({@code WHERE id > last ORDER BY id}), each read in its own
 * short transaction; {@code START} is an {@code OFFSET} on the first page only.
 * <li>{@code --recent-first}: by the tenancy's <b>most recent change = the greatest {@code "sequenceId"}</b> over its
 * rows in every source table of {@link Mappings#ALL} that has {@code "tenancyId"} and {@code "sequenceId"} columns,
 * and {@code "DeletedRow"} (deletes are changes too); ties and never-stamped tenancies (last) by id. The value is not
 * indexed, so a keyset page would recompute and sort it for every tenancy on every page; instead one ordered query
 * is streamed with a server-side cursor on a dedicated read-only connection (one sort, one snapshot of the order).
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

    static TenancySource recentFirst(Connection internal, Connection dedicated, long start, long count)
            throws SQLException {
        TenancySource source = new TenancySource(internal, start, count, null, dedicated);
        List<String> tables = recencyTables(dedicated);
        String recency = tables.isEmpty() ? "NULL::bigint"
                : "GREATEST(" + tables.stream()
                        .map(t -> "(SELECT max(x.\"sequenceId\") FROM " + Identifiers.quote(t)
                                + " x WHERE x.\"tenancyId\" = t.\"id\")")
                        .collect(Collectors.joining(", ")) + ")";
        source.recentStatement = dedicated.prepareStatement(TenancyDirectory.ENTRY_COLUMNS
                + TenancyDirectory.FROM_TENANCIES + "ORDER BY " + recency + " DESC NULLS LAST, t.\"id\" OFFSET ? LIMIT ?");
        source.recentStatement.setFetchSize(PAGE);
        source.recentStatement.setLong(1, start - 1);
        source.recentStatement.setLong(2, count);
        source.recent = source.recentStatement.executeQuery();
        return source;
    }

    /** The source tables that carry both a tenancy and a sequence id, checked in the catalog. */
    private static List<String> recencyTables(Connection c) throws SQLException {
        Set<String> candidates = new LinkedHashSet<>();
        for (Mapping m : Mappings.ALL) {
            candidates.add(m.sourceTable());
        }
        candidates.add("DeletedRow");
        List<String> tables = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT count(*) FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = ? AND column_name IN ('tenancyId', 'sequenceId')""")) {
            for (String t : candidates) {
                ps.setString(1, t);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    if (rs.getInt(1) == 2) {
                        tables.add(t);
                    }
                }
            }
        }
        return tables;
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
