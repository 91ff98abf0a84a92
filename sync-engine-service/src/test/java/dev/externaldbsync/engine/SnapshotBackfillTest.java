package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.assertMirrors;
import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;
import java.util.stream.Collectors;

import jakarta.inject.Inject;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.config.TargetConfig;
import dev.externaldbsync.config.TenancyDirectory;
import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.TargetResult;
import dev.externaldbsync.engine.read.ChangeReader;
import dev.externaldbsync.engine.run.Resync;
import dev.externaldbsync.engine.run.RetentionFloor;
import dev.externaldbsync.engine.run.RunContext;
import dev.externaldbsync.engine.run.RunWatchdog;
import dev.externaldbsync.engine.run.Runs;
import dev.externaldbsync.engine.run.Unit;
import dev.externaldbsync.engine.read.LivePageReader;
import dev.externaldbsync.engine.store.ProgressStore;
import dev.externaldbsync.engine.target.TargetPools;
import dev.externaldbsync.engine.target.TargetSchema;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.agroal.api.AgroalDataSource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;

/**
 * A (tenancy, target) with no cursor, a reset one, or one below the retention floor is filled from a snapshot of the
 * live rows in key order, not by replaying the change log; then it follows the log above the high-water mark H. Some
 * tests go through signed POSTs, the others run the engine's runs directly with a small page size, a test clock for
 * the deadline, a hook between pages and a retention floor of their own.
 */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class SnapshotBackfillTest {

    private static final int PAGE = 10;
    private static final Duration DEADLINE = Duration.ofMinutes(1);

    @InjectTestDatabase
    TestDatabase internal;

    @Inject
    AgroalDataSource internalSource;

    @Inject
    TargetPools pools;

    @Inject
    TargetSchema schema;

    @Inject
    EngineMetrics metrics;

    StackAuthFixtures fixtures;

    @BeforeEach
    void fixtures() {
        fixtures = new StackAuthFixtures(internal);
    }

    /**
     * The engine's runs with a page of {@link #PAGE} rows, a clock, a hook after every applied page (or copied
     * chunk) and a floor.
     */
    private final class Harness implements AutoCloseable {
        final AtomicLong clock = new AtomicLong();
        final AtomicInteger pages = new AtomicInteger();
        final RunWatchdog watchdog = new RunWatchdog(DEADLINE, Duration.ofHours(1), clock::get);
        IntConsumer afterPage = n -> {
        };
        RetentionFloor floor = RetentionFloor.NONE;
        final Runs runs;

        Harness() {
            this(0);
        }

        /** With backfills copied in chunks of {@code copyKeys} source keys (0: page by page only). */
        Harness(int copyKeys) {
            this(copyKeys, Long.MAX_VALUE);
        }

        /** The same, a copied row at most {@code rowMaxBytes} wide. */
        Harness(int copyKeys, long rowMaxBytes) {
            this(copyKeys, rowMaxBytes, internalSource);
        }

        /** The same, the runs' internal sessions from {@code runsInternal}. */
        Harness(int copyKeys, long rowMaxBytes, javax.sql.DataSource runsInternal) {
            this(copyKeys, rowMaxBytes, runsInternal, Long.MAX_VALUE);
        }

        /** The same, a changed row read whole only up to {@code readRowMaxBytes} (else as its key, to dead-letter). */
        Harness(int copyKeys, long rowMaxBytes, javax.sql.DataSource runsInternal, long readRowMaxBytes) {
            RunContext.Sink sink = new RunContext.Sink() {
                @Override
                public void rowsApplied(long rows) {
                    if (rows > 0) {
                        afterPage.accept(pages.incrementAndGet());
                    }
                }

                @Override
                public void error(String error) {
                }
            };
            RunContext context = new RunContext(pools, schema,
                    new ChangeReader(30, ChangeReader.DEFAULT_PAGE_MAX_BYTES, readRowMaxBytes), metrics, PAGE, 4 * PAGE,
                    () -> false, sink, watchdog, new ProgressStore.Backoff(Duration.ofMillis(1), Duration.ofMillis(1)),
                    new LivePageReader(30, 1 << 22, copyKeys, rowMaxBytes),
                    (ic, tenancies) -> floor.prunedThroughByMapping(ic, tenancies));
            runs = new Runs(context, runsInternal, 1, 10);
        }

        Map<UUID, TargetResult> run(Tenancy... tenancies) {
            List<Unit> units = new ArrayList<>();
            try (Connection c = internalSource.getConnection()) {
                for (Tenancy t : tenancies) {
                    TargetConfig target = TenancyDirectory.byId(c, t.id()).orElseThrow().targets().targets().get(0);
                    units.add(new Unit(t.id(), target));
                }
            } catch (SQLException e) {
                throw new IllegalStateException(e);
            }
            Map<UUID, TargetResult> results = new java.util.LinkedHashMap<>();
            for (List<Unit> batch : runs.plan(List.of(units))) {
                runs.runBatch(batch).forEach((u, r) -> results.put(u.tenancyId(), r));
            }
            return results;
        }

        /** The deadline passes at the {@code n}th page applied from now on. */
        void deadlineAtPage(int n) {
            int at = pages.get() + n;
            afterPage = p -> {
                if (p == at) {
                    clock.addAndGet(DEADLINE.toNanos() * 2);
                }
            };
        }

        @Override
        public void close() {
            watchdog.close();
        }
    }

    private Tenancy tenancyIn(TestDatabase target) {
        Tenancy tenancy = fixtures.createTenancy();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        return tenancy;
    }

    /** Gives the user a {@code "clientMetadata"} of about {@code bytes} bytes. */
    private void widen(Tenancy tenancy, UUID user, int bytes) {
        internal.update("""
                UPDATE "ProjectUser" SET "clientMetadata" = jsonb_build_object('pad', repeat('x', ?))
                WHERE "tenancyId" = ? AND "projectUserId" = ?""", bytes, tenancy.id(), user);
    }

    /**
     * The runs' internal sessions with a result bound of {@code bytes}: the services' pools get
     * internal.database.max-result-buffer, here a small one, on the runs' sessions only.
     */
    private org.postgresql.ds.PGSimpleDataSource boundedInternal(int bytes) {
        org.postgresql.ds.PGSimpleDataSource bounded = new org.postgresql.ds.PGSimpleDataSource();
        bounded.setUrl(internal.jdbcUrl());
        bounded.setUser(internal.user());
        bounded.setPassword(internal.password());
        bounded.setMaxResultBuffer(Integer.toString(bytes));
        return bounded;
    }

    /** {@code n} users whose ids sort in creation order (id ...0001, ...0002, …), each with a primary email. */
    private List<UUID> orderedUsers(Tenancy tenancy, int from, int n) {
        List<UUID> ids = new ArrayList<>();
        for (int i = from; i < from + n; i++) {
            UUID id = orderedId(tenancy, i);
            internal.update("""
                    INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                               "updatedAt", "displayName") VALUES (?, ?, ?, 'main', now(), ?)""",
                    tenancy.id(), id, tenancy.projectId(), "user " + i);
            fixtures.addEmail(tenancy, id, "user" + i + "@example.com", true);
            ids.add(id);
        }
        return ids;
    }

    /** Ids ordered by {@code i} within a tenancy, distinct across tenancies (target keys are global). */
    private static UUID orderedId(Tenancy tenancy, int i) {
        return new UUID(tenancy.id().getMostSignificantBits(), i);
    }

    private static long cursor(TestDatabase target, Tenancy tenancy, String mapping) {
        return target.queryLong("""
                SELECT last_synced_sequence_id FROM _stack_sync_metadata WHERE tenancy_id = ? AND mapping_name = ?""",
                tenancy.id(), mapping);
    }

    /** Whether the tenancy has a cursor row for {@code mapping} (none: it never had data there, reads as −1). */
    private static boolean hasCursor(TestDatabase target, Tenancy tenancy, String mapping) {
        return target.queryLong("""
                SELECT count(*) FROM _stack_sync_metadata WHERE tenancy_id = ? AND mapping_name = ?""",
                tenancy.id(), mapping) > 0;
    }

    private long highestStamp(Tenancy tenancy, Mapping mapping) {
        Object max = internal.queryValue("""
                SELECT max("sequenceId") FROM "SyncChange" WHERE "tenancyId" = ? AND "tableName" = ?""",
                tenancy.id(), mapping.tombstoneTable());
        return max == null ? 0 : ((Number) max).longValue();
    }

    private static List<String> positions(TestDatabase target, Tenancy tenancy) {
        return EngineTestSupport.rows(target, """
                SELECT mapping_name, backfill_high::text, backfill_after::text FROM _stack_sync_metadata
                WHERE tenancy_id = ? AND backfill_high IS NOT NULL ORDER BY 1""", tenancy.id());
    }

    /**
     * Prunes the tenancy's whole log and gives {@code h} a retention floor at its newest stamp for every mapping, as
     * if this target had been counted out; returns the floor.
     */
    private long pruneUpToTheNewestStamp(Harness h, Tenancy tenancy) {
        long floor = internal.queryLong("SELECT max(\"sequenceId\") FROM \"SyncChange\" WHERE \"tenancyId\" = ?",
                tenancy.id());
        pruneLog(tenancy);
        h.floor = (ic, tenancies) -> Map.of(tenancy.id(), Mappings.ALL.stream()
                .collect(Collectors.toMap(Mapping::name, m -> floor)));
        return floor;
    }

    /** Deletes the tenancy's stamped log entries, as retention would once every target passed them. */
    private void pruneLog(Tenancy tenancy) {
        internal.update("DELETE FROM \"SyncChange\" WHERE \"tenancyId\" = ? AND \"sequenceId\" IS NOT NULL",
                tenancy.id());
    }

    @Test
    void aNewTargetOfATenancyWithRowsIsFilledFromTheLiveRowsAndThenFollowsChanges() {
        TestDatabase target = TestPostgres.createDatabase("bf_new");
        Tenancy tenancy = fixtures.createTenancy();
        List<UUID> users = orderedUsers(tenancy, 1, 25);
        UUID team = fixtures.createTeam(tenancy, "Team");
        fixtures.addMember(tenancy, team, users.get(0), "member");
        fixtures.grantTeamPermission(tenancy, team, users.get(0), "team_admin");
        fixtures.inviteToTeam(tenancy, team, "invitee@example.com");
        fixtures.grantProjectPermission(tenancy, users.get(1), "admin");
        fixtures.createRefreshToken(tenancy, users.get(2));
        fixtures.connectAccount(tenancy, users.get(3), "github", "u3@example.com");
        fixtures.createEmail(tenancy, "welcome");
        fixtures.setNotificationPreference(tenancy, users.get(4), UUID.randomUUID(), false);
        // Rows the mappings treat as absent: an unlinked account, an invitation whose team is gone.
        UUID unlinked = fixtures.connectAccount(tenancy, users.get(5), "google", "u5@example.com");
        internal.update("UPDATE \"ProjectUserOAuthAccount\" SET \"projectUserId\" = NULL WHERE \"id\" = ?", unlinked);
        UUID gone = fixtures.createTeam(tenancy, "Gone");
        fixtures.inviteToTeam(tenancy, gone, "orphan@example.com");
        fixtures.deleteTeam(tenancy, gone);
        stamp(internal);
        // The log of what existed is gone (as after retention): a replay from −1 could not bring these rows back.
        pruneLog(tenancy);
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));

        JsonPath first = sync(tenancy.id());

        assertThat(first.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(first.getInt("results[0].targets[0].appliedRows.users")).isEqualTo(25);
        assertMirrors(internal, tenancy.id(), target);
        for (Mapping mapping : Mappings.ALL) {
            assertThat(target.queryLong("SELECT count(*) FROM " + mapping.quotedTable())).as(mapping.name())
                    .isPositive();
        }
        assertThat(target.queryLong("SELECT count(*) FROM connected_accounts")).isEqualTo(1);
        assertThat(target.queryLong("SELECT count(*) FROM team_invitations")).isEqualTo(1);
        assertThat(positions(target, tenancy)).as("no backfill left in progress").isEmpty();

        fixtures.renameUser(tenancy, users.get(4), "renamed");
        fixtures.deleteUser(tenancy, users.get(5));
        fixtures.createUser(tenancy, "newcomer", "new@example.com");
        stamp(internal);
        JsonPath second = sync(tenancy.id());

        assertThat(second.getInt("results[0].targets[0].appliedRows.users")).isEqualTo(3);
        assertMirrors(internal, tenancy.id(), target);
    }

    @Test
    void theCursorAfterABackfillIsTheHighestStampOfTheMappingsTableOrZero() {
        TestDatabase target = TestPostgres.createDatabase("bf_cursor");
        Tenancy tenancy = tenancyIn(target);
        orderedUsers(tenancy, 1, 3);
        stamp(internal);
        long users = highestStamp(tenancy, Mappings.USERS);
        long channels = highestStamp(tenancy, Mappings.CONTACT_CHANNELS);

        try (Harness h = new Harness()) {
            assertThat(h.run(tenancy).get(tenancy.id()).outcome()).isEqualTo(Outcome.SYNCED);
        }

        assertThat(users).isPositive();
        assertThat(cursor(target, tenancy, "users")).isEqualTo(users);
        assertThat(cursor(target, tenancy, "contact_channels")).isEqualTo(channels);
        assertThat(hasCursor(target, tenancy, "teams")).as("no data of the table: no cursor row").isFalse();
        assertThat(internal.queryLong("""
                SELECT "cursor" FROM "SyncEngineProgress" WHERE "tenancyId" = ? AND "mappingName" = 'users'""",
                tenancy.id())).as("the progress mirror").isEqualTo(users);
    }

    @Test
    void aBackfillStoppedByTheRunDeadlineResumesFromItsPositionAndAResyncClearsIt() {
        TestDatabase target = TestPostgres.createDatabase("bf_deadline");
        Tenancy tenancy = tenancyIn(target);
        orderedUsers(tenancy, 1, 35);
        stamp(internal);
        long high = highestStamp(tenancy, Mappings.USERS);

        try (Harness h = new Harness()) {
            h.deadlineAtPage(2);
            TargetResult stopped = h.run(tenancy).get(tenancy.id());

            assertThat(stopped.outcome()).isEqualTo(Outcome.UNFINISHED);
            assertThat(stopped.retry()).isTrue();
            assertThat(target.queryLong("SELECT count(*) FROM users")).isEqualTo(2 * PAGE);
            assertThat(cursor(target, tenancy, "users")).as("not moved before the last page").isEqualTo(-1);
            assertThat(positions(target, tenancy)).containsExactly(
                    "users|" + high + "|{" + orderedId(tenancy, 2 * PAGE) + "}");
            assertThat(internal.queryLong("""
                    SELECT "cursor" FROM "SyncEngineProgress" WHERE "tenancyId" = ? AND "mappingName" = 'users'""",
                    tenancy.id())).as("registered at −1 while it runs").isEqualTo(-1);

            // The next run reads on above the position: only the remaining 15 users.
            h.afterPage = n -> {
            };
            TargetResult resumed = h.run(tenancy).get(tenancy.id());

            assertThat(resumed.outcome()).isEqualTo(Outcome.SYNCED);
            assertThat(resumed.appliedRows().get("users")).isEqualTo(15);
            assertThat(cursor(target, tenancy, "users")).isEqualTo(high);
            assertThat(positions(target, tenancy)).isEmpty();
            assertMirrors(internal, tenancy.id(), target);

            // A resync in the middle of a backfill drops its position: the next run starts over from the first key.
            assertThat(resync(tenancy)).isEqualTo(Resync.Outcome.RESET_DEDICATED);
            h.deadlineAtPage(1);
            assertThat(h.run(tenancy).get(tenancy.id()).outcome()).isEqualTo(Outcome.UNFINISHED);
            assertThat(positions(target, tenancy)).hasSize(1);
            assertThat(resync(tenancy)).isEqualTo(Resync.Outcome.RESET_DEDICATED);
            assertThat(positions(target, tenancy)).isEmpty();
            assertThat(cursor(target, tenancy, "users")).isEqualTo(-1);
            assertThat(target.queryLong("SELECT count(*) FROM users")).isZero();
            h.afterPage = n -> {
            };
            TargetResult again = h.run(tenancy).get(tenancy.id());
            assertThat(again.appliedRows().get("users")).isEqualTo(35);
            assertMirrors(internal, tenancy.id(), target);
        }
    }

    private Resync.Outcome resync(Tenancy tenancy) {
        try {
            return new Resync(internalSource, pools, schema).resync(tenancy.id(), "main", Duration.ofSeconds(5));
        } catch (SQLException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void writesUpdatesAndDeletesBetweenBackfillPagesAreAllInTheTargetAtTheEnd() {
        TestDatabase target = TestPostgres.createDatabase("bf_concurrent");
        Tenancy tenancy = tenancyIn(target);
        List<UUID> users = orderedUsers(tenancy, 10, 30); // ids 10..39, pages of ten
        for (UUID user : users) {
            // A two-column keyset (uuid, text) over several pages.
            fixtures.grantProjectPermission(tenancy, user, "read");
            fixtures.grantProjectPermission(tenancy, user, "write");
        }
        stamp(internal);

        try (Harness h = new Harness()) {
            h.afterPage = n -> {
                if (n == 1) {
                    // After the first page (ids 10..19) and before the second, as writers go on:
                    fixtures.renameUser(tenancy, users.get(5), "copied, then renamed"); // id 15, already copied
                    fixtures.renameUser(tenancy, users.get(25), "renamed before its page"); // id 35, not yet
                    fixtures.deleteUser(tenancy, users.get(3)); // id 13, copied
                    fixtures.deleteUser(tenancy, users.get(27)); // id 37, not yet
                    orderedUsers(tenancy, 1, 2); // ids 1, 2: below the position, no page will read them
                    orderedUsers(tenancy, 50, 2); // ids 50, 51: above it
                    fixtures.revokeProjectPermission(tenancy, users.get(29), "write"); // permissions not yet read
                    fixtures.grantProjectPermission(tenancy, users.get(0), "admin");
                    internal.update("UPDATE \"ContactChannel\" SET \"value\" = 'changed@example.com' "
                            + "WHERE \"tenancyId\" = ? AND \"projectUserId\" = ?", tenancy.id(), users.get(6));
                    stamp(internal);
                }
                if (n == 2) {
                    // Written but not stamped yet when the backfill ends: the next run brings it.
                    fixtures.renameUser(tenancy, users.get(7), "renamed, stamped late");
                }
            };
            TargetResult result = h.run(tenancy).get(tenancy.id());
            assertThat(result.outcome()).isEqualTo(Outcome.SYNCED);
            stamp(internal);
            h.afterPage = n -> {
            };
            assertThat(h.run(tenancy).get(tenancy.id()).outcome()).isEqualTo(Outcome.SYNCED);
        }

        assertMirrors(internal, tenancy.id(), target);
        assertThat(EngineTestSupport.rows(target, "SELECT display_name FROM users WHERE display_name LIKE '%renamed%'"))
                .containsExactlyInAnyOrder("copied, then renamed", "renamed before its page", "renamed, stamped late");
        assertThat(target.queryLong("SELECT count(*) FROM users")).isEqualTo(30 - 2 + 4);
        assertThat(target.queryValue("SELECT primary_email FROM users WHERE id = ?", users.get(6)))
                .isEqualTo("changed@example.com");
        assertThat(cursor(target, tenancy, "users")).isEqualTo(highestStamp(tenancy, Mappings.USERS));
    }

    @Test
    void aWipedTargetStartsOverFromTheLiveRows() {
        TestDatabase target = TestPostgres.createDatabase("bf_wiped");
        Tenancy tenancy = tenancyIn(target);
        orderedUsers(tenancy, 1, 12);
        stamp(internal);
        sync(tenancy.id());
        pruneLog(tenancy);

        target.execute("DROP TABLE " + Mappings.ALL.stream().map(Mapping::quotedTable).collect(Collectors.joining(", "))
                + ", _stack_sync_metadata");
        JsonPath after = sync(tenancy.id());

        assertThat(after.getString("results[0].outcome")).isEqualTo("SYNCED");
        assertThat(after.getInt("results[0].targets[0].appliedRows.users")).isEqualTo(12);
        assertMirrors(internal, tenancy.id(), target);
    }

    @Test
    void aCursorBelowTheRetentionFloorIsBackfilled() {
        TestDatabase target = TestPostgres.createDatabase("bf_floor");
        Tenancy tenancy = tenancyIn(target);
        orderedUsers(tenancy, 1, 3);
        stamp(internal);
        try (Harness h = new Harness()) {
            h.run(tenancy);
            long synced = cursor(target, tenancy, "users");

            // Changes this target never read, then their entries pruned past its cursor (as if it had been counted
            // out, e.g. a target id renamed over the same database).
            List<UUID> late = orderedUsers(tenancy, 10, 4);
            stamp(internal);
            long floor = pruneUpToTheNewestStamp(h, tenancy);

            TargetResult result = h.run(tenancy).get(tenancy.id());

            assertThat(synced).isLessThan(floor);
            assertThat(result.outcome()).isEqualTo(Outcome.SYNCED);
            assertThat(result.appliedRows().get("users")).isEqualTo(4);
            assertThat(cursor(target, tenancy, "users")).isEqualTo(floor);
            assertThat(cursor(target, tenancy, "contact_channels")).as("H is at least the floor").isEqualTo(floor);
            assertThat(hasCursor(target, tenancy, "teams")).as("no data of the table: no cursor row").isFalse();

            // At the floor, not below it: the log is read again.
            fixtures.renameUser(tenancy, late.get(0), "after the floor");
            stamp(internal);
            assertThat(h.run(tenancy).get(tenancy.id()).appliedRows().get("users")).isEqualTo(1);
        }
        assertMirrors(internal, tenancy.id(), target);
    }

    @Test
    void aSharedTargetBackfillsTheNewTenancyAloneWhileTheOtherReadsItsLog() {
        TestDatabase shared = TestPostgres.createDatabase("bf_shared");
        Tenancy old = tenancyIn(shared);
        orderedUsers(old, 1, 5);
        stamp(internal);
        sync(old.id());
        Tenancy fresh = fixtures.createTenancy();
        orderedUsers(fresh, 1, 23);
        stamp(internal);
        pruneLog(fresh); // only a backfill can bring these
        fixtures.configureTargets(fresh, Map.of("main", shared.postgresUrl()));
        fixtures.renameUser(old, orderedId(old, 2), "old, renamed");
        stamp(internal);

        Map<UUID, TargetResult> results;
        try (Harness h = new Harness()) {
            results = h.run(old, fresh);
        }

        assertThat(results.get(old.id()).outcome()).isEqualTo(Outcome.SYNCED);
        assertThat(results.get(old.id()).appliedRows().get("users")).isEqualTo(1);
        assertThat(results.get(fresh.id()).outcome()).isEqualTo(Outcome.SYNCED);
        assertThat(results.get(fresh.id()).appliedRows().get("users")).isEqualTo(23);
        BatchSyncTest.assertSharedMirrors(internal, List.of(old.id(), fresh.id()), shared);
        assertThat(cursor(shared, fresh, "users")).isEqualTo(highestStamp(fresh, Mappings.USERS));
        assertThat(cursor(shared, old, "users")).isEqualTo(highestStamp(old, Mappings.USERS));
    }

    @Test
    void manyNewTenanciesOfOneTargetAreBackfilledTogetherAndABigOneAlone() {
        TestDatabase shared = TestPostgres.createDatabase("bf_many");
        Tenancy synced = tenancyIn(shared);
        orderedUsers(synced, 1, 2);
        stamp(internal);
        sync(synced.id());
        List<Tenancy> small = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Tenancy t = fixtures.createTenancy();
            orderedUsers(t, 1, 2 + i);
            UUID team = fixtures.createTeam(t, "team " + i);
            fixtures.inviteToTeam(t, team, "invitee" + i + "@example.com");
            small.add(t);
        }
        Tenancy big = fixtures.createTenancy();
        orderedUsers(big, 1, 25); // more than the batch's share of a page: alone, several pages
        stamp(internal);
        List<Tenancy> fresh = new ArrayList<>(small);
        fresh.add(big);
        fresh.forEach(this::pruneLog); // only a backfill can bring these
        fresh.forEach(t -> fixtures.configureTargets(t, Map.of("main", shared.postgresUrl())));
        fixtures.renameUser(synced, orderedId(synced, 1), "renamed meanwhile");
        stamp(internal);

        Map<UUID, TargetResult> results;
        try (Harness h = new Harness()) {
            List<Tenancy> request = new ArrayList<>(fresh);
            request.add(synced);
            results = h.run(request.toArray(Tenancy[]::new));
        }

        for (int i = 0; i < small.size(); i++) {
            TargetResult r = results.get(small.get(i).id());
            assertThat(r.outcome()).isEqualTo(Outcome.SYNCED);
            assertThat(r.appliedRows().get("users")).isEqualTo(2 + i);
            assertThat(r.appliedRows().get("team_invitations")).isEqualTo(1);
            assertThat(cursor(shared, small.get(i), "users")).isEqualTo(highestStamp(small.get(i), Mappings.USERS));
            assertThat(hasCursor(shared, small.get(i), "email_outboxes")).as("no data: no cursor row").isFalse();
        }
        assertThat(results.get(big.id()).appliedRows().get("users")).isEqualTo(25);
        assertThat(results.get(synced.id()).appliedRows().get("users")).isEqualTo(1);
        List<UUID> all = new ArrayList<>(fresh.stream().map(Tenancy::id).toList());
        all.add(synced.id());
        BatchSyncTest.assertSharedMirrors(internal, all, shared);
        assertThat(internal.queryLong("""
                SELECT count(*) FROM "SyncEngineProgress" WHERE "tenancyId" = ANY(?::uuid[]) AND "cursor" < 0""",
                (Object) all.stream().map(UUID::toString).toArray(String[]::new))).as("no mirror row left at −1")
                .isZero();
    }

    @Test
    void aRowTheTargetRejectsDuringABackfillIsDeadLetteredAndTheRestArrives() {
        TestDatabase target = TestPostgres.createDatabase("bf_poison");
        Tenancy seed = tenancyIn(target);
        fixtures.createUser(seed, "seed", null);
        stamp(internal);
        sync(seed.id()); // bootstraps the schema
        target.execute("ALTER TABLE users ADD CONSTRAINT no_evil CHECK (display_name IS DISTINCT FROM 'EVIL')");
        Tenancy tenancy = tenancyIn(target);
        List<UUID> users = orderedUsers(tenancy, 1, 15);
        // One in the first page (dead-lettered while the second page is being read ahead), one in the last.
        fixtures.renameUser(tenancy, users.get(3), "EVIL");
        fixtures.renameUser(tenancy, users.get(12), "EVIL");
        stamp(internal);

        try (Harness h = new Harness()) {
            assertThat(h.run(tenancy).get(tenancy.id()).outcome()).isEqualTo(Outcome.SYNCED);
        }

        assertThat(target.queryLong("SELECT count(*) FROM users WHERE id <> ALL(SELECT id FROM users WHERE "
                + "display_name = 'seed')")).isEqualTo(13);
        assertThat(EngineTestSupport.rows(internal, """
                SELECT "mappingName", "rowKey" ->> 'id' FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ?
                ORDER BY "rowKey" ->> 'id'""", tenancy.id()))
                .containsExactly("users|" + users.get(3), "users|" + users.get(12));
        assertThat(cursor(target, tenancy, "users")).isEqualTo(highestStamp(tenancy, Mappings.USERS));
        assertThat(positions(target, tenancy)).isEmpty();

        // A small tenancy (every mapping one page, applied in one transaction): the rejected transaction falls
        // back to mapping by mapping, where the bad row is bisected out.
        Tenancy small = tenancyIn(target);
        List<UUID> few = orderedUsers(small, 1, 4);
        fixtures.renameUser(small, few.get(1), "EVIL");
        stamp(internal);
        try (Harness h = new Harness()) {
            TargetResult result = h.run(small).get(small.id());
            assertThat(result.outcome()).isEqualTo(Outcome.SYNCED);
            assertThat(result.appliedRows().get("users")).isEqualTo(3);
            assertThat(result.appliedRows().get("contact_channels")).isEqualTo(4);
        }
        assertThat(EngineTestSupport.rows(internal, """
                SELECT "rowKey" ->> 'id' FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ?""", small.id()))
                .containsExactly(few.get(1).toString());
        assertThat(cursor(target, small, "users")).isEqualTo(highestStamp(small, Mappings.USERS));
    }

    @Test
    void aBackfillCopiedInChunksBringsEveryRowInOneTransactionPerChunkAndEndsAtH() {
        TestDatabase target = TestPostgres.createDatabase("bf_copy");
        Tenancy tenancy = tenancyIn(target);
        List<UUID> users = orderedUsers(tenancy, 1, 25);
        fixtures.deleteUser(tenancy, users.get(24));
        stamp(internal);

        try (Harness h = new Harness(7)) {
            TargetResult result = h.run(tenancy).get(tenancy.id());
            assertThat(result.outcome()).isEqualTo(Outcome.SYNCED);
            assertThat(result.appliedRows()).containsEntry("users", 24L).containsEntry("contact_channels", 24L);
            assertThat(h.pages.get()).as("chunks of 7 keys (7, 7, 7, 3 per mapping), not pages of " + PAGE)
                    .isEqualTo(8);
        }
        assertThat(EngineTestSupport.rows(target, "SELECT display_name, primary_email FROM users ORDER BY id"))
                .hasSize(24).first().isEqualTo("user 1|user1@example.com");
        assertThat(target.queryLong("SELECT count(*) FROM users WHERE id = ?", users.get(24))).isZero();
        assertThat(target.queryLong("SELECT count(*) FROM contact_channels WHERE is_primary")).isEqualTo(24);
        assertThat(cursor(target, tenancy, "users")).isEqualTo(highestStamp(tenancy, Mappings.USERS));
        assertThat(cursor(target, tenancy, "contact_channels"))
                .isEqualTo(highestStamp(tenancy, Mappings.CONTACT_CHANNELS));
        assertThat(positions(target, tenancy)).isEmpty();
        assertMirrors(internal, tenancy.id(), target);

        // Then the log: a change after the backfill arrives as usual.
        fixtures.renameUser(tenancy, users.get(0), "renamed");
        stamp(internal);
        try (Harness h = new Harness(7)) {
            assertThat(h.run(tenancy).get(tenancy.id()).appliedRows()).containsEntry("users", 1L);
        }
        assertThat(target.queryLong("SELECT count(*) FROM users WHERE display_name = 'renamed'")).isEqualTo(1);
    }

    @Test
    void aCopiedBackfillStoppedByTheRunDeadlineResumesFromTheLastChunkItCommitted() {
        TestDatabase target = TestPostgres.createDatabase("bf_copy_deadline");
        Tenancy tenancy = tenancyIn(target);
        orderedUsers(tenancy, 1, 15);
        stamp(internal);
        long high = highestStamp(tenancy, Mappings.USERS);

        try (Harness h = new Harness(5)) {
            h.deadlineAtPage(2);
            TargetResult stopped = h.run(tenancy).get(tenancy.id());
            assertThat(stopped.outcome()).isEqualTo(Outcome.UNFINISHED);
            assertThat(target.queryLong("SELECT count(*) FROM users")).isEqualTo(10);
            assertThat(cursor(target, tenancy, "users")).isEqualTo(-1);
            assertThat(positions(target, tenancy)).containsExactly(
                    "users|" + high + "|{" + orderedId(tenancy, 10) + "}");

            h.afterPage = n -> {
            };
            TargetResult resumed = h.run(tenancy).get(tenancy.id());
            assertThat(resumed.outcome()).isEqualTo(Outcome.SYNCED);
            assertThat(resumed.appliedRows().get("users")).isEqualTo(5);
        }
        assertThat(target.queryLong("SELECT count(*) FROM users")).isEqualTo(15);
        assertThat(cursor(target, tenancy, "users")).isEqualTo(high);
        assertThat(positions(target, tenancy)).isEmpty();
        assertMirrors(internal, tenancy.id(), target);
    }

    @Test
    void aCopiedBackfillOverRowsTheTargetHoldsUpsertsThemAndRewritesOnlyThoseThatChanged() {
        TestDatabase target = TestPostgres.createDatabase("bf_copy_held");
        Tenancy tenancy = tenancyIn(target);
        List<UUID> users = orderedUsers(tenancy, 1, 12);
        stamp(internal);
        List<UUID> late;
        try (Harness h = new Harness(5)) {
            assertThat(h.run(tenancy).get(tenancy.id()).appliedRows()).containsEntry("users", 12L);

            // Changes this target never read, their entries then pruned past its cursor: the next run backfills
            // again over rows the target holds, so the first chunk's plain insert meets a held key.
            fixtures.renameUser(tenancy, users.get(1), "renamed early");
            fixtures.renameUser(tenancy, users.get(10), "renamed late");
            late = orderedUsers(tenancy, 20, 3);
            stamp(internal);
            long floor = pruneUpToTheNewestStamp(h, tenancy);

            TargetResult result = h.run(tenancy).get(tenancy.id());
            assertThat(result.outcome()).isEqualTo(Outcome.SYNCED);
            assertThat(result.appliedRows()).as("two renamed, three new; the other ten identical, not rewritten")
                    .containsEntry("users", 5L).containsEntry("contact_channels", 3L);
        }
        assertThat(target.queryLong("SELECT count(*) FROM users")).isEqualTo(15);
        assertThat(EngineTestSupport.rows(target, "SELECT display_name FROM users WHERE id IN (?, ?, ?) ORDER BY id",
                users.get(1), users.get(10), late.get(2)))
                .containsExactly("renamed early", "renamed late", "user 22");
        assertThat(positions(target, tenancy)).isEmpty();
        assertMirrors(internal, tenancy.id(), target);
    }

    @Test
    void aPositionTheTenantRewroteToAnotherShapeRestartsTheCopiedBackfillFromTheFirstKey() {
        TestDatabase target = TestPostgres.createDatabase("bf_copy_misfit");
        Tenancy tenancy = tenancyIn(target);
        orderedUsers(tenancy, 1, 15);
        stamp(internal);
        long high = highestStamp(tenancy, Mappings.USERS);
        try (Harness h = new Harness(5)) {
            h.deadlineAtPage(1);
            assertThat(h.run(tenancy).get(tenancy.id()).outcome()).isEqualTo(Outcome.UNFINISHED);
            assertThat(target.queryLong("SELECT count(*) FROM users")).isEqualTo(5);
            target.execute("UPDATE _stack_sync_metadata SET backfill_after = ARRAY['a', 'b', 'c'] "
                    + "WHERE mapping_name = 'users'");

            h.afterPage = n -> {
            };
            TargetResult result = h.run(tenancy).get(tenancy.id());
            assertThat(result.outcome()).isEqualTo(Outcome.SYNCED);
            assertThat(result.appliedRows()).as("from the first key again; the five it holds are identical")
                    .containsEntry("users", 10L);
        }
        assertThat(target.queryLong("SELECT count(*) FROM users")).isEqualTo(15);
        assertThat(cursor(target, tenancy, "users")).isEqualTo(high);
        assertThat(positions(target, tenancy)).isEmpty();
    }

    @Test
    void aChunkTheTargetRejectsGoesOnPageByPageAndOnlyItsBadRowIsDeadLettered() {
        TestDatabase target = TestPostgres.createDatabase("bf_copy_poison");
        Tenancy seed = tenancyIn(target);
        fixtures.createUser(seed, "seed", null);
        stamp(internal);
        sync(seed.id()); // bootstraps the schema
        target.execute("ALTER TABLE users ADD CONSTRAINT no_evil CHECK (display_name IS DISTINCT FROM 'EVIL')");
        Tenancy tenancy = tenancyIn(target);
        List<UUID> users = orderedUsers(tenancy, 1, 15);
        fixtures.renameUser(tenancy, users.get(7), "EVIL"); // in the second chunk of five
        stamp(internal);

        try (Harness h = new Harness(5)) {
            TargetResult result = h.run(tenancy).get(tenancy.id());
            assertThat(result.outcome()).isEqualTo(Outcome.SYNCED);
            assertThat(result.appliedRows()).containsEntry("users", 14L).containsEntry("contact_channels", 15L);
        }
        assertThat(EngineTestSupport.rows(internal, """
                SELECT "mappingName", "rowKey" ->> 'id' FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ?""",
                tenancy.id())).containsExactly("users|" + users.get(7));
        assertThat(target.queryLong("SELECT count(*) FROM users WHERE display_name LIKE 'user %'")).isEqualTo(14);
        assertThat(cursor(target, tenancy, "users")).isEqualTo(highestStamp(tenancy, Mappings.USERS));
        assertThat(positions(target, tenancy)).isEmpty();
    }

    @Test
    void aChunkHoldingARowTooWideToReadIsNotCopiedAndThePagesAfterItDeadLetterItAndBringTheRest() {
        TestDatabase target = TestPostgres.createDatabase("bf_copy_wide");
        Tenancy tenancy = tenancyIn(target);
        List<UUID> users = orderedUsers(tenancy, 1, 15);
        widen(tenancy, users.get(7), 20_000); // the second chunk
        stamp(internal);

        try (Harness h = new Harness(5, 20_000)) {
            TargetResult result = h.run(tenancy).get(tenancy.id());
            assertThat(result.outcome()).isEqualTo(Outcome.SYNCED);
            assertThat(result.appliedRows()).containsEntry("users", 14L).containsEntry("contact_channels", 15L);
        }
        assertThat(target.queryLong("SELECT count(*) FROM users")).isEqualTo(14);
        assertThat(EngineTestSupport.rows(internal, """
                SELECT "rowKey" ->> 'id', "error" FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ?""",
                tenancy.id())).singleElement().asString().startsWith(users.get(7) + "|")
                .contains("internal.database.max-result-buffer");
        assertThat(cursor(target, tenancy, "users")).isEqualTo(highestStamp(tenancy, Mappings.USERS));
        assertThat(positions(target, tenancy)).isEmpty();
    }

    @Test
    void aRowTooWideToReadInAFirstBackfillIsDeadLetteredAloneOrBatchedAndEveryOtherRowArrives() {
        TestDatabase shared = TestPostgres.createDatabase("bf_wide_first_dead_letter");
        TestDatabase own = TestPostgres.createDatabase("bf_wide_own_dead_letter");
        Tenancy batched = tenancyIn(shared);
        Tenancy beside = tenancyIn(shared);
        Tenancy alone = tenancyIn(own);
        for (Tenancy t : List.of(batched, beside, alone)) {
            orderedUsers(t, 1, 3);
        }
        widen(batched, orderedId(batched, 2), 200_000);
        widen(alone, orderedId(alone, 2), 200_000);
        stamp(internal);

        Map<UUID, TargetResult> results;
        try (Harness h = new Harness(0, 100_000, boundedInternal(100_000))) {
            results = h.run(batched, beside, alone);
        }

        assertThat(results.values()).extracting(TargetResult::outcome).containsOnly(Outcome.SYNCED);
        assertThat(results.get(beside.id()).appliedRows().get("users")).isEqualTo(3);
        for (Tenancy t : List.of(batched, alone)) {
            assertThat(results.get(t.id()).appliedRows().get("users")).isEqualTo(2);
            assertThat(EngineTestSupport.rows(internal, """
                    SELECT "rowKey" ->> 'id' FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ?""", t.id()))
                    .containsExactly(orderedId(t, 2).toString());
            assertThat(cursor(t == alone ? own : shared, t, "users")).isEqualTo(highestStamp(t, Mappings.USERS));
        }
        assertThat(shared.queryLong("SELECT count(*) FROM users")).isEqualTo(5);
        assertThat(own.queryLong("SELECT count(*) FROM users")).isEqualTo(2);
    }

    @Test
    void aRowWiderThanTheInternalResultBoundFailsOnlyItsOwnTenancysRunAndTheErrorNamesTheBound() {
        TestDatabase wideTarget = TestPostgres.createDatabase("bf_wide_bound");
        TestDatabase narrowTarget = TestPostgres.createDatabase("bf_narrow_bound");
        Tenancy wide = tenancyIn(wideTarget);
        Tenancy narrow = tenancyIn(narrowTarget);
        List<UUID> users = orderedUsers(wide, 1, 3);
        orderedUsers(narrow, 1, 3);
        widen(wide, users.get(1), 200_000);
        stamp(internal);

        Map<UUID, TargetResult> results;
        // Reads unguarded, as when a whole result rather than one row is over the bound: the read loses the session.
        try (Harness h = new Harness(0, Long.MAX_VALUE, boundedInternal(100_000))) {
            results = h.run(wide, narrow);
        }
        assertThat(results.get(wide.id()).outcome()).isEqualTo(Outcome.FAILED);
        assertThat(results.get(wide.id()).retry()).isTrue();
        assertThat(results.get(wide.id()).error()).as("the internal database's failure, not the target's")
                .startsWith("internal database: ").contains("maxResultBuffer")
                .contains("internal.database.max-result-buffer");
        assertThat(results.get(narrow.id()).outcome()).isEqualTo(Outcome.SYNCED);
        assertThat(narrowTarget.queryLong("SELECT count(*) FROM users")).isEqualTo(3);
    }

    @Test
    void aRowWiderThanTheInternalResultBoundInABatchedReadFailsOnlyItsTenancyAndTheOthersOfTheTargetSync() {
        TestDatabase shared = TestPostgres.createDatabase("bf_wide_batch");
        List<Tenancy> tenancies = List.of(tenancyIn(shared), tenancyIn(shared), tenancyIn(shared));
        tenancies.forEach(t -> orderedUsers(t, 1, 2));
        stamp(internal);
        try (Harness h = new Harness()) {
            assertThat(h.run(tenancies.toArray(Tenancy[]::new)).values()).extracting(TargetResult::outcome)
                    .containsOnly(Outcome.SYNCED);
        }
        Tenancy wide = tenancies.get(1);
        tenancies.forEach(t -> orderedUsers(t, 3, 2));
        widen(wide, orderedId(wide, 4), 200_000);
        stamp(internal);

        Map<UUID, TargetResult> results;
        // Reads unguarded, as when a whole result rather than one row is over the bound: the read loses the session.
        try (Harness h = new Harness(0, Long.MAX_VALUE, boundedInternal(100_000))) {
            results = h.run(tenancies.toArray(Tenancy[]::new));
        }

        assertThat(results.get(wide.id()).outcome()).isEqualTo(Outcome.FAILED);
        assertThat(results.get(wide.id()).retry()).isTrue();
        assertThat(results.get(wide.id()).error()).contains("internal.database.max-result-buffer");
        for (Tenancy t : List.of(tenancies.get(0), tenancies.get(2))) {
            assertThat(results.get(t.id()).outcome()).as("a tenancy beside the wide one").isEqualTo(Outcome.SYNCED);
            assertThat(results.get(t.id()).appliedRows().get("users")).isEqualTo(2);
            assertThat(cursor(shared, t, "users")).isEqualTo(highestStamp(t, Mappings.USERS));
        }
        assertThat(cursor(shared, wide, "users")).as("the wide tenancy's users wait").isLessThan(
                highestStamp(wide, Mappings.USERS));
        assertThat(internal.queryLong("""
                SELECT "cursor" FROM "SyncEngineProgress" WHERE "tenancyId" = ? AND "mappingName" = 'users'""",
                tenancies.get(2).id())).as("the mirror of a member run after the session was lost")
                .isEqualTo(highestStamp(tenancies.get(2), Mappings.USERS));
    }

    @Test
    void aRowWiderThanTheInternalResultBoundInABatchedFirstBackfillFailsOnlyItsTenancy() {
        TestDatabase shared = TestPostgres.createDatabase("bf_wide_first");
        List<Tenancy> tenancies = List.of(tenancyIn(shared), tenancyIn(shared), tenancyIn(shared));
        tenancies.forEach(t -> orderedUsers(t, 1, 3));
        Tenancy wide = tenancies.get(0);
        widen(wide, orderedId(wide, 2), 200_000);
        stamp(internal);

        Map<UUID, TargetResult> results;
        // Reads unguarded, as when a whole result rather than one row is over the bound: the read loses the session.
        try (Harness h = new Harness(0, Long.MAX_VALUE, boundedInternal(100_000))) {
            results = h.run(tenancies.toArray(Tenancy[]::new));
        }

        assertThat(results.get(wide.id()).outcome()).isEqualTo(Outcome.FAILED);
        assertThat(results.get(wide.id()).error()).startsWith("internal database: ")
                .contains("internal.database.max-result-buffer");
        for (Tenancy t : tenancies.subList(1, 3)) {
            assertThat(results.get(t.id()).outcome()).as("a tenancy beside the wide one").isEqualTo(Outcome.SYNCED);
            assertThat(results.get(t.id()).appliedRows().get("users")).isEqualTo(3);
            assertThat(cursor(shared, t, "users")).isEqualTo(highestStamp(t, Mappings.USERS));
        }
    }

    @Test
    void aChangedRowTooWideToReadIsDeadLetteredTheOtherChangesSyncAndItArrivesOnceNarrowed() {
        TestDatabase shared = TestPostgres.createDatabase("bf_wide_dead_letter");
        Tenancy wide = tenancyIn(shared);
        Tenancy beside = tenancyIn(shared);
        orderedUsers(wide, 1, 2);
        orderedUsers(beside, 1, 2);
        stamp(internal);
        try (Harness h = new Harness()) {
            assertThat(h.run(wide, beside).values()).extracting(TargetResult::outcome).containsOnly(Outcome.SYNCED);
        }
        orderedUsers(wide, 3, 3);
        orderedUsers(beside, 3, 3);
        UUID tooWide = orderedId(wide, 4);
        widen(wide, tooWide, 200_000);
        stamp(internal);

        Map<UUID, TargetResult> results;
        try (Harness h = new Harness(0, Long.MAX_VALUE, boundedInternal(300_000), 100_000)) {
            results = h.run(wide, beside);
        }

        assertThat(results.values()).extracting(TargetResult::outcome).containsOnly(Outcome.SYNCED);
        assertThat(results.get(beside.id()).appliedRows().get("users")).isEqualTo(3);
        assertThat(results.get(wide.id()).appliedRows().get("users")).as("users 3 and 5").isEqualTo(2);
        assertThat(EngineTestSupport.rows(shared, "SELECT id::text FROM users ORDER BY id"))
                .doesNotContain(tooWide.toString()).hasSize(9);
        assertThat(cursor(shared, wide, "users")).isEqualTo(highestStamp(wide, Mappings.USERS));
        assertThat(EngineTestSupport.rows(internal, """
                SELECT "rowKey" ->> 'id', "error" FROM "SyncEnginePoisonRow" WHERE "tenancyId" = ?""", wide.id()))
                .singleElement().asString().startsWith(tooWide + "|")
                .contains("internal.database.max-result-buffer").doesNotContain("xxxxxxxx");

        internal.update("""
                UPDATE "ProjectUser" SET "clientMetadata" = '{"pad": "narrow"}'
                WHERE "tenancyId" = ? AND "projectUserId" = ?""", wide.id(), tooWide);
        stamp(internal);
        try (Harness h = new Harness(0, Long.MAX_VALUE, boundedInternal(300_000), 100_000)) {
            assertThat(h.run(wide).get(wide.id()).outcome()).isEqualTo(Outcome.SYNCED);
        }
        assertThat(shared.queryLong("SELECT count(*) FROM users WHERE id = ?", tooWide)).isEqualTo(1);
        assertThat(internal.queryLong("SELECT count(*) FROM \"SyncEnginePoisonRow\" WHERE \"tenancyId\" = ?",
                wide.id())).as("cleared once it applied").isZero();
    }

    @Test
    void aFirstBackfillPageTheTargetRefusesSavesNoPositionSoTheNextRunStillBringsItsRows() {
        TestDatabase target = TestPostgres.createDatabase("bf_refused");
        Tenancy seed = tenancyIn(target);
        fixtures.createUser(seed, "seed", null);
        stamp(internal);
        sync(seed.id()); // bootstraps the schema
        // Not a data error (those are bisected and dead-lettered): the tenant took the right to insert away.
        target.execute("""
                CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'permission denied for table users' USING ERRCODE = '42501'; END $$""");
        target.execute("CREATE TRIGGER refuse BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION refuse()");
        Tenancy tenancy = tenancyIn(target);
        orderedUsers(tenancy, 1, 15);
        stamp(internal);

        try (Harness h = new Harness()) {
            TargetResult refused = h.run(tenancy).get(tenancy.id());
            assertThat(refused.outcome()).isEqualTo(Outcome.FAILED);
            assertThat(refused.retry()).isTrue();
        }
        assertThat(positions(target, tenancy)).as("no position past rows that were never applied")
                .allSatisfy(p -> assertThat(p).doesNotStartWith("users|"));

        target.execute("DROP TRIGGER refuse ON users");
        try (Harness h = new Harness()) {
            assertThat(h.run(tenancy).get(tenancy.id()).outcome()).isEqualTo(Outcome.SYNCED);
        }
        assertThat(target.queryLong("SELECT count(*) FROM users WHERE display_name LIKE 'user %'")).isEqualTo(15);
        assertThat(cursor(target, tenancy, "users")).isEqualTo(highestStamp(tenancy, Mappings.USERS));
        assertThat(positions(target, tenancy)).isEmpty();
    }

    @Test
    void aTargetBootstrappedBeforeBackfillPositionsGetsTheirColumnsWithoutItsDdlRunningAgain() {
        TestDatabase target = TestPostgres.createDatabase("bf_marked");
        target.execute(Mappings.TARGET_DDL.toArray(String[]::new));
        target.execute(Mappings.WRITE_SCHEMA_MARK_SQL, "GRANT INSERT ON users TO PUBLIC");
        Tenancy tenancy = tenancyIn(target);
        orderedUsers(tenancy, 1, 2);
        stamp(internal);

        assertThat(sync(tenancy.id()).getString("results[0].outcome")).isEqualTo("SYNCED");

        assertThat(target.queryLong("""
                SELECT count(*) FROM information_schema.columns WHERE table_name = '_stack_sync_metadata'
                  AND column_name IN ('backfill_high', 'backfill_after')""")).isEqualTo(2);
        assertThat(target.queryValue("SELECT has_table_privilege('public', 'users', 'INSERT')"))
                .as("the mapping DDL's REVOKE did not run again").isEqualTo(true);
        assertMirrors(internal, tenancy.id(), target);
    }
}
