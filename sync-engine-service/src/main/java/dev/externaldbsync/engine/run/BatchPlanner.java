package dev.externaldbsync.engine.run;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.externaldbsync.config.PostgresUrl;

/**
 * The batching policy, pure: which (tenancy, target)s of a request run together, and how many rows each may bring
 * to a batched read. No I/O, no state.
 */
public final class BatchPlanner {

    private BatchPlanner() {
    }

    /**
     * Splits a request's (tenancy, target)s into batches: those with the same connection string (the same database,
     * user and password: one pool, one schema bootstrap, one cursor table) together, in request order,
     * {@link #batchSize} each, and never one tenancy twice in a batch (two target ids naming one database share that
     * tenancy's cursors; they run in separate batches, as two runs would).
     */
    public static List<List<Unit>> plan(Iterable<List<Unit>> unitsPerTenancy, int parallelism, int maxTenancies) {
        Map<PostgresUrl, Integer> perTarget = new HashMap<>();
        unitsPerTenancy.forEach(units -> units.forEach(u -> perTarget.merge(u.target().url(), 1, Integer::sum)));
        Map<PostgresUrl, List<List<Unit>>> byTarget = new LinkedHashMap<>();
        for (List<Unit> units : unitsPerTenancy) {
            for (Unit unit : units) {
                int max = batchSize(perTarget.get(unit.target().url()), parallelism, maxTenancies);
                List<List<Unit>> chunks = byTarget.computeIfAbsent(unit.target().url(), k -> new ArrayList<>());
                List<Unit> home = null;
                for (List<Unit> chunk : chunks) {
                    if (chunk.size() < max && chunk.stream().noneMatch(u -> u.tenancyId().equals(unit.tenancyId()))) {
                        home = chunk;
                        break;
                    }
                }
                if (home == null) {
                    home = new ArrayList<>();
                    chunks.add(home);
                }
                home.add(unit);
            }
        }
        return byTarget.values().stream().flatMap(List::stream).toList();
    }

    /**
     * The size of each batch of {@code units} (tenancy, target)s that share a database: spread over every worker
     * ({@code parallelism}), so a request's tenancies still run in parallel, but never more than
     * {@code maxTenancies}. One batch does all its members' work in one transaction on one worker: cheapest in
     * total, but a request's tenancies become visible sooner when split into {@code parallelism} short batches (see
     * the README's batching measurements).
     */
    static int batchSize(int units, int parallelism, int maxTenancies) {
        int workers = Math.max(1, parallelism);
        int spread = (units + workers - 1) / workers;
        return Math.max(1, Math.min(maxTenancies, spread));
    }

    /**
     * The rows of each (tenancy, mapping) a batched read returns at most: the batch's share of {@code fetchRows},
     * never more than a page, rounded down to a power of two (it is a literal in the statement, so few distinct
     * statements get prepared). A tenancy that fills it continues alone, page by page.
     */
    public static int share(int tenancies, int pageSize, int fetchRows) {
        int rows = Math.max(1, Math.min(pageSize, fetchRows / Math.max(1, tenancies)));
        return Integer.highestOneBit(rows);
    }
}
