package dev.externaldbsync.engine.run;

import static dev.externaldbsync.engine.run.RunContext.LOG;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
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
import dev.externaldbsync.engine.read.ChangedMappings;
import dev.externaldbsync.engine.read.LivePageReader;
import dev.externaldbsync.engine.read.Row;
import dev.externaldbsync.engine.store.DeadLetters;
import dev.externaldbsync.engine.store.ProgressStore;
import dev.externaldbsync.engine.target.TargetCursors;
import dev.externaldbsync.engine.target.TargetPools;
import dev.externaldbsync.engine.target.TargetSession;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/**
 * One batch on one worker: the (tenancy, target)s of a request that share one external database. Its stages, in
 * order, are its methods: {@link #run} locks every member on one internal session (one not acquired answers BUSY),
 * then {@link Batch#run} opens the target session, bootstraps the schema, reads every cursor in one query, probes
 * which mappings have entries ({@link ChangedMappings}), reads those mappings' first page of every member in one
 * query, applies all of it in ONE target transaction with every cursor move, continues the members that filled their
 * share alone, and mirrors the progress in one statement. A batch the target rejects for any reason but a lost
 * connection is re-run one member at a time, where a bad row is bisected and dead-lettered within its own tenancy; a
 * lost connection fails only this batch. A batched read of the internal database that fails is re-run one member at
 * a time as well, and when one member's read closed the internal session (a result over {@code
 * internal.database.max-result-buffer}), the members not yet run get a fresh session each: one tenant's rows fail
 * only that tenant. A member that needs a snapshot backfill runs alone after the batch
 * ({@link UnitRunner}).
 */
final class BatchRunner {

    private final RunContext run;
    private final DataSource internal;

    BatchRunner(RunContext run, DataSource internal) {
        this.run = run;
        this.internal = internal;
    }

    /**
     * Locks, runs the locked members together, releases; one result per member. Members a batch left unrun because
     * another member's read lost the internal session are then run one at a time, each on a fresh session; if the
     * internal database cannot be reached at all, the rest fail with that error at once.
     */
    Map<Unit, TargetResult> run(List<Unit> units) {
        Map<Unit, TargetResult> results = new LinkedHashMap<>();
        List<Unit> orphans = List.of();
        try (Connection ic = internal.getConnection()) {
            orphans = runLocked(ic, units, results);
        } catch (SQLException e) {
            failInternal(units, results, e);
        }
        for (int i = 0; i < orphans.size(); i++) {
            try {
                results.putAll(runOrphan(orphans.get(i)));
            } catch (SQLException e) {
                failInternal(orphans.subList(i, orphans.size()), results, e);
                break; // without an internal session nothing runs: the rest fail with the same error
            }
        }
        return results;
    }

    /** How long an orphan waits for the lost session's locks to go with it (the server ends that session). */
    static final Duration ORPHAN_LOCK_WAIT = Duration.ofSeconds(5);

    /**
     * One member left by a batch whose internal session was lost, on a fresh session. The lost session holds its
     * locks until the server has noticed the client is gone, so the fresh one first waits for the member's lock
     * ({@link RunLocks#lockWithin}, at most {@link #ORPHAN_LOCK_WAIT}) and lets it go again; the run then takes it
     * as any run does (BUSY if another run took it meanwhile, or still holds it).
     */
    private Map<Unit, TargetResult> runOrphan(Unit orphan) throws SQLException {
        Map<Unit, TargetResult> result = new LinkedHashMap<>();
        try (Connection ic = internal.getConnection()) {
            long[] key = RunLocks.keys(List.of(orphan));
            if (RunLocks.lockWithin(ic, key[0], ORPHAN_LOCK_WAIT)) {
                RunLocks.unlock(ic, key);
            }
            runLocked(ic, List.of(orphan), result);
        }
        return result;
    }

    /** One batch on the internal session {@code ic}; returns the members it left for a session of their own. */
    private List<Unit> runLocked(Connection ic, List<Unit> units, Map<Unit, TargetResult> results)
            throws SQLException {
        try (RunWatchdog.Deadline deadline = run.watchdog().start()) {
            long[] keys = RunLocks.keys(units);
            boolean[] locked = RunLocks.tryLock(ic, keys);
            List<Unit> mine = new ArrayList<>();
            long[] mineKeys = new long[units.size()];
            for (int i = 0; i < units.size(); i++) {
                if (locked[i]) {
                    mineKeys[mine.size()] = keys[i];
                    mine.add(units.get(i));
                } else {
                    run.metrics().failure("busy");
                    results.put(units.get(i), new TargetResult(units.get(i).targetId(), Outcome.BUSY, true,
                            Map.of(), "another run holds this tenancy and target"));
                }
            }
            if (mine.isEmpty()) {
                return List.of();
            }
            Batch batch = new Batch(mine, ic, deadline);
            try {
                results.putAll(batch.run());
            } finally {
                if (!batch.lost) { // a lost session took its locks with it
                    RunLocks.unlock(ic, Arrays.copyOf(mineKeys, mine.size()));
                }
            }
            return batch.orphans;
        }
    }

    /** Every unit of {@code units} not yet answered failed on the internal database (retry). */
    private void failInternal(List<Unit> units, Map<Unit, TargetResult> results, SQLException e) {
        String error = SqlFailure.describeInternal(e);
        run.sink().error(error);
        run.metrics().failure("internal");
        units.forEach(u -> results.putIfAbsent(u, RunContext.failed(u, Map.of(), error)));
    }

    /** One locked (tenancy, target) of a batch and its state, per mapping in registry order. */
    private static final class Member {
        final Unit unit;
        /** The cursor in the target, then (once the batch committed) the new one. */
        final long[] cursors = new long[Mappings.ALL.size()];
        /** The cursor as read, before the batch moved it. */
        final long[] before = new long[Mappings.ALL.size()];
        /** The cursor row does not exist in the target (the mapping never had data here): it reads as −1. */
        final boolean[] missing = new boolean[Mappings.ALL.size()];
        /** The mapping has stamped entries (probed on a first contact backfilled with the batch only). */
        boolean[] changed = new boolean[Mappings.ALL.size()];
        /** The cursors were read and the tenancy has none at all here: every mapping is probed for live rows. */
        boolean firstContact;
        boolean cursorsRead;
        final long[] applied = new long[Mappings.ALL.size()];
        /** The mappings that need a snapshot backfill, and the rows the batch's one-page backfill wrote. */
        final boolean[] backfill = new boolean[Mappings.ALL.size()];
        final long[] backfilled = new long[Mappings.ALL.size()];
        /** A backfill of this member is in progress (it resumes alone, from its position). */
        boolean inProgress;
        /** Backfilled by this batch ({@link Batch#backfillTogether}): its cursors are this run's high-water mark. */
        boolean backfilledHere;
        ChangeReader.Pages read;

        Member(Unit unit) {
            this.unit = unit;
        }

        ChangeReader.Request request() {
            return new ChangeReader.Request(unit.tenancyId(), unit.targetId(), cursors);
        }
    }

    /** The locked members of one batch; confined to the batch's thread. */
    private final class Batch {
        final List<Unit> units;
        /** The members run as one batch: every locked one but those that need a backfill (see {@link #runOn}). */
        List<Member> members;
        /** Every locked member, whichever way it runs. */
        final List<Member> all;
        final Connection ic;
        final RunWatchdog.Deadline deadline;
        final PostgresUrl url;
        final ProgressStore.Batch progress = new ProgressStore.Batch();
        final Map<Unit, TargetResult> results = new LinkedHashMap<>();
        int share;
        Map<UUID, Map<String, Long>> floors = Map.of();
        /** The backfill positions read with the cursors ({@link #readCursors}). */
        Map<UUID, Map<String, TargetCursors.Position>> positions = Map.of();
        /**
         * The internal session {@link #ic} is gone, with its locks: a result over
         * {@code internal.database.max-result-buffer} closes it, and one tenant's row is enough for that.
         */
        boolean lost;
        /** What the member whose read lost the session fails with, when it is alone here. */
        String lostError;
        /** Members not run because another member lost the session: each runs again on a fresh one. */
        final List<Unit> orphans = new ArrayList<>();

        Batch(List<Unit> units, Connection ic, RunWatchdog.Deadline deadline) {
            this.units = units;
            this.members = units.stream().map(Member::new).toList();
            this.all = members;
            this.ic = ic;
            this.deadline = deadline;
            this.url = units.get(0).target().url();
        }

        Map<Unit, TargetResult> run() {
            try (TargetSession session = TargetSession.open(run.pools(), url)) {
                deadline.watch(session.connection());
                try {
                    runOn(session);
                } catch (SQLException e) {
                    throw session.failed(e);
                }
            } catch (RunAbort.ShuttingDown e) {
                units.forEach(u -> results.putIfAbsent(u, RunContext.failed(u, Map.of(), RunAbort.SHUTTING_DOWN)));
            } catch (RunAbort.DeadlineReached e) {
                units.forEach(u -> results.putIfAbsent(u, RunContext.unfinished(u, Map.of(), e.getMessage())));
            } catch (TargetPools.Refused e) {
                String error = "target " + url.redacted() + ": " + SqlFailure.describe(e);
                LOG.warnf("Invalid target config (%d tenancies): %s", units.size(), error);
                units.forEach(u -> results.putIfAbsent(u, RunContext.invalidConfig(u, error)));
            } catch (SQLException e) {
                if (!deadline.aborted() && (lost || RunContext.internalLost(ic))) {
                    loseSession(e);
                    units.stream().filter(u -> !results.containsKey(u)).forEach(this::leave);
                } else {
                    failRemaining("target " + url.redacted() + ": " + (deadline.aborted()
                            ? RunContext.ABORTED_BY_WATCHDOG.formatted(run.watchdog().deadline())
                            : SqlFailure.describe(e)));
                }
            }
            // What the batch moved is true in the target whatever happened to the session that would mirror it.
            try (Connection fresh = lost ? internal.getConnection() : null) {
                progress.flush(lost ? fresh : ic);
            } catch (SQLException e) {
                LOG.warnf("Cannot record progress in the internal database: %s", SqlFailure.describe(e));
            }
            return results;
        }

        private void loseSession(SQLException e) {
            if (!lost) {
                lost = true;
                lostError = SqlFailure.describeInternal(e);
            }
        }

        /**
         * A member not run because the internal session is gone: in a batch of several it is left for a fresh session
         * (another member's row may be what closed this one); alone, its own read closed it and it fails, without
         * blaming the target.
         */
        private void leave(Unit unit) {
            if (units.size() > 1) {
                orphans.add(unit);
                return;
            }
            run.sink().error(lostError);
            run.metrics().failure("failed");
            RunContext.inMdc(unit, () -> {
                LOG.warnf("Sync of tenancy %s target %s failed: %s", unit.tenancyId(), unit.targetId(), lostError);
                return null;
            });
            results.put(unit, RunContext.failed(unit, Map.of(), lostError));
        }

        /**
         * Runs {@code body} for each of {@code each} in turn, on this batch's sessions. Once a member's run lost the
         * internal session (its failure is its own result), the members after it are {@linkplain #leave left}.
         */
        private void eachOnItsOwn(List<Unit> each, java.util.function.Function<Unit, TargetResult> body) {
            for (Unit unit : each) {
                if (lost) {
                    leave(unit);
                    continue;
                }
                TargetResult result = RunContext.inMdc(unit, () -> body.apply(unit));
                results.put(unit, result);
                if (result.outcome() == Outcome.FAILED && RunContext.internalLost(ic)) {
                    lost = true;
                    lostError = lostError == null ? result.error() : lostError;
                }
            }
        }

        /**
         * A member that needs a snapshot backfill for any mapping (a first sync here, a reset, a cursor below the
         * retention floor, a backfill in progress) is run alone ({@link UnitRunner#runAlone}, after the batch): a
         * batched read would replay its whole log from −1. The others run as one batch.
         */
        private void runOn(TargetSession session) throws SQLException {
            Connection tc = session.connection();
            run.schema().ensure(tc, url);
            try {
                readCursors(tc);
            } catch (SQLException e) {
                if (SqlFailure.of(e) != SqlFailure.MISSING_TABLE) {
                    throw e;
                }
                // The cursor table is gone (a wiped target): bootstrap again; every cursor starts over at −1.
                run.schema().forget(url);
                run.schema().ensure(tc, url);
                readCursors(tc);
            }
            List<Member> alone = backfilling();
            List<Member> together = backfillTogether(tc, alone);
            together.forEach(m -> m.backfilledHere = true);
            alone.removeAll(together);
            List<Member> batched = new ArrayList<>(members);
            batched.addAll(together);
            members = batched;
            if (!members.isEmpty()) {
                runBatched(session);
            }
            eachOnItsOwn(alone.stream().map(m -> m.unit).toList(),
                    unit -> new UnitRunner(run, unit, ic, progress, deadline).runAlone(session));
        }

        /**
         * Which mappings have stamped entries, for every first contact among {@code candidates} in ONE statement
         * ({@link ChangedMappings}): a mapping with neither entries nor live rows gets no cursor row and is not
         * registered. Other members are not probed: the batched read is the probe of their mappings (a mapping
         * without a row is read from −1 there, and one with nothing to read costs the same index probe either way).
         */
        private void probeFirstContacts(List<Member> candidates) throws SQLException {
            List<Member> first = candidates.stream().filter(m -> m.firstContact).toList();
            List<ChangedMappings.Probe> probes = new ArrayList<>();
            for (Member member : first) {
                long[] cursors = new long[Mappings.ALL.size()];
                java.util.Arrays.fill(cursors, -1);
                probes.add(new ChangedMappings.Probe(member.unit.tenancyId(), cursors));
            }
            List<boolean[]> changed = run.changes().changed(ic, probes);
            for (int u = 0; u < first.size(); u++) {
                first.get(u).changed = changed.get(u);
            }
        }

        /** Takes the members that need a backfill out of {@link #members} and returns them. */
        private List<Member> backfilling() throws SQLException {
            List<UUID> tenancies = units.stream().map(Unit::tenancyId).toList();
            floors = run.retention().prunedThroughByMapping(ic, tenancies);
            List<Member> batched = new ArrayList<>();
            List<Member> alone = new ArrayList<>();
            for (Member member : members) {
                UUID tenancy = member.unit.tenancyId();
                Map<String, TargetCursors.Position> own = positions.getOrDefault(tenancy, Map.of());
                Map<String, Long> floor = floors.getOrDefault(tenancy, Map.of());
                boolean backfill = false;
                for (int k = 0; k < Mappings.ALL.size(); k++) {
                    String name = Mappings.ALL.get(k).name();
                    // A mapping without a cursor row after the first contact had neither live rows nor entries
                    // then: all its data since is in the log (retention holds a table back for a target without
                    // a mirror row), so the batched read from −1 brings it. A floor would say otherwise.
                    boolean relevant = member.firstContact || !member.missing[k]
                            || floor.getOrDefault(name, 0L) > 0;
                    member.backfill[k] = relevant && UnitRunner.needsBackfill(member.cursors[k],
                            own.containsKey(name), floor.getOrDefault(name, 0L));
                    backfill |= member.backfill[k];
                }
                member.inProgress = !own.isEmpty();
                (backfill ? alone : batched).add(member);
            }
            members = batched;
            return alone;
        }

        /**
         * The first sync of many small tenancies sharing a target, batched: of the members to backfill (none in
         * progress), every one whose mappings each fit in one page of the batch's share is backfilled here, all in
         * ONE read of the live rows and ONE target transaction (each cursor created or moved to its H); their log
         * above H is the next request's (an entry above H was stamped after this request was claimed, and its stamp
         * enqueued that request). The steps and their order are those of {@link UnitRunner}'s backfill (register,
         * committed; then H; then the snapshot read): see there for why H is enough. The others, and all of them if
         * that transaction fails for any reason but a lost connection, backfill alone.
         */
        private List<Member> backfillTogether(Connection tc, List<Member> alone) throws SQLException {
            List<Member> candidates = alone.stream().filter(m -> !m.inProgress).toList();
            if (candidates.size() < 2) {
                return List.of(); // alone it does the same in one transaction too
            }
            run.checkRunning(deadline);
            probeFirstContacts(candidates);
            List<ProgressStore.Key> keys = new ArrayList<>();
            for (Member m : candidates) {
                for (int k = 0; k < Mappings.ALL.size(); k++) {
                    // Not registered: a first contact's mapping with neither a row nor an entry (see UnitRunner).
                    if (m.backfill[k] && !(m.firstContact && !m.changed[k])) {
                        keys.add(new ProgressStore.Key(m.unit.tenancyId(), m.unit.targetId(),
                                Mappings.ALL.get(k).name()));
                    }
                }
            }
            ProgressStore.register(ic, keys);
            List<UUID> tenancies = candidates.stream().map(m -> m.unit.tenancyId()).toList();
            Map<UUID, Map<String, Long>> highs = run.live().highestStamps(ic, tenancies);
            int limit = BatchPlanner.share(candidates.size(), run.pageSize(), run.fetchRows());
            List<List<LivePageReader.Page>> pages = run.live().readFirstPages(ic, tenancies, limit);
            List<Slice> slices = new ArrayList<>();
            List<Member> owners = new ArrayList<>();
            List<Member> small = new ArrayList<>();
            for (int u = 0; u < candidates.size(); u++) {
                Member m = candidates.get(u);
                boolean fits = true;
                for (int k = 0; k < Mappings.ALL.size(); k++) {
                    fits &= !m.backfill[k] || pages.get(u).get(k).keysRead() < limit && !pages.get(u).get(k).more();
                }
                if (!fits) {
                    continue;
                }
                small.add(m);
                UUID t = m.unit.tenancyId();
                for (int k = 0; k < Mappings.ALL.size(); k++) {
                    if (m.backfill[k] && m.firstContact && !m.changed[k] && pages.get(u).get(k).rows().isEmpty()) {
                        // Neither live rows nor entries: nothing to sync, so no cursor row (its absence reads −1).
                        m.backfill[k] = false;
                        continue;
                    }
                    if (m.backfill[k]) {
                        String name = Mappings.ALL.get(k).name();
                        long high = Math.max(0, Math.max(highs.get(t).get(name),
                                floors.getOrDefault(t, Map.of()).getOrDefault(name, 0L)));
                        slices.add(new Slice(t, Mappings.ALL.get(k), m.cursors[k], high, m.missing[k],
                                pages.get(u).get(k).rows()));
                        owners.add(m);
                    }
                }
            }
            if (slices.isEmpty()) {
                return small;
            }
            if (slices.stream().anyMatch(sl -> ChangeReader.firstTooWide(sl.mapping(), sl.rows()) != null)) {
                return List.of(); // alone, its pages dead-letter it
            }
            long started = System.nanoTime();
            long[] written;
            try {
                written = PageApplier.apply(tc, slices);
            } catch (SQLException e) {
                if (SqlFailure.isConnection(e)) {
                    throw e;
                }
                LOG.infof("A batched backfill of %d tenancies failed in %s, backfilling them one by one: %s",
                        small.size(), url.redacted(), SqlFailure.describe(e));
                return List.of();
            } catch (RunAbort.Conflict e) {
                return List.of();
            }
            Duration latency = Duration.ofNanos(System.nanoTime() - started);
            long[] perMapping = new long[Mappings.ALL.size()];
            long total = 0;
            for (int s = 0; s < slices.size(); s++) {
                int k = ChangeReader.MAPPING_INDEX.get(slices.get(s).mapping().name());
                Member m = owners.get(s);
                m.cursors[k] = slices.get(s).to();
                m.missing[k] = false;
                m.backfilled[k] += written[s];
                perMapping[k] += written[s];
                total += written[s];
            }
            for (int k = 0; k < perMapping.length; k++) {
                if (perMapping[k] > 0) {
                    run.metrics().rowsApplied(Mappings.ALL.get(k).name(), perMapping[k]);
                    run.metrics().pageApplied(Mappings.ALL.get(k).name(), latency);
                }
            }
            run.sink().rowsApplied(total);
            return small;
        }

        private void runBatched(TargetSession session) throws SQLException {
            Connection tc = session.connection();
            share = BatchPlanner.share(members.size(), run.pageSize(), run.fetchRows());
            List<ChangeReader.Pages> read;
            try {
                read = run.reader().readBatch(ic, members.stream().map(Member::request).toList(), share,
                        changedMappings());
            } catch (SQLException e) {
                // One member's rows (too wide, too slow to read, …) must fail only that member: each reads alone.
                if (RunContext.internalLost(ic)) {
                    loseSession(e);
                }
                if (members.size() > 1) {
                    LOG.infof("A batched read of %d tenancies failed, reading them one by one: %s", members.size(),
                            SqlFailure.describeInternal(e));
                }
                eachOnItsOwn(members.stream().map(m -> m.unit).toList(),
                        unit -> new UnitRunner(run, unit, ic, progress, deadline).runAlone(session));
                return;
            }
            long rows = 0;
            for (int u = 0; u < members.size(); u++) {
                members.get(u).read = read.get(u);
                rows += read.get(u).rows();
            }
            if (rows > 0) {
                run.checkRunning(deadline);
                try {
                    apply(tc);
                } catch (SQLException | RunAbort.Conflict e) {
                    if (e instanceof SQLException sql && SqlFailure.isConnection(sql)) {
                        throw sql;
                    }
                    // Anything else (a bad row, a dropped table, …) the single runs meet again and handle, each
                    // within its own tenancy.
                    if (members.size() > 1) {
                        String why = e instanceof SQLException sql ? SqlFailure.describe(sql) : e.getMessage();
                        LOG.infof("A batch of %d tenancies failed in %s, re-running them one by one: %s",
                                members.size(), url.redacted(), why);
                    }
                    eachOnItsOwn(members.stream().map(m -> m.unit).toList(),
                            unit -> new UnitRunner(run, unit, ic, progress, deadline).runAlone(session));
                    return;
                }
            }
            continueOrFinish(session);
        }

        /**
         * The mappings where any member has stamped entries above its cursor ({@link ChangedMappings}, one
         * statement): the batched read has a branch for those only. A member's entries stamped after this probe were
         * stamped after its request was claimed, so they have a request of their own: the next run reads them. For
         * the same reason a member this batch just backfilled is not probed: its cursors are the highest stamp
         * visible after the claim, and its snapshot came later.
         */
        private boolean[] changedMappings() throws SQLException {
            boolean[] any = new boolean[Mappings.ALL.size()];
            List<ChangedMappings.Probe> probes = members.stream().filter(m -> !m.backfilledHere)
                    .map(m -> new ChangedMappings.Probe(m.unit.tenancyId(), m.cursors.clone())).toList();
            if (probes.isEmpty()) {
                return any;
            }
            for (boolean[] changed : run.changes().changed(ic, probes)) {
                for (int k = 0; k < any.length; k++) {
                    any[k] |= changed[k];
                }
            }
            return any;
        }

        /**
         * Every cursor of the batch's tenancies and their backfill positions in one query; a missing cursor (no data
         * here yet) reads as −1.
         */
        private void readCursors(Connection tc) throws SQLException {
            tc.setAutoCommit(true);
            TargetCursors.State state = TargetCursors.readState(tc, units.stream().map(Unit::tenancyId).toList());
            positions = state.positions();
            Map<UUID, Map<String, Long>> found = state.cursors();
            for (Member member : members) {
                Map<String, Long> own = found.getOrDefault(member.unit.tenancyId(), Map.of());
                for (int k = 0; k < Mappings.ALL.size(); k++) {
                    Long cursor = own.get(Mappings.ALL.get(k).name());
                    // No data of this mapping here yet: read from the start; a cursor row is created in the
                    // batch's transaction, already at its final value, only if the read brings rows.
                    member.cursors[k] = cursor == null ? -1 : cursor;
                    member.before[k] = member.cursors[k];
                    member.missing[k] = cursor == null;
                }
                member.firstContact = own.isEmpty();
                member.cursorsRead = true;
            }
        }

        /** Every member's first pages and cursor moves in ONE target transaction ({@link PageApplier}). */
        private void apply(Connection tc) throws SQLException {
            long started = System.nanoTime();
            List<Slice> slices = new ArrayList<>();
            List<Member> owners = new ArrayList<>();
            for (Member member : members) {
                for (int k = 0; k < Mappings.ALL.size(); k++) {
                    List<Row> page = member.read.page(k);
                    SQLException tooWide = ChangeReader.firstTooWide(Mappings.ALL.get(k), page);
                    if (tooWide != null) {
                        throw tooWide; // dead-lettered by the member's own run, after the batch is split
                    }
                    if (!page.isEmpty()) {
                        slices.add(Slice.of(member.unit.tenancyId(), Mappings.ALL.get(k), member.cursors[k],
                                member.missing[k], page));
                        owners.add(member);
                    }
                }
            }
            long[] written = PageApplier.apply(tc, slices);
            Duration latency = Duration.ofNanos(System.nanoTime() - started);
            long[] perMapping = new long[Mappings.ALL.size()];
            boolean[] touched = new boolean[Mappings.ALL.size()];
            long total = 0;
            for (int s = 0; s < slices.size(); s++) {
                Slice slice = slices.get(s);
                int k = ChangeReader.MAPPING_INDEX.get(slice.mapping().name());
                owners.get(s).cursors[k] = slice.to();
                owners.get(s).applied[k] = written[s];
                perMapping[k] += written[s];
                touched[k] |= !slice.rows().isEmpty();
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
            for (Member member : members) {
                for (String name : member.read.mappingsWithPoison()) {
                    int k = ChangeReader.MAPPING_INDEX.getOrDefault(name, -1);
                    if (k < 0 || member.read.page(k).isEmpty()) {
                        continue;
                    }
                    Mapping mapping = Mappings.ALL.get(k);
                    String[] keys = member.read.page(k).stream().map(r -> RunContext.keyJson(mapping, r.values()))
                            .toArray(String[]::new);
                    DeadLetters.clear(ic, member.unit.tenancyId(), member.unit.targetId(), name, keys);
                }
            }
        }

        /** Members that filled their share of a mapping page it alone; the others are done. */
        private void continueOrFinish(TargetSession session) {
            for (Member member : members) {
                Unit unit = member.unit;
                List<Mapping> full = new ArrayList<>();
                Map<String, Long> counts = new LinkedHashMap<>();
                Map<String, Long> after = new LinkedHashMap<>();
                for (int k = 0; k < Mappings.ALL.size(); k++) {
                    Mapping mapping = Mappings.ALL.get(k);
                    long rows = member.applied[k] + member.backfilled[k];
                    counts.put(mapping.name(), rows);
                    after.put(mapping.name(), member.cursors[k]);
                    boolean moved = member.cursors[k] != member.before[k] || rows > 0;
                    if (moved) {
                        run.metrics().mappingRead(mapping.name());
                    }
                    if (member.read.page(k).size() >= share || member.read.more(k)) {
                        full.add(mapping);
                    } else if (moved) {
                        // Only mappings that moved are mirrored: the others' rows (if any) are still current.
                        progress.add(unit.tenancyId(), unit.targetId(), mapping.name(), member.cursors[k], rows);
                    }
                }
                if (full.isEmpty()) {
                    progress.succeeded(unit.tenancyId(), unit.targetId());
                    results.put(unit, new TargetResult(unit.targetId(), Outcome.SYNCED, false, counts, null));
                } else {
                    Set<String> poison = member.read.mappingsWithPoison();
                    eachOnItsOwn(List.of(unit), u -> new UnitRunner(run, u, ic, progress, deadline)
                            .continueMappings(session, full, after, poison, counts));
                }
            }
        }

        /**
         * The mappings a target-level failure of {@code unit} is recorded on: those with data here (a cursor row),
         * or every mapping while that is not known (cursors not read, or a first contact). Mappings without data get
         * no mirror row for it; the backoff is per (tenancy, target), which one row carries.
         */
        private List<Mapping> failing(Unit unit) {
            Member member = all.stream().filter(m -> m.unit.equals(unit)).findFirst().orElse(null);
            if (member == null || !member.cursorsRead || member.firstContact) {
                return Mappings.ALL;
            }
            List<Mapping> withData = new ArrayList<>();
            for (int k = 0; k < Mappings.ALL.size(); k++) {
                if (!member.missing[k]) {
                    withData.add(Mappings.ALL.get(k));
                }
            }
            return withData;
        }

        /** A lost target connection: every member not yet answered fails, retry, and its target is backed off. */
        private void failRemaining(String error) {
            List<ProgressStore.Key> keys = new ArrayList<>();
            for (Unit unit : units) {
                if (results.containsKey(unit)) {
                    continue;
                }
                for (Mapping mapping : failing(unit)) {
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
                ProgressStore.backOff(ic, keys, run.backoff(), deadline.aborted());
            } catch (SQLException e) {
                LOG.warnf("Cannot record a failure in the internal database: %s", SqlFailure.describe(e));
            }
        }
    }
}
