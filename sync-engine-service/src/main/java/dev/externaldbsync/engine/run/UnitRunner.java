package dev.externaldbsync.engine.run;

import static dev.externaldbsync.engine.run.RunContext.LOG;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
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
import dev.externaldbsync.engine.errors.RunAbort;
import dev.externaldbsync.engine.errors.SqlFailure;
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
            runMappings(tc, Mappings.ALL, readCursors(tc), DeadLetters.mappingsWithPoison(ic, tenancyId, targetId));
        });
    }

    TargetResult continueMappings(TargetSession session, List<Mapping> mappings, Map<String, Long> cursors,
            Set<String> withPoison, Map<String, Long> appliedSoFar) {
        applied.putAll(appliedSoFar);
        Mappings.ALL.stream().filter(m -> !mappings.contains(m)).forEach(m -> done.add(m.name()));
        return guarded(session, () -> runMappings(session.connection(), mappings, cursors, withPoison));
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

    /** This tenancy's cursors in the target; the missing ones (first sync) are created at −1 first. */
    private Map<String, Long> readCursors(Connection tc) throws SQLException {
        Map<String, Long> cursors = new LinkedHashMap<>(
                TargetCursors.readAll(tc, List.of(tenancyId)).getOrDefault(tenancyId, Map.of()));
        List<String> missing = Mappings.ALL.stream().map(Mapping::name).filter(n -> !cursors.containsKey(n)).toList();
        if (!missing.isEmpty()) {
            cursors.putAll(TargetCursors.ensure(tc, tenancyId, missing));
        }
        return cursors;
    }

    private void runMappings(Connection tc, List<Mapping> mappings, Map<String, Long> cursors,
            Set<String> withPoison) throws SQLException {
        tc.setAutoCommit(false);
        for (Mapping mapping : mappings) {
            try {
                long rows = new MappingPager(mapping, tc, cursors.get(mapping.name()),
                        withPoison.contains(mapping.name())).run();
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

    /** The target itself failed (lost or aborted connection): the rest of the run fails and the target backs off. */
    private void failRemaining(TargetSession session, SQLException e) {
        String error = "target " + session.url().redacted() + ": " + (deadline.aborted()
                ? RunContext.ABORTED_BY_WATCHDOG.formatted(run.watchdog().deadline())
                : SqlFailure.describe(e));
        List<String> failed = Mappings.ALL.stream().map(Mapping::name).filter(n -> !done.contains(n)).toList();
        failed.forEach(name -> progress.markFailed(tenancyId, targetId, name));
        recordFailures(failed, error);
        try {
            ProgressStore.backOff(ic, Mappings.ALL.stream()
                    .map(m -> new ProgressStore.Key(tenancyId, targetId, m.name())).toList(), run.backoff(),
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
                List<Row> page = run.reader().readPage(ic, tenancyId, mapping, cursor, pageSize);
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
                if (page.size() < pageSize) {
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
}
