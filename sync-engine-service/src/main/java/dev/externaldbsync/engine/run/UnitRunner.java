package dev.externaldbsync.engine.run;

import static dev.externaldbsync.engine.run.RunContext.LOG;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.TargetResult;
import dev.externaldbsync.engine.apply.Bisector;
import dev.externaldbsync.engine.apply.PageApplier;
import dev.externaldbsync.engine.apply.Slice;
import dev.externaldbsync.engine.apply.StagedUpsert;
import dev.externaldbsync.engine.errors.RunAbort;
import dev.externaldbsync.engine.errors.SqlFailure;
import dev.externaldbsync.engine.read.ChangeReader;
import dev.externaldbsync.engine.read.LivePageReader;
import dev.externaldbsync.engine.read.Row;
import dev.externaldbsync.engine.store.DeadLetters;
import dev.externaldbsync.engine.store.ProgressStore;
import dev.externaldbsync.engine.target.TargetCursors;
import dev.externaldbsync.engine.target.TargetSession;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/**
 * One (tenancy, target) on its own, holding the lock its batch took; confined to one thread. Either the whole run
 * ({@link #runAlone}: a batch that had to be split) or the rest of a batched one ({@link #continueMappings}: the
 * mappings where the tenancy filled its share). Each mapping pages above its cursor until caught up, one page per
 * target transaction ({@link PageApplier}); a page the target rejects for its data is bisected ({@link Bisector})
 * and the offending rows dead-lettered. A failing mapping does not stop the others; a lost connection stops the run.
 * <p>
 * A mapping with no usable cursor (−1, below the retention floor, or a backfill in progress) is first filled by a
 * snapshot backfill ({@link #planBackfills}, {@code BackfillPager}): its live rows in key order, not the log from
 * the start, which would make a new target of a large tenancy cost a replay of every change it ever had (and cannot
 * work once retention pruned the log). The log read then continues above the backfill's high-water mark.
 * <p>
 * Only the mappings that have something to do are touched ({@link #activeMappings}, one {@link
 * dev.externaldbsync.engine.read.ChangedMappings} probe for all of them): the others are not read, get no cursor row
 * in the target (no row reads as −1) and no progress row.
 */
final class UnitRunner {

    private final RunContext run;
    private final Unit unit;
    private final UUID tenancyId;
    private final String targetId;
    private final Connection ic;
    private final ProgressStore.Batch progress;
    private final RunWatchdog.Deadline deadline;
    private final Map<String, Long> applied = new LinkedHashMap<>();
    /** Mappings this run has finished (applied up to date, or recorded as failed). */
    private final Set<String> done = new HashSet<>();
    private String firstError;

    UnitRunner(RunContext run, Unit unit, Connection ic, ProgressStore.Batch progress, RunWatchdog.Deadline deadline) {
        this.deadline = deadline;
        this.run = run;
        this.unit = unit;
        this.tenancyId = unit.tenancyId();
        this.targetId = unit.targetId();
        this.ic = ic;
        this.progress = progress;
    }

    TargetResult runAlone(TargetSession session) {
        return guarded(session, () -> {
            Connection tc = session.connection();
            run.schema().ensure(tc, session.url());
            tc.setAutoCommit(true);
            Map<String, Long> read;
            try {
                read = readCursors(tc);
            } catch (SQLException e) {
                if (SqlFailure.of(e) != SqlFailure.MISSING_TABLE) {
                    throw e;
                }
                // The cursor table is gone (a wiped target): bootstrap again; every cursor starts over at −1.
                run.schema().forget(session.url());
                run.schema().ensure(tc, session.url());
                tc.setAutoCommit(true);
                read = readCursors(tc);
            }
            Map<String, Long> cursors = read;
            Mappings.ALL.forEach(m -> applied.putIfAbsent(m.name(), 0L));
            Map<String, TargetCursors.Position> positions = TargetCursors.readPositions(tc, List.of(tenancyId))
                    .getOrDefault(tenancyId, Map.of());
            Map<String, Long> floors = run.retention().prunedThroughByMapping(ic, List.of(tenancyId))
                    .getOrDefault(tenancyId, Map.of());
            long[] probe = new long[Mappings.ALL.size()];
            for (int k = 0; k < probe.length; k++) {
                probe[k] = cursors.getOrDefault(Mappings.ALL.get(k).name(), -1L);
            }
            Set<String> changed = run.changes().changed(ic, tenancyId, probe);
            List<Mapping> active = activeMappings(cursors, changed, positions, floors);
            Mappings.ALL.stream().filter(m -> !active.contains(m)).forEach(m -> done.add(m.name()));
            Map<String, Backfill> backfills = planBackfills(active, cursors, changed, positions, floors);
            Set<String> withPoison = DeadLetters.mappingsWithPoison(ic, tenancyId, targetId);
            List<Mapping> toRun = new ArrayList<>(active);
            if (!backfills.isEmpty()) {
                backfills = backfillSmallOnes(tc, cursors, backfills, positions.keySet(), withPoison, changed, toRun);
            }
            // The mappings still to backfill page by page need their cursor row (their pages are guarded by it).
            List<String> rowless = toRun.stream().map(Mapping::name).filter(n -> !cursors.containsKey(n)).toList();
            if (!rowless.isEmpty()) {
                tc.setAutoCommit(true);
                cursors.putAll(TargetCursors.ensure(tc, tenancyId, rowless));
            }
            toRun.forEach(m -> run.metrics().mappingRead(m.name()));
            runMappings(tc, toRun, cursors, withPoison, backfills);
            progress.succeeded(tenancyId, targetId);
        });
    }

    /**
     * The mappings this run reads: those with stamped entries above their cursor ({@code changed}, where no cursor
     * row counts as −1), those whose cursor row asks for a backfill (reset to −1 by a resync, below the retention
     * floor, a backfill in progress), and on the tenancy's first contact with this target (no cursor row at all)
     * every mapping: live rows written before their change log existed, or whose entries were pruned, have no entry
     * to report them. After that contact a mapping without a row has neither rows nor entries, so only an entry can
     * give it some (captured in the same transaction), and the probe sees it.
     */
    static List<Mapping> activeMappings(Map<String, Long> cursors, Set<String> changed,
            Map<String, TargetCursors.Position> positions, Map<String, Long> floors) {
        boolean firstContact = cursors.isEmpty();
        return Mappings.ALL.stream().filter(m -> firstContact || changed.contains(m.name())
                || cursors.containsKey(m.name()) && needsBackfill(cursors.get(m.name()),
                        positions.containsKey(m.name()), floors.getOrDefault(m.name(), 0L)))
                .toList();
    }

    /** The rest of a batched run: its members never need a backfill (the batch sends those here whole). */
    TargetResult continueMappings(TargetSession session, List<Mapping> mappings, Map<String, Long> cursors,
            Set<String> withPoison, Map<String, Long> appliedSoFar) {
        applied.putAll(appliedSoFar);
        Mappings.ALL.stream().filter(m -> !mappings.contains(m)).forEach(m -> done.add(m.name()));
        return guarded(session, () -> {
            runMappings(session.connection(), mappings, cursors, withPoison, Map.of());
            progress.succeeded(tenancyId, targetId);
        });
    }

    /** A mapping to backfill: up to the stamp {@code high}, above the source key {@code after} (null: from the start). */
    record Backfill(long high, String[] after) {
    }

    /**
     * Whether a (tenancy, target, mapping) needs a snapshot backfill: it has a backfill position (one in progress),
     * a cursor of −1 (never synced here, reset by a resync, or a new cursor table after an adoption or a wiped
     * target), or a cursor below the tenancy's retention floor (entries it needs may be pruned).
     */
    static boolean needsBackfill(long cursor, boolean hasPosition, long floor) {
        return hasPosition || cursor < 0 || cursor < floor;
    }

    /**
     * Steps 1 and 2 of a backfill for every mapping that needs one: registers them in the progress mirror at −1
     * (committed: its own autocommit statement), THEN reads each one's high-water mark H. A backfill in progress
     * keeps the H it started with, unless retention has pruned beyond it since (then it starts over).
     *
     * <p>Why H is enough (step 2): stamping transactions are totally ordered by the sequencer's lock and draw their
     * ids under it, so every entry not stamped-and-committed when H is read gets an id above H. Every change of a
     * source row commits its change-log entry in the same transaction, and the entry is stamped after that commit.
     * A page (step 3) reads the live rows at a snapshot taken after H was read; so any change the page did not see
     * commits after that snapshot, hence is stamped above H, and the log read that continues above H brings it (the
     * live row at that later read, or its absence as a delete). Changes the page did see may also be above H: the
     * log read re-applies them, idempotently. So once the cursor is H, the target converges like any other.
     *
     * <p>Why retention cannot prune under it: the mirror row at −1 is committed before H is read. A pruner that did
     * not see that row computed its horizon from cursors that were already applied, i.e. from stamps visible before
     * the row was committed, so H (which is at least the tenancy's prunedThrough read after that commit) is at least
     * that horizon; a pruner that saw it prunes nothing of this tenancy while it is −1.
     */
    private Map<String, Backfill> planBackfills(List<Mapping> active, Map<String, Long> cursors, Set<String> changed,
            Map<String, TargetCursors.Position> positions, Map<String, Long> floors) throws SQLException {
        List<Mapping> needed = active.stream().filter(m -> needsBackfill(cursors.getOrDefault(m.name(), -1L),
                positions.containsKey(m.name()), floors.getOrDefault(m.name(), 0L))).toList();
        if (needed.isEmpty()) {
            return Map.of();
        }
        // A first contact's mapping with neither a cursor row nor an entry is not registered: retention holds back
        // a table for a target without a mirror row, and any entry it gets from now on is above every cursor.
        ProgressStore.register(ic, needed.stream().filter(m -> cursors.containsKey(m.name())
                || changed.contains(m.name())).map(m -> new ProgressStore.Key(tenancyId, targetId, m.name())).toList());
        List<Mapping> fresh = needed.stream().filter(m -> {
            TargetCursors.Position p = positions.get(m.name());
            return p == null || p.high() < floors.getOrDefault(m.name(), 0L);
        }).toList();
        Map<String, Long> highs = fresh.isEmpty() ? Map.of() : run.live().highestStamps(ic, tenancyId, fresh);
        Map<String, Backfill> backfills = new LinkedHashMap<>();
        for (Mapping m : needed) {
            TargetCursors.Position p = positions.get(m.name());
            if (fresh.contains(m)) {
                long floor = floors.getOrDefault(m.name(), 0L);
                backfills.put(m.name(), new Backfill(Math.max(0, Math.max(highs.get(m.name()), floor)), null));
            } else {
                backfills.put(m.name(), new Backfill(p.high(), p.after()));
            }
        }
        LOG.debugf("Backfilling %s of tenancy %s on target %s", backfills.keySet(), tenancyId, targetId);
        return backfills;
    }

    private interface Body {
        void run() throws SQLException;
    }

    private TargetResult guarded(TargetSession session, Body body) {
        try {
            try {
                body.run();
            } catch (SQLException e) {
                throw session.failed(e);
            }
        } catch (RunAbort.ShuttingDown e) {
            return RunContext.failed(unit, applied, RunAbort.SHUTTING_DOWN);
        } catch (RunAbort.DeadlineReached e) {
            return RunContext.unfinished(unit, applied, e.getMessage());
        } catch (SQLException e) {
            failRemaining(session, e);
        }
        return result();
    }

    /** This tenancy's cursors in the target; a mapping without a row (never had data here) is absent (−1). */
    private Map<String, Long> readCursors(Connection tc) throws SQLException {
        return new LinkedHashMap<>(TargetCursors.readAll(tc, List.of(tenancyId)).getOrDefault(tenancyId, Map.of()));
    }

    /**
     * The common case of a new tenancy or target: most mappings have a handful of live rows or none. Every fresh
     * backfill whose first page is also its last is applied in ONE target transaction (its rows, every cursor from
     * where it was to its H, compare-and-set), instead of one transaction per mapping; the others, and all of them
     * if that transaction fails for any reason but a lost connection, go through {@code BackfillPager} (which
     * bisects a rejected page). Returns the backfills still to do; {@code cursors} gets the new ones.
     */
    private Map<String, Backfill> backfillSmallOnes(Connection tc, Map<String, Long> cursors,
            Map<String, Backfill> backfills, Set<String> inProgress, Set<String> withPoison, Set<String> changed,
            List<Mapping> toRun) throws SQLException {
        run.checkRunning(deadline);
        int pageSize = Math.max(1, run.pageSize());
        List<Slice> slices = new ArrayList<>();
        Map<String, Backfill> rest = new LinkedHashMap<>(backfills);
        for (Mapping m : Mappings.ALL) {
            Backfill b = backfills.get(m.name());
            if (b == null || b.after() != null || inProgress.contains(m.name()) || withPoison.contains(m.name())) {
                continue;
            }
            LivePageReader.Page page = run.live().readPage(ic, tenancyId, m, null, pageSize);
            boolean rowless = !cursors.containsKey(m.name());
            if (rowless && page.rows().isEmpty() && page.keysRead() == 0 && !changed.contains(m.name())) {
                // Neither live rows nor entries: nothing to sync, so no cursor row (its absence reads as −1).
                rest.remove(m.name());
                toRun.remove(m);
                done.add(m.name());
                continue;
            }
            if (page.keysRead() < pageSize && !page.more()) {
                slices.add(new Slice(tenancyId, m, cursors.getOrDefault(m.name(), -1L), b.high(), rowless,
                        page.rows()));
            }
        }
        if (slices.isEmpty()) {
            return rest;
        }
        if (slices.stream().anyMatch(sl -> ChangeReader.firstTooWide(sl.mapping(), sl.rows()) != null)) {
            return rest; // the pages dead-letter it
        }
        long started = System.nanoTime();
        long[] written;
        try {
            tc.setAutoCommit(false);
            written = PageApplier.apply(tc, slices);
        } catch (SQLException e) {
            if (SqlFailure.isConnection(e)) {
                throw e;
            }
            LOG.debugf("One-transaction backfill of tenancy %s on %s failed, mapping by mapping: %s", tenancyId,
                    targetId, SqlFailure.describe(e));
            return rest;
        } catch (RunAbort.Conflict e) {
            return rest;
        }
        Duration latency = Duration.ofNanos(System.nanoTime() - started);
        long total = 0;
        for (int i = 0; i < slices.size(); i++) {
            Slice slice = slices.get(i);
            String name = slice.mapping().name();
            rest.remove(name);
            cursors.put(name, slice.to());
            applied.merge(name, written[i], Long::sum);
            progress.add(tenancyId, targetId, name, slice.to(), written[i]);
            if (!slice.rows().isEmpty()) {
                run.metrics().rowsApplied(name, written[i]);
                run.metrics().pageApplied(name, latency);
            }
            total += written[i];
        }
        run.sink().rowsApplied(total);
        return rest;
    }

    private void runMappings(Connection tc, List<Mapping> mappings, Map<String, Long> cursors,
            Set<String> withPoison, Map<String, Backfill> backfills) throws SQLException {
        tc.setAutoCommit(false);
        for (Mapping mapping : mappings) {
            try {
                long cursor = cursors.get(mapping.name());
                boolean poison = withPoison.contains(mapping.name());
                long rows = 0;
                Backfill backfill = backfills.get(mapping.name());
                if (backfill != null) {
                    rows += new BackfillPager(mapping, tc, cursor, backfill, poison).run();
                    cursor = backfill.high();
                }
                // Then (or else) the log above the cursor: what changed while the backfill ran, re-applied.
                rows += new MappingPager(mapping, tc, cursor, poison).run();
                applied.merge(mapping.name(), rows, Long::sum);
                done.add(mapping.name());
            } catch (SQLException e) {
                String error = mapping.name() + ": " + SqlFailure.describe(e);
                TargetSession.rollbackQuietly(tc); // the next mapping must not start inside an aborted transaction
                progress.markFailed(tenancyId, targetId, mapping.name());
                recordFailures(List.of(mapping.name()), error);
                SqlFailure failure = SqlFailure.of(e);
                if (failure == SqlFailure.MISSING_TABLE) {
                    run.schema().forget(unit.target().url());
                }
                if (failure == SqlFailure.CONNECTION) {
                    throw e;
                }
                // Other mappings do not depend on this one: carry on.
                done.add(mapping.name());
                firstError = firstError == null ? error : firstError;
            }
        }
    }

    /**
     * The target itself failed (lost or aborted connection): the rest of the run fails and the target backs off. Or the
     * run's internal session was lost: the run fails without blaming the target.
     */
    private void failRemaining(TargetSession session, SQLException e) {
        if (!deadline.aborted() && RunContext.internalLost(ic)) {
            // Nothing can be recorded on a lost session, and the target is not to blame: the run fails as it is.
            firstError = firstError == null ? SqlFailure.describeInternal(e) : firstError;
            return;
        }
        String error = "target " + session.url().redacted() + ": " + (deadline.aborted()
                ? RunContext.ABORTED_BY_WATCHDOG.formatted(run.watchdog().deadline())
                : SqlFailure.describe(e));
        List<String> failed = Mappings.ALL.stream().map(Mapping::name).filter(n -> !done.contains(n)).toList();
        failed.forEach(name -> progress.markFailed(tenancyId, targetId, name));
        recordFailures(failed, error);
        // The backoff is per (tenancy, target): one mirror row carries it, so skipped mappings get none.
        List<String> backedOff = failed.isEmpty() ? List.of(Mappings.ALL.get(0).name()) : failed;
        try {
            ProgressStore.backOff(ic, backedOff.stream()
                    .map(m -> new ProgressStore.Key(tenancyId, targetId, m)).toList(), run.backoff(),
                    deadline.aborted());
        } catch (SQLException x) {
            LOG.warnf("Cannot record a target backoff in the internal database: %s", SqlFailure.describe(x));
        }
        firstError = firstError == null ? error : firstError;
    }

    private TargetResult result() {
        if (firstError != null) {
            run.sink().error(firstError);
            run.metrics().failure("failed");
            LOG.warnf("Sync of tenancy %s target %s failed: %s", tenancyId, targetId, firstError);
            return RunContext.failed(unit, applied, firstError);
        }
        return new TargetResult(targetId, Outcome.SYNCED, false, applied, null);
    }

    private void recordFailures(List<String> mappings, String error) {
        try {
            ProgressStore.failures(ic,
                    mappings.stream().map(m -> new ProgressStore.Key(tenancyId, targetId, m)).toList(), error);
        } catch (SQLException e) {
            LOG.warnf("Cannot record a failure in the internal database: %s", SqlFailure.describe(e));
        }
    }

    /** One mapping of the run: pages above the cursor until caught up. */
    private final class MappingPager {
        final Mapping mapping;
        final Connection tc;
        final boolean hasPoison;
        final int pageSize = Math.max(1, run.pageSize());
        final Set<String> poisonedInPage = new HashSet<>();
        long cursor;

        MappingPager(Mapping mapping, Connection tc, long cursor, boolean hasPoison) {
            this.mapping = mapping;
            this.tc = tc;
            this.cursor = cursor;
            this.hasPoison = hasPoison;
        }

        long run() throws SQLException {
            long total = 0;
            while (true) {
                run.checkRunning(deadline);
                ChangeReader.Page read = run.reader().readPage(ic, tenancyId, mapping, cursor, pageSize);
                List<Row> page = read.rows();
                if (page.isEmpty()) {
                    break;
                }
                poisonedInPage.clear();
                long rows;
                try {
                    rows = Bisector.apply(page, this::applyRows, this::deadLetter);
                } catch (RunAbort.Conflict conflict) {
                    reread(conflict);
                    continue;
                }
                total += rows;
                run.metrics().rowsApplied(mapping.name(), rows);
                run.sink().rowsApplied(rows);
                if (hasPoison) {
                    String[] keys = page.stream().map(r -> RunContext.keyJson(mapping, r.values()))
                            .filter(k -> !poisonedInPage.contains(k)).toArray(String[]::new);
                    DeadLetters.clear(ic, tenancyId, targetId, mapping.name(), keys);
                }
                progress.add(tenancyId, targetId, mapping.name(), cursor, rows);
                if (page.size() < pageSize && !read.more()) {
                    break;
                }
                // A long run: keep the mirror current page by page (a short run writes it once at the end).
                progress.flush(ic);
            }
            progress.add(tenancyId, targetId, mapping.name(), cursor, 0);
            return total;
        }

        /** Someone else moved the cursor (the page was rolled back): continue from where it is now. */
        private void reread(RunAbort.Conflict conflict) throws SQLException {
            long actual = TargetCursors.read(tc, tenancyId, mapping.name());
            TargetSession.rollbackQuietly(tc);
            if (actual == cursor) {
                // Not a moved cursor: the page itself cannot be applied as read. Fail this mapping (SQLState 55000,
                // object not in prerequisite state: neither a data nor a connection failure).
                throw new SQLException(conflict.getMessage(), "55000");
            }
            LOG.infof("Cursor of %s/%s/%s moved underneath (now %d, page read from %d): re-reading", tenancyId,
                    targetId, mapping.name(), actual, cursor);
            cursor = actual;
        }

        private long applyRows(List<Row> rows) throws SQLException {
            SQLException tooWide = ChangeReader.firstTooWide(mapping, rows);
            if (tooWide != null) {
                throw tooWide;
            }
            long started = System.nanoTime();
            Slice slice = Slice.of(tenancyId, mapping, cursor, false, rows);
            long written = PageApplier.apply(tc, List.of(slice))[0];
            cursor = slice.to();
            run.metrics().pageApplied(mapping.name(), Duration.ofNanos(System.nanoTime() - started));
            return written;
        }

        private void deadLetter(Row row, SQLException e) throws SQLException {
            String key = RunContext.keyJson(mapping, row.values());
            String error = SqlFailure.describe(e);
            DeadLetters.poison(ic, tenancyId, targetId, mapping.name(), key, row.sequenceId(), error);
            poisonedInPage.add(key);
            run.metrics().poisonRow(mapping.name());
            LOG.warnf("Poison row in %s for tenancy %s target %s, key %s, sequence id %d: %s", mapping.name(),
                    tenancyId, targetId, key, row.sequenceId(), error);
            // Move the cursor past it (same guard), so the rest of the tenancy keeps flowing.
            PageApplier.apply(tc, List.of(Slice.skipTo(tenancyId, mapping, cursor, row.sequenceId())));
            cursor = row.sequenceId();
        }
    }
    /**
     * Step 3 and 4 of one mapping's snapshot backfill ({@link #planBackfills} did 1 and 2): pages through the
     * tenancy's live rows in source-key order ({@link LivePageReader}), each page one target transaction that
     * upserts it ({@link PageApplier}, no deletes: the target holds nothing of this tenancy's above the position, or a
     * resync truncated it, or an adoption pruned it) and saves the position (H, last key) in the cursor's row,
     * guarded by the cursor it runs from. The last page's transaction also drops the position and moves the cursor
     * to H (compare-and-set). A page the target rejects for its data is bisected and the offending rows
     * dead-lettered, the position moving past them, as the log read does. Between pages the run may stop (deadline,
     * shutdown); the next run resumes from the saved position with the same H.
     */
    private final class BackfillPager {
        final Mapping mapping;
        final Connection tc;
        final long cursor;
        final long high;
        final boolean hasPoison;
        final int pageSize = Math.max(1, run.pageSize());
        final Set<String> poisonedInPage = new HashSet<>();
        String[] after;
        boolean finished;

        BackfillPager(Mapping mapping, Connection tc, long cursor, Backfill backfill, boolean hasPoison) {
            this.mapping = mapping;
            this.tc = tc;
            this.cursor = cursor;
            this.high = backfill.high();
            this.after = backfill.after();
            this.hasPoison = hasPoison;
        }

        /** One row of a page with its position in the page order. */
        private record Keyed(Row row, String[] key) {
        }

        /** The next page's read while the current page is applied; null when none is running. */
        private ReadAhead<LivePageReader.Page> ahead;

        /** The page read ahead (null when none was started); the internal connection is free again after it. */
        private LivePageReader.Page collectAhead() throws SQLException {
            ReadAhead<LivePageReader.Page> read = ahead;
            ahead = null;
            return read == null ? null : read.join();
        }

        long run() throws SQLException {
            long total = 0;
            run.checkRunning(deadline);
            if (!hasPoison && run.live().copyKeys() > 0) {
                total += copyChunks();
                if (finished) {
                    return total;
                }
            }
            LivePageReader.Page page = run.live().readPage(ic, tenancyId, mapping, after, pageSize);
            while (true) {
                boolean last = page.keysRead() < pageSize && !page.more();
                LivePageReader.Page current = page;
                // The next page is read on the internal connection while this one is applied on the target's; the
                // internal connection is the read's until it is collected (deadLetter collects it first).
                ahead = last ? null : ReadAhead.start(run.readAhead(),
                        () -> run.live().readPage(ic, tenancyId, mapping, current.lastKey(), pageSize));
                long written;
                try {
                    written = applyPage(page, last);
                } catch (SQLException | RuntimeException e) {
                    if (ahead != null) {
                        ahead.settle(e);
                        ahead = null;
                    }
                    throw e;
                }
                LivePageReader.Page next = collectAhead();
                if (page.lastKey() != null) {
                    after = page.lastKey();
                }
                total += written;
                run.metrics().rowsApplied(mapping.name(), written);
                run.sink().rowsApplied(written);
                if (hasPoison && !page.rows().isEmpty()) {
                    String[] keys = page.rows().stream().map(r -> RunContext.keyJson(mapping, r.values()))
                            .filter(k -> !poisonedInPage.contains(k)).toArray(String[]::new);
                    DeadLetters.clear(ic, tenancyId, targetId, mapping.name(), keys);
                }
                progress.add(tenancyId, targetId, mapping.name(), finished ? high : -1, written);
                if (finished) {
                    break;
                }
                progress.flush(ic);
                run.checkRunning(deadline);
                page = next;
            }
            LOG.debugf("Backfilled %s of tenancy %s on target %s up to stamp %d", mapping.name(), tenancyId,
                    targetId, high);
            return total;
        }

        /**
         * The fast path: chunks of {@code engine.backfill.copy-keys} source keys, each streamed by COPY from the
         * internal database into the target without being decoded here ({@link StagedUpsert}: straight into the
         * target table, or through a staging table once the target holds a key of the backfill), and
         * its position saved (the last: the position dropped and the cursor moved to H) in the same target
         * transaction, guarded by the cursor as a page is. A chunk that fails for any reason but a lost connection
         * or a moved cursor is rolled back, and the backfill goes on page by page from the same position, where a
         * bad row is found by bisection and dead-lettered. Returns the rows written; {@code finished} when done.
         */
        private long copyChunks() throws SQLException {
            long total = 0;
            int keys = run.live().copyKeys();
            after = LivePageReader.usablePosition(mapping, after);
            while (true) {
                String[] end = run.live().chunkEnd(ic, tenancyId, mapping, after, keys);
                long started = System.nanoTime();
                long written;
                try {
                    written = copyChunk(end);
                } catch (RunAbort.Conflict conflict) {
                    throw new SQLException(mapping.name() + ": the cursor moved during a backfill ("
                            + conflict.getMessage() + "); the next run starts over", "55000");
                } catch (SQLException e) {
                    if (SqlFailure.isConnection(e)) {
                        throw e;
                    }
                    LOG.infof("Copied backfill of %s for tenancy %s on target %s goes on page by page: %s",
                            mapping.name(), tenancyId, targetId, SqlFailure.describe(e));
                    return total;
                }
                finished = end == null;
                total += written;
                run.metrics().rowsApplied(mapping.name(), written);
                run.metrics().pageApplied(mapping.name(), Duration.ofNanos(System.nanoTime() - started));
                run.sink().rowsApplied(written);
                progress.add(tenancyId, targetId, mapping.name(), finished ? high : -1, written);
                if (finished) {
                    LOG.debugf("Backfilled %s of tenancy %s on target %s up to stamp %d by copy", mapping.name(),
                            tenancyId, targetId, high);
                    return total;
                }
                after = end;
                progress.flush(ic);
                run.checkRunning(deadline);
            }
        }

        /**
         * Whether a chunk copied straight into the target table met a key the target holds; until then chunks are
         * inserted without staging ({@link StagedUpsert#insertAbsent}).
         */
        private boolean targetHoldsKeys;

        /** One copied chunk's target transaction: above {@code after}, up to {@code end} (null: the rest, last). */
        private long copyChunk(String[] end) throws SQLException {
            String[] from = after;
            tc.setAutoCommit(false);
            guardPosition(end, end == null);
            StagedUpsert.Rows rows = sink -> run.live().copyChunk(ic, tenancyId, mapping, from, end, sink);
            long written;
            if (targetHoldsKeys) {
                written = StagedUpsert.apply(tc, mapping, rows);
            } else {
                try {
                    written = StagedUpsert.insertAbsent(tc, mapping, rows);
                } catch (SQLException e) {
                    if (!StagedUpsert.HELD_KEY.equals(e.getSQLState())) {
                        throw e;
                    }
                    // The target holds rows of this backfill (a cursor below the retention floor, rows left by an
                    // earlier sync): from here on, chunks are upserted through the staging table.
                    targetHoldsKeys = true;
                    return copyChunk(end);
                }
            }
            try {
                if (end == null && TargetCursors.advance(tc,
                        List.of(new TargetCursors.Move(tenancyId, mapping.name(), cursor, high))) != 1) {
                    throw new RunAbort.Conflict("cursor no longer " + cursor);
                }
                tc.commit();
            } catch (SQLException | RuntimeException e) {
                TargetSession.rollbackQuietly(tc);
                throw e;
            }
            return written;
        }

        /** Upserts the page (bisecting a rejected one) and saves the position after it, or finishes on the last. */
        private long applyPage(LivePageReader.Page page, boolean last) throws SQLException {
            List<Keyed> rows = new ArrayList<>(page.rows().size());
            for (int i = 0; i < page.rows().size(); i++) {
                rows.add(new Keyed(page.rows().get(i), page.keys().get(i)));
            }
            poisonedInPage.clear();
            try {
                long written = Bisector.apply(rows, sub -> {
                    boolean whole = sub.size() == rows.size();
                    return apply(sub, whole ? page.lastKey() : sub.get(sub.size() - 1).key(), whole && last);
                }, this::deadLetter);
                if (!finished && (last || rows.isEmpty())) {
                    // Nothing (more) to upsert in this page: only the position, or the final cursor move.
                    apply(List.of(), page.lastKey(), last);
                }
                return written;
            } catch (RunAbort.Conflict conflict) {
                // A reset (resync) or another writer moved the cursor: this backfill's H and position are void.
                throw new SQLException(mapping.name() + ": the cursor moved during a backfill ("
                        + conflict.getMessage() + "); the next run starts over", "55000");
            }
        }

        /**
         * The first statement of a page's or chunk's target transaction, guarded by the cursor the backfill runs
         * from: saves the position after it ({@code position}; null: none to save), or ({@code finishing}) drops the
         * position, the cursor then moving to H in the same transaction. Rolled back when it fails.
         */
        private void guardPosition(String[] position, boolean finishing) throws SQLException {
            try {
                boolean guarded = finishing ? TargetCursors.dropPosition(tc, tenancyId, mapping.name(), cursor)
                        : position == null || TargetCursors.savePosition(tc, tenancyId, mapping.name(), cursor,
                                new TargetCursors.Position(high, position));
                if (!guarded) {
                    throw new RunAbort.Conflict("cursor no longer " + cursor);
                }
            } catch (SQLException | RuntimeException e) {
                TargetSession.rollbackQuietly(tc);
                throw e;
            }
        }

        /**
         * One target transaction: upserts {@code rows} and saves the position after them (the page's last key read
         * when they are the whole page: it may be past the last row), or ({@code finishing}: the rest of the last
         * page) drops the position and moves the cursor to H.
         */
        private long apply(List<Keyed> rows, String[] position, boolean finishing) throws SQLException {
            SQLException tooWide = ChangeReader.firstTooWide(mapping, rows.stream().map(Keyed::row).toList());
            if (tooWide != null) {
                throw tooWide;
            }
            long started = System.nanoTime();
            guardPosition(position, finishing);
            long written;
            if (rows.isEmpty() && !finishing) {
                tc.commit();
                written = 0;
            } else {
                Slice slice = new Slice(tenancyId, mapping, cursor, finishing ? high : cursor, false,
                        rows.stream().map(Keyed::row).toList());
                written = PageApplier.apply(tc, List.of(slice))[0];
            }
            finished |= finishing;
            if (!rows.isEmpty()) {
                run.metrics().pageApplied(mapping.name(), Duration.ofNanos(System.nanoTime() - started));
            }
            return written;
        }

        private void deadLetter(Keyed keyed, SQLException e) throws SQLException {
            // Dead letters are written on the internal connection: the read ahead must be done with it first.
            if (ahead != null) {
                ahead.awaitDone();
            }
            String key = RunContext.keyJson(mapping, keyed.row().values());
            String error = SqlFailure.describe(e);
            DeadLetters.poison(ic, tenancyId, targetId, mapping.name(), key, high, error);
            poisonedInPage.add(key);
            run.metrics().poisonRow(mapping.name());
            LOG.warnf("Poison row in %s for tenancy %s target %s, key %s, during a backfill: %s", mapping.name(),
                    tenancyId, targetId, key, error);
            // Move the position past it (same guard), so the rest of the backfill keeps flowing.
            apply(List.of(), keyed.key(), false);
        }
    }
}
