package dev.externaldbsync.engine.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.BooleanSupplier;

import dev.externaldbsync.config.TargetConfig;
import dev.externaldbsync.config.TargetConfigError;
import dev.externaldbsync.config.TargetConfigs;
import dev.externaldbsync.config.TenancyDirectory;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/**
 * Retention of the change log: the one owner of {@code "SyncChangeRetention"} and of every deletion of
 * {@code "SyncChange"} entries by the engine. Stateless; each call runs on the caller's internal connection.
 * <p>
 * <b>What is pruned.</b> Each mapping reads only the entries of its own {@code "tableName"}, so retention works per
 * (tenancy, table): its horizon is the lowest cursor, in the progress mirror ({@code "SyncEngineProgress"}), of the
 * table's mapping over the targets the tenancy has configured now. A configured target's mirror row with cursor −1
 * (backfilling, never synced) or a usable configured target without a mirror row for that mapping (it has not run
 * yet) stops pruning of that table. Without any such cursor (no configured target, or only unusable entries that
 * never synced) the horizon is the table's newest stamp. Stamped entries at or below the horizon are deleted, except
 * the table's newest entry, which is always kept (it holds the table's high-water mark for readers of the log, and
 * costs one entry per table). Unstamped entries are never touched. A tenancy whose whole config is unusable (invalid
 * JSON, too many targets) is left alone: its targets may come back. Mirror rows of targets the tenancy no longer
 * configures are removed, or a removed target would hold its tenancy's log for ever.
 * <p>
 * <b>The floor.</b> {@code "prunedThrough"} of (tenancy, table) is raised, committed, before that table's entries are
 * deleted (then in bounded statements, so no prune holds many row locks): whoever sees an entry missing also sees the
 * floor that explains it. It only rises, and it never passes a configured cursor, so no target that was counted is
 * ever sent to a backfill by it. A cursor c &ge; 0 below the floor of its mapping's table may have missed entries (a
 * target id renamed over the same database, a removed target added back): that (tenancy, target, mapping) is
 * backfilled from the live rows instead. Read the floor in the same snapshot as the log page it guards, or after
 * it: a prune that deleted entries the page needed committed its floor first.
 * <p>
 * <b>Race with a backfill</b> (the argument the design rests on): a backfill commits its mirror row (cursor −1)
 * before it reads its high-water mark H = greatest(newest stamp of the table, floor, 0). A pruner reads the
 * tenancy's config and mirror rows in one snapshot ({@link #plan}). A pruner whose snapshot did not see that row
 * computed its horizon from cursors already applied, or from the newest stamp, i.e. from stamps visible in a snapshot
 * taken before the row was committed: its horizon is at most the table's newest stamp in that snapshot. Retention
 * never deletes a table's newest entry and compaction only replaces an entry by a newer one, so the newest stamp H
 * reads is at least that high, H &ge; the horizon, and the log above H is untouched. A pruner whose snapshot saw the
 * row prunes nothing of that table. Config and mirror come from one snapshot, so a target configured after it has
 * no row in it either; and removing a target's mirror rows spares rows written since that snapshot.
 */
public final class ChangeRetention {

    /** Every table the mappings read, with the mappings reading it. */
    private static final Map<String, List<Mapping>> MAPPINGS_BY_TABLE = new LinkedHashMap<>();

    static {
        for (Mapping m : Mappings.ALL) {
            MAPPINGS_BY_TABLE.computeIfAbsent(m.tombstoneTable(), t -> new ArrayList<>()).add(m);
        }
    }

    private static final String[] TABLES = MAPPINGS_BY_TABLE.keySet().toArray(String[]::new);

    private ChangeRetention() {
    }

    // ---- the floor (API of the backfill) -----------------------------------------------------------------------

    private static final String FLOORS = """
            SELECT "tenancyId", "tableName", "prunedThrough" FROM "SyncChangeRetention"
            WHERE "tenancyId" = ANY(?::uuid[])""";

    /**
     * The highest floor of any table of the tenancy (0 when nothing was pruned). Right as a lower bound of a
     * backfill's high-water mark; for "is this cursor below the floor" use the per-mapping
     * {@link #prunedThrough(Connection, UUID, Mapping)}: a mapping whose table is idle keeps its cursor below the
     * floors of busier tables and would be backfilled needlessly.
     */
    public static long prunedThrough(Connection internal, UUID tenancy) throws SQLException {
        return prunedThrough(internal, List.of(tenancy)).getOrDefault(tenancy, 0L);
    }

    /** {@link #prunedThrough(Connection, UUID)} of several tenancies in one statement; every one is in the map. */
    public static Map<UUID, Long> prunedThrough(Connection internal, Collection<UUID> tenancies) throws SQLException {
        Map<UUID, Long> highest = new HashMap<>();
        tenancies.forEach(t -> highest.put(t, 0L));
        floors(internal, tenancies).forEach((t, byTable) -> byTable.values()
                .forEach(p -> highest.merge(t, p, Math::max)));
        return highest;
    }

    /** The floor of the table {@code mapping} reads, for one tenancy (0 when nothing of it was pruned). */
    public static long prunedThrough(Connection internal, UUID tenancy, Mapping mapping) throws SQLException {
        return floors(internal, List.of(tenancy)).getOrDefault(tenancy, Map.of())
                .getOrDefault(mapping.tombstoneTable(), 0L);
    }

    /**
     * The floor of every mapping (by mapping name, every mapping present, 0 when nothing of its table was pruned) of
     * several tenancies, in one statement; every tenancy is in the map.
     */
    public static Map<UUID, Map<String, Long>> prunedThroughByMapping(Connection internal,
            Collection<UUID> tenancies) throws SQLException {
        Map<UUID, Map<String, Long>> byTable = floors(internal, tenancies);
        Map<UUID, Map<String, Long>> result = new HashMap<>();
        for (UUID t : tenancies) {
            Map<String, Long> tables = byTable.getOrDefault(t, Map.of());
            Map<String, Long> byMapping = new LinkedHashMap<>();
            Mappings.ALL.forEach(m -> byMapping.put(m.name(), tables.getOrDefault(m.tombstoneTable(), 0L)));
            result.put(t, byMapping);
        }
        return result;
    }

    private static Map<UUID, Map<String, Long>> floors(Connection c, Collection<UUID> tenancies) throws SQLException {
        Map<UUID, Map<String, Long>> floors = new HashMap<>();
        if (tenancies.isEmpty()) {
            return floors;
        }
        try (PreparedStatement ps = c.prepareStatement(FLOORS)) {
            ps.setArray(1, c.createArrayOf("uuid", tenancies.toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    floors.computeIfAbsent(rs.getObject(1, UUID.class), k -> new HashMap<>())
                            .put(rs.getString(2), rs.getLong(3));
                }
            }
        }
        return floors;
    }

    // ---- finding work -----------------------------------------------------------------------------------------

    /**
     * Up to {@code limit} distinct tenancies with stamped entries, in id order, after {@code after} (null: from the
     * first): a loose scan of {@code "SyncChange_stamped_idx"}, one index descent per tenancy, whatever the log's size.
     */
    private static final String STAMPED_TENANCIES = """
            WITH RECURSIVE s(t, n) AS (
                SELECT (SELECT "tenancyId" FROM "SyncChange"
                        WHERE "sequenceId" IS NOT NULL AND "tenancyId" > ?::uuid ORDER BY "tenancyId" LIMIT 1), 1
                UNION ALL
                SELECT (SELECT "tenancyId" FROM "SyncChange"
                        WHERE "sequenceId" IS NOT NULL AND "tenancyId" > s.t ORDER BY "tenancyId" LIMIT 1), s.n + 1
                FROM s WHERE s.t IS NOT NULL AND s.n < ?)
            SELECT t FROM s WHERE t IS NOT NULL""";

    /** The sweep's next tenancies: see {@link #STAMPED_TENANCIES}; fewer than {@code limit} = the end was reached. */
    public static List<UUID> stampedTenancies(Connection c, UUID after, int limit) throws SQLException {
        List<UUID> found = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(STAMPED_TENANCIES)) {
            // From the start: the all-zero uuid, below every tenancy id (random uuids, never all zero).
            ps.setObject(1, after == null ? new UUID(0L, 0L) : after);
            ps.setInt(2, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    found.add(rs.getObject(1, UUID.class));
                }
            }
        }
        return found;
    }

    // ---- planning (one snapshot) ------------------------------------------------------------------------------

    /** One table's pruning: delete the stamped entries of (tenancy, table) at or below {@code through}. */
    public record Prune(String tableName, long through) {
    }

    /**
     * What to do for one tenancy.
     *
     * @param configured   the target ids it configures now (mirror rows of others are removed), or null when its
     *                     config is unusable as a whole (nothing is done for it)
     * @param prunes       the tables to prune, in table-name order
     * @param blocked      tables with entries to prune that a cursor of −1, or a target yet to run, holds back
     * @param lag          the largest distance, in sequence ids, between a table's newest stamp and its horizon
     * @param snapshotTime the plan's transaction time (text), which spares mirror rows written since
     * @param staleMirror  the snapshot holds mirror rows of a target not configured: only then is there anything to
     *                     remove (rows written since are spared anyway), so the sweep of idle tenancies costs no
     *                     statement per tenancy
     */
    public record Plan(UUID tenancyId, Set<String> configured, List<Prune> prunes, int blocked, long lag,
            String snapshotTime, boolean staleMirror) {

        public boolean idle() {
            return configured == null || prunes.isEmpty();
        }
    }

    private static final String MIRROR = """
            SELECT "tenancyId", "targetId", "mappingName", "cursor" FROM "SyncEngineProgress"
            WHERE "tenancyId" = ANY(?::uuid[])""";

    /** Per (tenancy, table): its lowest and newest stamped entries, two index probes of the stamped index. */
    private static final String PROBES = """
            SELECT x.t, n.n,
                   (SELECT s."sequenceId" FROM "SyncChange" s
                    WHERE s."tenancyId" = x.t AND s."tableName" = n.n AND s."sequenceId" IS NOT NULL
                    ORDER BY s."sequenceId" LIMIT 1),
                   (SELECT s."sequenceId" FROM "SyncChange" s
                    WHERE s."tenancyId" = x.t AND s."tableName" = n.n AND s."sequenceId" IS NOT NULL
                    ORDER BY s."sequenceId" DESC LIMIT 1)
            FROM unnest(?::uuid[]) AS x(t) CROSS JOIN unnest(?::text[]) AS n(n)""";

    /**
     * Plans the given tenancies from one snapshot (a REPEATABLE READ, read-only transaction on {@code c}, committed
     * before returning): their configs, mirror rows and stamped ranges. See the class comment for the rules.
     */
    public static List<Plan> plan(Connection c, Collection<UUID> tenancies) throws SQLException {
        if (tenancies.isEmpty()) {
            return List.of();
        }
        boolean autoCommit = c.getAutoCommit();
        int isolation = c.getTransactionIsolation();
        boolean readOnly = c.isReadOnly();
        try {
            c.setAutoCommit(false);
            c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
            c.setReadOnly(true);
            String now;
            try (PreparedStatement ps = c.prepareStatement("SELECT localtimestamp(3)::text");
                    ResultSet rs = ps.executeQuery()) {
                rs.next();
                now = rs.getString(1);
            }
            Map<UUID, TenancyDirectory.Entry> directory = TenancyDirectory.byIds(c, tenancies);
            Map<UUID, Map<String, Map<String, Long>>> mirror = new HashMap<>();
            try (PreparedStatement ps = c.prepareStatement(MIRROR)) {
                ps.setArray(1, c.createArrayOf("uuid", tenancies.toArray()));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        mirror.computeIfAbsent(rs.getObject(1, UUID.class), k -> new HashMap<>())
                                .computeIfAbsent(rs.getString(2), k -> new HashMap<>())
                                .put(rs.getString(3), rs.getLong(4));
                    }
                }
            }
            Map<UUID, Map<String, long[]>> ranges = new HashMap<>();
            try (PreparedStatement ps = c.prepareStatement(PROBES)) {
                ps.setArray(1, c.createArrayOf("uuid", tenancies.toArray()));
                ps.setArray(2, c.createArrayOf("text", TABLES));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        long lowest = rs.getLong(3);
                        if (!rs.wasNull()) {
                            ranges.computeIfAbsent(rs.getObject(1, UUID.class), k -> new HashMap<>())
                                    .put(rs.getString(2), new long[] { lowest, rs.getLong(4) });
                        }
                    }
                }
            }
            c.commit();
            List<Plan> plans = new ArrayList<>();
            for (UUID t : new LinkedHashSet<>(tenancies)) {
                plans.add(planOne(t, directory.get(t), mirror.getOrDefault(t, Map.of()),
                        ranges.getOrDefault(t, Map.of()), now));
            }
            return plans;
        } catch (SQLException | RuntimeException e) {
            try {
                c.rollback();
            } catch (SQLException ignored) {
                // The original failure is the one worth reporting.
            }
            throw e;
        } finally {
            c.setReadOnly(readOnly);
            c.setTransactionIsolation(isolation);
            c.setAutoCommit(autoCommit);
        }
    }

    /**
     * @param entry  the tenancy in the directory, null when it no longer exists (nothing is configured)
     * @param mirror target id → mapping name → cursor
     * @param ranges table → {lowest, newest} stamp
     */
    static Plan planOne(UUID tenancy, TenancyDirectory.Entry entry, Map<String, Map<String, Long>> mirror,
            Map<String, long[]> ranges, String now) {
        Set<String> usable = new HashSet<>();
        Set<String> configured = new TreeSet<>();
        if (entry != null) {
            TargetConfigs targets = entry.targets();
            for (TargetConfigError error : targets.errors()) {
                if (error.targetId().equals("*")) {
                    return new Plan(tenancy, null, List.of(), 0, 0, now, false);
                }
                configured.add(error.targetId());
            }
            for (TargetConfig target : targets.targets()) {
                usable.add(target.id());
                configured.add(target.id());
            }
        }
        List<Prune> prunes = new ArrayList<>();
        int blocked = 0;
        long lag = 0;
        for (String table : new TreeSet<>(ranges.keySet())) {
            long lowest = ranges.get(table)[0];
            long newest = ranges.get(table)[1];
            long horizon = newest;
            boolean held = false;
            for (String target : configured) {
                Map<String, Long> cursors = mirror.getOrDefault(target, Map.of());
                for (Mapping m : MAPPINGS_BY_TABLE.get(table)) {
                    Long cursor = cursors.get(m.name());
                    if (cursor == null) {
                        // A usable target that has not run this mapping yet will read it from −1; an entry that
                        // cannot be used and never synced needs nothing.
                        held |= usable.contains(target);
                    } else if (cursor < 0) {
                        held = true;
                    } else {
                        horizon = Math.min(horizon, cursor);
                    }
                }
            }
            long through = Math.min(horizon, newest - 1);
            if (held) {
                if (lowest < newest) {
                    blocked++;
                }
                continue;
            }
            lag = Math.max(lag, newest - horizon);
            if (lowest <= through) {
                prunes.add(new Prune(table, through));
            }
        }
        boolean stale = mirror.keySet().stream().anyMatch(target -> !configured.contains(target));
        return new Plan(tenancy, configured, prunes, blocked, lag, now, stale);
    }

    // ---- pruning ----------------------------------------------------------------------------------------------

    private static final String RAISE = """
            INSERT INTO "SyncChangeRetention" AS r ("tenancyId", "tableName", "prunedThrough", "updatedAt")
            SELECT ?, x.n, x.p, now() FROM unnest(?::text[], ?::bigint[]) AS x(n, p)
            ON CONFLICT ("tenancyId", "tableName") DO UPDATE SET
                "prunedThrough" = EXCLUDED."prunedThrough", "updatedAt" = now()
            WHERE r."prunedThrough" < EXCLUDED."prunedThrough\"""";

    /**
     * One bounded batch of a table's prunable entries, oldest first, through the stamped index; entries another
     * transaction holds (the sequencer compacting the same keys) are skipped and left for the next round.
     */
    private static final String DELETE = """
            DELETE FROM "SyncChange" WHERE "id" = ANY(ARRAY(
                SELECT "id" FROM "SyncChange"
                WHERE "tenancyId" = ? AND "tableName" = ? AND "sequenceId" IS NOT NULL AND "sequenceId" <= ?
                ORDER BY "sequenceId" LIMIT ? FOR UPDATE SKIP LOCKED))""";

    /** What {@link #prune} did for one tenancy. */
    public record Pruned(long entries, int mirrorRowsRemoved, boolean finished) {
    }

    /**
     * Carries out one tenancy's {@link Plan} on {@code c} (autocommit): removes the mirror rows of targets it no
     * longer configures, raises the floors of the tables to prune (one statement), then deletes their entries at
     * most {@code batch} per statement, until done or {@code stop} says so (what is left is found again later).
     */
    public static Pruned prune(Connection c, Plan plan, int batch, BooleanSupplier stop) throws SQLException {
        if (plan.configured() == null) {
            return new Pruned(0, 0, true);
        }
        int removed = plan.staleMirror() ? ProgressStore.removeUnconfiguredTargets(c, plan.tenancyId(),
                plan.configured(), plan.snapshotTime()) : 0;
        if (plan.prunes().isEmpty()) {
            return new Pruned(0, removed, true);
        }
        raise(c, plan.tenancyId(), plan.prunes());
        int limit = Math.max(1, batch);
        long deleted = 0;
        for (Prune p : plan.prunes()) {
            int n;
            do {
                if (stop.getAsBoolean()) {
                    return new Pruned(deleted, removed, false);
                }
                try (PreparedStatement ps = c.prepareStatement(DELETE)) {
                    ps.setObject(1, plan.tenancyId());
                    ps.setString(2, p.tableName());
                    ps.setLong(3, p.through());
                    ps.setInt(4, limit);
                    n = ps.executeUpdate();
                }
                deleted += n;
            } while (n >= limit);
        }
        return new Pruned(deleted, removed, true);
    }

    /** Raises the floors of one tenancy's tables (never lowers one), in one statement. */
    static void raise(Connection c, UUID tenancy, List<Prune> prunes) throws SQLException {
        List<Prune> sorted = new ArrayList<>(prunes);
        sorted.sort(Comparator.comparing(Prune::tableName));
        try (PreparedStatement ps = c.prepareStatement(RAISE)) {
            ps.setObject(1, tenancy);
            ps.setArray(2, c.createArrayOf("text", sorted.stream().map(Prune::tableName).toArray()));
            ps.setArray(3, c.createArrayOf("bigint", sorted.stream().map(Prune::through).toArray()));
            ps.executeUpdate();
        }
    }
}
