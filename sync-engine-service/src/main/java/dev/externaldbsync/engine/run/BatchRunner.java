package dev.externaldbsync.engine.run;

import static dev.externaldbsync.engine.run.RunContext.LOG;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import javax.sql.DataSource;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.TargetResult;
import dev.externaldbsync.engine.apply.PageApplier;
import dev.externaldbsync.engine.apply.Slice;
import dev.externaldbsync.engine.errors.RunAbort;
import dev.externaldbsync.engine.errors.SqlFailure;
import dev.externaldbsync.engine.read.ChangeReader;
import dev.externaldbsync.engine.read.Row;
import dev.externaldbsync.engine.store.DeadLetters;
import dev.externaldbsync.engine.store.ProgressStore;
import dev.externaldbsync.engine.target.TargetCursors;
import dev.externaldbsync.engine.target.TargetSession;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/**
 * One batch on one worker: the (tenancy, target)s of a request that share one external database. Its stages, in
 * order, are its methods: {@link #run} locks every member on one internal session (one not acquired answers BUSY),
 * then {@link Batch#run} opens the target session, bootstraps the schema, reads every cursor in one query, reads
 * every mapping's first page of every member in one query, applies all of it in ONE target transaction with every
 * cursor move, continues the members that filled their share alone, and mirrors the progress in one statement. A
 * batch the target rejects for any reason but a lost connection is re-run one member at a time, where a bad row is
 * bisected and dead-lettered within its own tenancy; a lost connection fails only this batch.
 */
final class BatchRunner {

    private final RunContext run;
    private final DataSource internal;

    BatchRunner(RunContext run, DataSource internal) {
        this.run = run;
        this.internal = internal;
    }

    /** Locks, runs the locked members together, releases; one result per member. */
    Map<Unit, TargetResult> run(List<Unit> units) {
        Map<Unit, TargetResult> results = new LinkedHashMap<>();
        try (Connection ic = internal.getConnection()) {
            boolean[] locked = RunLocks.tryLock(ic, RunLocks.keys(units));
            List<Unit> mine = new ArrayList<>();
            for (int i = 0; i < units.size(); i++) {
                if (locked[i]) {
                    mine.add(units.get(i));
                } else {
                    run.metrics().failure("busy");
                    results.put(units.get(i), new TargetResult(units.get(i).targetId(), Outcome.BUSY, true,
                            Map.of(), "another run holds this tenancy and target"));
                }
            }
            if (!mine.isEmpty()) {
                try {
                    results.putAll(new Batch(mine, ic).run());
                } finally {
                    RunLocks.unlock(ic, RunLocks.keys(mine));
                }
            }
        } catch (SQLException e) {
            String error = "internal database: " + SqlFailure.describe(e);
            run.sink().error(error);
            run.metrics().failure("internal");
            units.forEach(u -> results.putIfAbsent(u, RunContext.failed(u, Map.of(), error)));
        }
        return results;
    }

    /** The locked members of one batch and their run state; confined to the batch's thread. */
    private final class Batch {
        final List<Unit> units;
        final Connection ic;
        final PostgresUrl url;
        final ProgressStore.Batch progress = new ProgressStore.Batch();
        final Map<Unit, TargetResult> results = new LinkedHashMap<>();
        final int share;
        /** [member][mapping]: the cursor in the target, then (once the batch committed) the new one. */
        long[][] cursors;
        /** [member][mapping]: the cursor row does not exist in the target yet (first sync). */
        boolean[][] missing;
        boolean anyMissing;
        ChangeReader.BatchRead read;
        long[][] applied;

        Batch(List<Unit> units, Connection ic) {
            this.units = units;
            this.ic = ic;
            this.url = units.get(0).target().url();
            this.share = BatchPlanner.share(units.size(), run.pageSize(), run.fetchRows());
            this.applied = new long[units.size()][Mappings.ALL.size()];
        }

        Map<Unit, TargetResult> run() {
            try (TargetSession session = TargetSession.open(run.pools(), url)) {
                try {
                    runOn(session);
                } catch (SQLException e) {
                    throw session.failed(e);
                }
            } catch (RunAbort.ShuttingDown e) {
                units.forEach(u -> results.putIfAbsent(u, RunContext.failed(u, Map.of(), RunAbort.SHUTTING_DOWN)));
            } catch (SQLException e) {
                failRemaining("target " + url.redacted() + ": " + SqlFailure.describe(e));
            }
            try {
                progress.flush(ic);
            } catch (SQLException e) {
                LOG.warnf("Cannot record progress in the internal database: %s", SqlFailure.describe(e));
            }
            return results;
        }

        private void runOn(TargetSession session) throws SQLException {
            Connection tc = session.connection();
            run.schema().ensure(tc, url);
            readCursors(tc);
            read = run.reader().readBatch(ic, units.stream().map(Unit::tenancyId).toList(),
                    units.stream().map(Unit::targetId).toList(), cursors, share);
            if (read.rows() > 0 || anyMissing) {
                run.checkRunning();
                try {
                    apply(tc);
                } catch (SQLException | RunAbort.Conflict e) {
                    if (e instanceof SQLException sql && SqlFailure.isConnection(sql)) {
                        throw sql;
                    }
                    // Anything else (a bad row, a dropped table, …) the single runs meet again and handle, each
                    // within its own tenancy.
                    if (units.size() > 1) {
                        String why = e instanceof SQLException sql ? SqlFailure.describe(sql) : e.getMessage();
                        LOG.infof("A batch of %d tenancies failed in %s, re-running them one by one: %s",
                                units.size(), url.redacted(), why);
                    }
                    for (Unit unit : units) {
                        results.put(unit, RunContext.inMdc(unit,
                                () -> new UnitRunner(run, unit, ic, progress).runAlone(session)));
                    }
                    return;
                }
            }
            continueOrFinish(session);
        }

        /** Every cursor of the batch's tenancies in one query; a missing one (first sync) reads as −1. */
        private void readCursors(Connection tc) throws SQLException {
            tc.setAutoCommit(true);
            Map<UUID, Map<String, Long>> found = TargetCursors.readAll(tc,
                    units.stream().map(Unit::tenancyId).toList());
            int mappings = Mappings.ALL.size();
            cursors = new long[units.size()][mappings];
            missing = new boolean[units.size()][mappings];
            for (int u = 0; u < units.size(); u++) {
                Map<String, Long> own = found.getOrDefault(units.get(u).tenancyId(), Map.of());
                for (int k = 0; k < mappings; k++) {
                    Long cursor = own.get(Mappings.ALL.get(k).name());
                    // First sync of this mapping here: read from the start; the cursor row is created in the
                    // batch's transaction, already at its final value.
                    cursors[u][k] = cursor == null ? -1 : cursor;
                    missing[u][k] = cursor == null;
                    anyMissing |= cursor == null;
                }
            }
        }

        /** Every member's first pages and cursor moves in ONE target transaction ({@link PageApplier}). */
        private void apply(Connection tc) throws SQLException {
            long started = System.nanoTime();
            List<Slice> slices = new ArrayList<>();
            List<int[]> positions = new ArrayList<>();
            for (int u = 0; u < units.size(); u++) {
                for (int k = 0; k < Mappings.ALL.size(); k++) {
                    List<Row> page = read.page(u, k);
                    if (!page.isEmpty() || missing[u][k]) {
                        slices.add(Slice.of(units.get(u).tenancyId(), Mappings.ALL.get(k), cursors[u][k],
                                missing[u][k], page));
                        positions.add(new int[] { u, k });
                    }
                }
            }
            long[] written = PageApplier.apply(tc, slices);
            Duration latency = Duration.ofNanos(System.nanoTime() - started);
            long[] perMapping = new long[Mappings.ALL.size()];
            boolean[] touched = new boolean[Mappings.ALL.size()];
            long total = 0;
            for (int s = 0; s < slices.size(); s++) {
                int u = positions.get(s)[0];
                int k = positions.get(s)[1];
                cursors[u][k] = slices.get(s).to();
                applied[u][k] = written[s];
                perMapping[k] += written[s];
                touched[k] |= !slices.get(s).rows().isEmpty();
                total += written[s];
            }
            for (int k = 0; k < perMapping.length; k++) {
                if (touched[k]) {
                    run.metrics().rowsApplied(Mappings.ALL.get(k).name(), perMapping[k]);
                    run.metrics().pageApplied(Mappings.ALL.get(k).name(), latency);
                }
            }
            run.sink().rowsApplied(total);
            clearResolvedPoison();
        }

        /** Dead-letter entries of rows that have now applied (usually none: only mappings marked in the read). */
        private void clearResolvedPoison() throws SQLException {
            for (int u = 0; u < units.size(); u++) {
                for (String name : read.mappingsWithPoison().get(u)) {
                    int k = ChangeReader.MAPPING_INDEX.getOrDefault(name, -1);
                    if (k < 0 || read.page(u, k).isEmpty()) {
                        continue;
                    }
                    Mapping mapping = Mappings.ALL.get(k);
                    String[] keys = read.page(u, k).stream().map(r -> RunContext.keyJson(mapping, r.values()))
                            .toArray(String[]::new);
                    DeadLetters.clear(ic, units.get(u).tenancyId(), units.get(u).targetId(), name, keys);
                }
            }
        }

        /** Members that filled their share of a mapping page it alone; the others are done. */
        private void continueOrFinish(TargetSession session) {
            for (int u = 0; u < units.size(); u++) {
                Unit unit = units.get(u);
                List<Mapping> full = new ArrayList<>();
                Map<String, Long> counts = new LinkedHashMap<>();
                Map<String, Long> after = new LinkedHashMap<>();
                for (int k = 0; k < Mappings.ALL.size(); k++) {
                    Mapping mapping = Mappings.ALL.get(k);
                    counts.put(mapping.name(), applied[u][k]);
                    after.put(mapping.name(), cursors[u][k]);
                    if (read.page(u, k).size() >= share) {
                        full.add(mapping);
                    } else {
                        progress.add(unit.tenancyId(), unit.targetId(), mapping.name(), cursors[u][k], applied[u][k]);
                    }
                }
                if (full.isEmpty()) {
                    results.put(unit, new TargetResult(unit.targetId(), Outcome.SYNCED, false, counts, null));
                } else {
                    Set<String> poison = read.mappingsWithPoison().get(u);
                    results.put(unit, RunContext.inMdc(unit, () -> new UnitRunner(run, unit, ic, progress)
                            .continueMappings(session, full, after, poison, counts)));
                }
            }
        }

        /** A lost target connection: every member not yet answered fails, retry. */
        private void failRemaining(String error) {
            List<ProgressStore.Key> keys = new ArrayList<>();
            for (Unit unit : units) {
                if (results.containsKey(unit)) {
                    continue;
                }
                for (Mapping mapping : Mappings.ALL) {
                    progress.markFailed(unit.tenancyId(), unit.targetId(), mapping.name());
                    keys.add(new ProgressStore.Key(unit.tenancyId(), unit.targetId(), mapping.name()));
                }
                results.put(unit, RunContext.failed(unit, Map.of(), error));
                run.metrics().failure("failed");
                RunContext.inMdc(unit, () -> {
                    LOG.warnf("Sync of tenancy %s target %s failed: %s", unit.tenancyId(), unit.targetId(), error);
                    return null;
                });
            }
            run.sink().error(error);
            try {
                ProgressStore.failures(ic, keys, error);
            } catch (SQLException e) {
                LOG.warnf("Cannot record a failure in the internal database: %s", SqlFailure.describe(e));
            }
        }
    }
}
