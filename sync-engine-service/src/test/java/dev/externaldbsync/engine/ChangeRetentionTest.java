package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

import jakarta.inject.Inject;

import org.jboss.logging.Logger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.config.TargetConfigError;
import dev.externaldbsync.config.TenancyDirectory;
import dev.externaldbsync.engine.store.ChangeRetention;
import dev.externaldbsync.engine.store.ProgressStore;
import dev.externaldbsync.engine.store.RetentionLoop;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;

/**
 * Retention of the change log against a real internal database: targets' cursors are written to the progress
 * mirror the way runs write them, and nothing a configured target still needs is ever deleted. The background loop
 * is off here (each test prunes when it means to); {@link RetentionLoopTest} covers the loop itself.
 */
@QuarkusTest
@TestProfile(ChangeRetentionTest.Profile.class)
@WithTestResource(InternalDatabaseResource.class)
class ChangeRetentionTest {

    public static class Profile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("engine.retention.enabled", "false");
        }
    }

    private static final Logger LOG = Logger.getLogger(ChangeRetentionTest.class);

    private static final String A = "postgresql://someone:pw@localhost:1/retention_a";
    private static final String B = "postgresql://someone:pw@localhost:1/retention_b";

    @InjectTestDatabase
    TestDatabase internal;

    @Inject
    RetentionLoop loop;

    StackAuthFixtures fixtures;

    @BeforeEach
    void fixtures() {
        fixtures = new StackAuthFixtures(internal);
    }

    private static Mapping mapping(String name) {
        return Mappings.ALL.stream().filter(m -> m.name().equals(name)).findFirst().orElseThrow();
    }

    private Tenancy tenancyWith(String... targets) {
        Tenancy t = fixtures.createTenancy();
        Map<String, String> config = new LinkedHashMap<>();
        for (String target : targets) {
            config.put(target, target.equals("a") ? A : B);
        }
        if (!config.isEmpty()) {
            fixtures.configureTargets(t, config);
        }
        return t;
    }

    private void users(Tenancy t, int count, String prefix) {
        internal.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt", "displayName")
                SELECT ?, gen_random_uuid(), ?, 'main', now(), ? || g FROM generate_series(1, ?) g""",
                t.id(), t.projectId(), prefix, count);
    }

    /** The stamps of a tenancy's entries of one table, in order. */
    private List<Long> stamps(Tenancy t, String table) {
        return internal.queryRows("""
                SELECT "sequenceId" FROM "SyncChange"
                WHERE "tenancyId" = ? AND "tableName" = ? AND "sequenceId" IS NOT NULL ORDER BY 1""", t.id(), table)
                .stream().map(r -> ((Number) r.get(0)).longValue()).toList();
    }

    private long newest(Tenancy t, String table) {
        List<Long> s = stamps(t, table);
        return s.get(s.size() - 1);
    }

    private long unstamped() {
        return internal.queryLong("SELECT count(*) FROM \"SyncChange\" WHERE \"sequenceId\" IS NULL");
    }

    /** Mirrors cursors as a run does: target → mapping name → cursor (mappings not named: at the newest stamp). */
    private void cursors(Tenancy t, String target, Map<String, Long> cursors) throws SQLException {
        ProgressStore.Batch batch = new ProgressStore.Batch();
        for (Mapping m : Mappings.ALL) {
            Long cursor = cursors.get(m.name());
            if (cursor == null) {
                List<Long> s = stamps(t, m.tombstoneTable());
                cursor = s.isEmpty() ? 0L : s.get(s.size() - 1);
            }
            batch.add(t.id(), target, m.name(), cursor, 0);
        }
        try (Connection c = internal.connect()) {
            batch.flush(c);
        }
    }

    private ChangeRetention.Plan plan(Tenancy t) throws SQLException {
        try (Connection c = internal.connect()) {
            return ChangeRetention.plan(c, List.of(t.id())).get(0);
        }
    }

    private ChangeRetention.Pruned prune(Tenancy t, int batch) throws SQLException {
        try (Connection c = internal.connect()) {
            ChangeRetention.Plan plan = ChangeRetention.plan(c, List.of(t.id())).get(0);
            return ChangeRetention.prune(c, plan, batch, () -> false);
        }
    }

    private long floor(Tenancy t, String mapping) throws SQLException {
        try (Connection c = internal.connect()) {
            return ChangeRetention.prunedThrough(c, t.id(), mapping(mapping));
        }
    }

    @Test
    void aLaggingTargetKeepsEveryEntryAboveItsCursorAndOnceCaughtUpOnlyTheNewestStays() throws Exception {
        Tenancy t = tenancyWith("a");
        users(t, 30, "u");
        stamp(internal);
        List<Long> all = stamps(t, "ProjectUser");
        long behind = all.get(9);
        cursors(t, "a", Map.of("users", behind));

        prune(t, 1000);

        assertThat(stamps(t, "ProjectUser")).as("every entry above the lagging cursor").isEqualTo(all.subList(10, 30));
        assertThat(floor(t, "users")).isEqualTo(behind);

        cursors(t, "a", Map.of("users", all.get(29)));
        prune(t, 1000);

        assertThat(stamps(t, "ProjectUser")).as("the table's newest entry stays").containsExactly(all.get(29));
        assertThat(floor(t, "users")).isEqualTo(all.get(29) - 1);
    }

    @Test
    void retentionRacingALaggingTargetNeverDeletesWhatItHasNotApplied() throws Exception {
        Tenancy t = tenancyWith("a", "b");
        users(t, 40, "u");
        stamp(internal);
        List<Long> first = stamps(t, "ProjectUser");
        cursors(t, "a", Map.of());
        long lagging = first.get(4);
        cursors(t, "b", Map.of("users", lagging));
        // Writers and the sequencer go on while b creeps forward; after every prune, everything above b's cursor is
        // still there, whatever a (always caught up) has passed.
        for (int round = 0; round < 5; round++) {
            users(t, 10, "r" + round);
            stamp(internal);
            cursors(t, "a", Map.of());
            List<Long> before = stamps(t, "ProjectUser");
            prune(t, 7);
            long cursor = lagging;
            assertThat(stamps(t, "ProjectUser")).as("round %d", round)
                    .isEqualTo(before.stream().filter(s -> s > cursor).toList());
            lagging = before.get(before.indexOf(lagging) + 8);
            cursors(t, "b", Map.of("users", lagging));
        }
        cursors(t, "b", Map.of());
        prune(t, 7);
        assertThat(stamps(t, "ProjectUser")).hasSize(1);
    }

    @Test
    void withTwoTargetsTheSlowerOneSetsTheHorizon() throws Exception {
        Tenancy t = tenancyWith("a", "b");
        users(t, 20, "u");
        stamp(internal);
        List<Long> all = stamps(t, "ProjectUser");
        cursors(t, "a", Map.of("users", all.get(15)));
        cursors(t, "b", Map.of("users", all.get(5)));

        prune(t, 1000);

        assertThat(stamps(t, "ProjectUser")).isEqualTo(all.subList(6, 20));
        assertThat(floor(t, "users")).isEqualTo(all.get(5));
    }

    @Test
    void aBackfillingTargetOrOneThatHasNotRunHoldsItsTablesAndOnlyThose() throws Exception {
        Tenancy t = tenancyWith("a", "b");
        UUID user = fixtures.createUser(t, "Ada", "ada@example.com");
        users(t, 5, "u");
        UUID team = fixtures.createTeam(t, "Team");
        fixtures.renameTeam(t, team, "Team 2");
        stamp(internal);
        List<Long> users = stamps(t, "ProjectUser");
        List<Long> channels = stamps(t, "ContactChannel");
        cursors(t, "a", Map.of());
        cursors(t, "b", Map.of("users", -1L));
        // b has no mirror row for contact_channels yet: it has not run that mapping, and will read it from −1.
        internal.update("DELETE FROM \"SyncEngineProgress\" WHERE \"tenancyId\" = ? AND \"targetId\" = 'b'"
                + " AND \"mappingName\" = 'contact_channels'", t.id());
        fixtures.renameUser(t, user, "Ada 2");
        fixtures.addEmail(t, user, "second@example.com", false);
        stamp(internal);
        cursors(t, "a", Map.of());
        cursors(t, "b", Map.of("users", -1L));
        internal.update("DELETE FROM \"SyncEngineProgress\" WHERE \"tenancyId\" = ? AND \"targetId\" = 'b'"
                + " AND \"mappingName\" = 'contact_channels'", t.id());
        List<Long> usersNow = stamps(t, "ProjectUser");
        List<Long> channelsNow = stamps(t, "ContactChannel");

        try (Connection c = internal.connect()) {
            ChangeRetention.Plan plan = ChangeRetention.plan(c, List.of(t.id())).get(0);
            assertThat(plan.blocked()).isEqualTo(2);
            assertThat(plan.prunes()).extracting(ChangeRetention.Prune::tableName).containsExactly("Team");
            ChangeRetention.prune(c, plan, 1000, () -> false);
        }

        assertThat(usersNow).hasSizeGreaterThan(users.size());
        assertThat(channelsNow).hasSizeGreaterThan(channels.size());
        assertThat(stamps(t, "ProjectUser")).isEqualTo(usersNow);
        assertThat(stamps(t, "ContactChannel")).isEqualTo(channelsNow);
        assertThat(stamps(t, "Team")).hasSize(1);
        assertThat(floor(t, "users")).isZero();
        assertThat(floor(t, "teams")).isPositive();
    }

    @Test
    void aRemovedTargetStopsHoldingTheLogAndItsMirrorRowsGo() throws Exception {
        Tenancy t = tenancyWith("a", "b");
        users(t, 10, "u");
        stamp(internal);
        cursors(t, "a", Map.of());
        cursors(t, "b", Map.of("users", -1L));
        prune(t, 1000);
        assertThat(stamps(t, "ProjectUser")).as("held by b").hasSize(10);

        fixtures.configureTargets(t, Map.of("a", A));
        // b was removed a while ago: its rows have not been written since.
        internal.update("UPDATE \"SyncEngineProgress\" SET \"updatedAt\" = \"updatedAt\" - interval '1 minute'"
                + " WHERE \"tenancyId\" = ?", t.id());
        ChangeRetention.Pruned pruned = prune(t, 1000);

        assertThat(pruned.mirrorRowsRemoved()).isEqualTo(Mappings.ALL.size());
        assertThat(internal.queryLong("""
                SELECT count(*) FROM "SyncEngineProgress" WHERE "tenancyId" = ? AND "targetId" = 'b'""", t.id()))
                .isZero();
        assertThat(internal.queryLong("""
                SELECT count(*) FROM "SyncEngineProgress" WHERE "tenancyId" = ? AND "targetId" = 'a'""", t.id()))
                .isEqualTo(Mappings.ALL.size());
        assertThat(stamps(t, "ProjectUser")).hasSize(1);
    }

    @Test
    void onlyAPlanWhoseSnapshotHoldsMirrorRowsOfAnUnconfiguredTargetHasAnyToRemove() throws Exception {
        Tenancy t = tenancyWith("a", "b");
        users(t, 2, "u");
        stamp(internal);
        cursors(t, "a", Map.of());
        cursors(t, "b", Map.of());
        assertThat(plan(t).staleMirror()).as("both targets configured").isFalse();

        fixtures.configureTargets(t, Map.of("a", A));
        internal.update("UPDATE \"SyncEngineProgress\" SET \"updatedAt\" = \"updatedAt\" - interval '1 minute'"
                + " WHERE \"tenancyId\" = ?", t.id());
        assertThat(plan(t).staleMirror()).as("b's rows, b removed").isTrue();
        assertThat(prune(t, 1000).mirrorRowsRemoved()).isEqualTo(Mappings.ALL.size());

        assertThat(plan(t).staleMirror()).as("b's rows gone").isFalse();
    }

    @Test
    void aTargetConfiguredAfterThePlansSnapshotKeepsTheMirrorRowsItsRunWrote() throws Exception {
        Tenancy t = tenancyWith("a");
        users(t, 3, "u");
        stamp(internal);
        cursors(t, "a", Map.of());
        try (Connection c = internal.connect()) {
            ChangeRetention.Plan plan = ChangeRetention.plan(c, List.of(t.id())).get(0);
            assertThat(plan.configured()).containsExactly("a");
            // Meanwhile b is configured and its first run (a backfill) registers at −1.
            fixtures.configureTargets(t, Map.of("a", A, "b", B));
            cursors(t, "b", Map.of("users", -1L));
            ChangeRetention.Pruned pruned = ChangeRetention.prune(c, plan, 1000, () -> false);
            assertThat(pruned.mirrorRowsRemoved()).isZero();
        }
        assertThat(internal.queryLong("""
                SELECT count(*) FROM "SyncEngineProgress" WHERE "tenancyId" = ? AND "targetId" = 'b'
                  AND "mappingName" = 'users' AND "cursor" = -1""", t.id())).isEqualTo(1);
        long floorBefore = floor(t, "users");
        users(t, 3, "later");
        stamp(internal);
        cursors(t, "a", Map.of());
        List<Long> held = stamps(t, "ProjectUser");
        prune(t, 1000);
        assertThat(stamps(t, "ProjectUser")).as("b backfills: the table is held").isEqualTo(held);
        assertThat(floor(t, "users")).isEqualTo(floorBefore);
    }

    @Test
    void aTenancyWithoutTargetsKeepsOnlyTheNewestEntryOfEachTable() throws Exception {
        Tenancy t = tenancyWith();
        UUID user = fixtures.createUser(t, "Solo", "solo@example.com");
        users(t, 8, "u");
        UUID team = fixtures.createTeam(t, "Team");
        fixtures.addMember(t, team, user, null);
        fixtures.renameUser(t, user, "Solo 2");
        stamp(internal);
        Map<String, Long> newest = new LinkedHashMap<>();
        for (String table : List.of("ProjectUser", "ContactChannel", "Team", "TeamMember")) {
            newest.put(table, newest(t, table));
        }

        prune(t, 3);

        newest.forEach((table, n) -> assertThat(stamps(t, table)).as(table).containsExactly(n));
        assertThat(floor(t, "users")).isEqualTo(newest.get("ProjectUser") - 1);
        try (Connection c = internal.connect()) {
            assertThat(ChangeRetention.plan(c, List.of(t.id())).get(0).idle()).as("nothing left to do").isTrue();
        }
    }

    @Test
    void aTenancyWhoseWholeConfigIsUnusableIsLeftAlone() throws Exception {
        Tenancy t = fixtures.createTenancy();
        fixtures.setConfig(t, "{\"dbSync\": {\"externalDatabases\": \"not an object\"}}");
        users(t, 5, "u");
        stamp(internal);
        try (Connection c = internal.connect()) {
            ChangeRetention.Plan plan = ChangeRetention.plan(c, List.of(t.id())).get(0);
            assertThat(TenancyDirectory.byId(c, t.id()).orElseThrow().targets().errors())
                    .extracting(TargetConfigError::targetId).containsExactly("*");
            assertThat(plan.configured()).isNull();
            ChangeRetention.prune(c, plan, 1000, () -> false);
        }
        assertThat(stamps(t, "ProjectUser")).hasSize(5);
    }

    @Test
    void pruningDeletesAtMostTheBatchPerStatementAndCarriesOnWhereItStopped() throws Exception {
        Tenancy t = tenancyWith();
        users(t, 50, "u");
        stamp(internal);
        List<Long> all = stamps(t, "ProjectUser");
        AtomicInteger statements = new AtomicInteger();

        try (Connection c = internal.connect()) {
            ChangeRetention.Plan plan = ChangeRetention.plan(c, List.of(t.id())).get(0);
            ChangeRetention.Pruned first = ChangeRetention.prune(c, plan, 7, () -> statements.getAndIncrement() >= 1);
            assertThat(first.entries()).as("one statement").isEqualTo(7);
            assertThat(first.finished()).isFalse();
            assertThat(stamps(t, "ProjectUser")).as("oldest first").isEqualTo(all.subList(7, 50));
            assertThat(floor(t, "users")).as("raised before anything was deleted").isEqualTo(all.get(49) - 1);
        }
        AtomicInteger more = new AtomicInteger();
        try (Connection c = internal.connect()) {
            ChangeRetention.Plan plan = ChangeRetention.plan(c, List.of(t.id())).get(0);
            ChangeRetention.Pruned rest = ChangeRetention.prune(c, plan, 7, () -> {
                more.incrementAndGet();
                return false;
            });
            assertThat(rest.entries()).isEqualTo(42);
            assertThat(rest.finished()).isTrue();
            assertThat(more.get()).as("42 entries, 7 per statement, and the statement that found the end")
                    .isEqualTo(7);
        }
        assertThat(stamps(t, "ProjectUser")).containsExactly(all.get(49));
    }

    @Test
    void theFloorOnlyRises() throws Exception {
        Tenancy t = tenancyWith();
        users(t, 5, "u");
        stamp(internal);
        prune(t, 1000);
        long floor = floor(t, "users");
        assertThat(floor).isPositive();
        try (Connection c = internal.connect()) {
            ChangeRetention.prune(c, new ChangeRetention.Plan(t.id(), Set.of(),
                    List.of(new ChangeRetention.Prune("ProjectUser", floor - 100)), 0, 0, "2000-01-01 00:00:00", false),
                    1000, () -> false);
        }
        assertThat(floor(t, "users")).isEqualTo(floor);
        assertThat(stamps(t, "ProjectUser")).hasSize(1);
    }

    @Test
    void theFloorsAreReadPerMappingAndAsTheHighestOfATenancy() throws Exception {
        Tenancy t = tenancyWith();
        fixtures.createUser(t, "One", "one@example.com");
        fixtures.createUser(t, "Two", "two@example.com");
        fixtures.createTeam(t, "Team");
        stamp(internal);
        Tenancy untouched = tenancyWith();
        prune(t, 1000);
        long users = floor(t, "users");
        long channels = floor(t, "contact_channels");
        try (Connection c = internal.connect()) {
            assertThat(users).isPositive();
            assertThat(channels).isPositive();
            assertThat(floor(t, "teams")).as("one entry: nothing pruned").isZero();
            assertThat(ChangeRetention.prunedThrough(c, t.id())).isEqualTo(Math.max(users, channels));
            assertThat(ChangeRetention.prunedThrough(c, untouched.id())).isZero();
            assertThat(ChangeRetention.prunedThrough(c, List.of(t.id(), untouched.id())))
                    .containsEntry(t.id(), Math.max(users, channels)).containsEntry(untouched.id(), 0L);
            Map<UUID, Map<String, Long>> byMapping = ChangeRetention.prunedThroughByMapping(c,
                    List.of(t.id(), untouched.id()));
            assertThat(byMapping.get(t.id())).hasSize(Mappings.ALL.size()).containsEntry("users", users)
                    .containsEntry("contact_channels", channels).containsEntry("teams", 0L);
            assertThat(byMapping.get(untouched.id()).values()).containsOnly(0L);
        }
    }

    @Test
    void theSweepListsEachTenancyWithStampedEntriesOnceInIdOrder() throws Exception {
        List<UUID> mine = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            Tenancy t = tenancyWith();
            users(t, 2, "s");
            mine.add(t.id());
        }
        Tenancy unstampedOnly = tenancyWith();
        stamp(internal);
        users(unstampedOnly, 2, "later");
        List<UUID> seen = new ArrayList<>();
        try (Connection c = internal.connect()) {
            UUID after = null;
            List<UUID> page;
            do {
                page = ChangeRetention.stampedTenancies(c, after, 2);
                seen.addAll(page);
                after = page.isEmpty() ? null : page.get(page.size() - 1);
            } while (page.size() == 2);
        }
        assertThat(seen).doesNotHaveDuplicates().containsAll(mine).doesNotContain(unstampedOnly.id());
        assertThat(seen).isEqualTo(seen.stream().sorted((x, y) -> x.toString().compareTo(y.toString())).toList());
        assertThat(seen).hasSize((int) internal.queryLong(
                "SELECT count(DISTINCT \"tenancyId\") FROM \"SyncChange\" WHERE \"sequenceId\" IS NOT NULL"));
    }

    @Test
    void theLoopsSweepPrunesATenancyNoRequestEverMentioned() {
        Tenancy t = tenancyWith();
        users(t, 6, "swept");
        stamp(internal);
        Tenancy held = tenancyWith("a");
        users(held, 6, "held");
        stamp(internal);

        await().atMost(Duration.ofSeconds(30)).until(() -> {
            loop.runOnce();
            return stamps(t, "ProjectUser").size() == 1;
        });
        assertThat(stamps(held, "ProjectUser")).as("a configured target that has not run holds it").hasSize(6);
    }

    @Test
    void afterASustainedMixedLoadWithAllTargetsCaughtUpTheLogIsPrunedAndNothingUnstampedIsTouched()
            throws Exception {
        Tenancy t = tenancyWith("a", "b");
        Tenancy lagging = tenancyWith("a");
        users(lagging, 20, "keep");
        users(t, 2500, "u");
        internal.update("""
                INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                                              "isVerified", "value", "usedForAuth")
                SELECT "tenancyId", "projectUserId", gen_random_uuid(), now(), 'EMAIL', 'TRUE'::"BooleanTrue", true,
                       "displayName" || '@example.com', 'TRUE'::"BooleanTrue"
                FROM "ProjectUser" WHERE "tenancyId" = ?""", t.id());
        stamp(internal);
        internal.update("UPDATE \"ProjectUser\" SET \"displayName\" = \"displayName\" || '!' WHERE \"tenancyId\" = ?",
                t.id());
        stamp(internal);
        List<UUID> teams = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            teams.add(fixtures.createTeam(t, "team " + i));
        }
        internal.update("""
                INSERT INTO "TeamMember" ("tenancyId", "projectUserId", "teamId", "updatedAt")
                SELECT u."tenancyId", u."projectUserId", (ARRAY[?::uuid, ?::uuid])[1 + (row_number() OVER () % 2)::int],
                       now()
                FROM (SELECT * FROM "ProjectUser" WHERE "tenancyId" = ? LIMIT 1500) u""",
                teams.get(0), teams.get(1), t.id());
        stamp(internal);
        internal.update("""
                DELETE FROM "ProjectUser" WHERE "projectUserId" IN (
                    SELECT "projectUserId" FROM "ProjectUser" WHERE "tenancyId" = ? ORDER BY "projectUserId" LIMIT 700)
                """, t.id());
        stamp(internal);
        long stamped = internal.queryLong(
                "SELECT count(*) FROM \"SyncChange\" WHERE \"tenancyId\" = ? AND \"sequenceId\" IS NOT NULL", t.id());
        assertThat(stamped).as("a sustained mixed load").isGreaterThanOrEqualTo(10_000);
        // Changes not stamped yet (writers in flight): retention must not touch them.
        internal.update("""
                UPDATE "ProjectUser" SET "displayName" = 'late' WHERE "projectUserId" IN (
                    SELECT "projectUserId" FROM "ProjectUser" WHERE "tenancyId" = ? LIMIT 25)""", t.id());
        long unstamped = unstamped();
        assertThat(unstamped).isGreaterThanOrEqualTo(25);
        cursors(t, "a", Map.of());
        cursors(t, "b", Map.of());
        List<Long> lagged = stamps(lagging, "ProjectUser");
        cursors(lagging, "a", Map.of("users", lagged.get(0)));

        long started = System.nanoTime();
        ChangeRetention.Pruned pruned = prune(t, 1000);
        LOG.infof("Pruned %d entries of one tenancy in %d ms (batches of 1000)", pruned.entries(),
                (System.nanoTime() - started) / 1_000_000);
        prune(lagging, 1000);

        List<List<Object>> left = internal.queryRows("""
                SELECT "tableName", count(*) FROM "SyncChange" WHERE "tenancyId" = ? AND "sequenceId" IS NOT NULL
                GROUP BY 1 ORDER BY 1""", t.id());
        assertThat(left).as("one entry per table: the newest").allSatisfy(r ->
                assertThat(((Number) r.get(1)).longValue()).isEqualTo(1));
        assertThat(pruned.entries()).isEqualTo(stamped - left.size());
        assertThat(unstamped()).isEqualTo(unstamped);
        assertThat(stamps(lagging, "ProjectUser")).isEqualTo(lagged.subList(1, lagged.size()));
    }
}
