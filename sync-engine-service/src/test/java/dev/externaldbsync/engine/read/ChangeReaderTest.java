package dev.externaldbsync.engine.read;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.core.BaseConnection;
import org.postgresql.core.TransactionState;

import dev.externaldbsync.engine.store.DeadLetters;
import dev.externaldbsync.mapping.FetchRange;
import dev.externaldbsync.mapping.FetchSql;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * The two reads of the engine, rendered from the mappings' structure, run on a real migrated internal database
 * (plain JUnit, no Quarkus): the batched read of many tenancies returns, per tenancy and mapping, exactly the page
 * the single-tenancy read returns, and marks the mappings with dead letters.
 */
class ChangeReaderTest {

    private static TestDatabase db;
    private static StackAuthFixtures fixtures;
    private static final List<Tenancy> TENANCIES = new ArrayList<>();
    private static final ChangeReader READER = new ChangeReader(30);

    @BeforeAll
    static void fill() {
        db = TestPostgres.createDatabase("change_reader");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        fixtures = new StackAuthFixtures(db);
        for (int t = 0; t < 3; t++) {
            Tenancy tenancy = fixtures.createTenancy();
            TENANCIES.add(tenancy);
            List<UUID> users = new ArrayList<>();
            for (int u = 0; u <= t * 3; u++) {
                users.add(fixtures.createUser(tenancy, "User " + u, "u" + u + "-" + t + "@example.com"));
            }
            UUID team = fixtures.createTeam(tenancy, "Team " + t);
            fixtures.addMember(tenancy, team, users.get(0), "Member");
            fixtures.grantTeamPermission(tenancy, team, users.get(0), "read");
            fixtures.grantProjectPermission(tenancy, users.get(0), "admin");
            fixtures.inviteToTeam(tenancy, team, "invitee-" + t + "@example.com");
            fixtures.createEmail(tenancy, "template");
            fixtures.setNotificationPreference(tenancy, users.get(0), UUID.randomUUID(), true);
            fixtures.createRefreshToken(tenancy, users.get(0));
            fixtures.connectAccount(tenancy, users.get(0), "github", "a-" + t + "@example.com");
            if (users.size() > 1) {
                fixtures.deleteUser(tenancy, users.get(users.size() - 1));
            }
        }
        stampAll();
    }

    /** Stamps every unstamped change-log entry, as the sequencer does. */
    private static void stampAll() {
        db.update("UPDATE \"SyncChange\" SET \"sequenceId\" = nextval('global_seq_id') WHERE \"sequenceId\" IS NULL");
    }

    /** Gives the user a {@code "clientMetadata"} of about {@code bytes} bytes. */
    private static void pad(Tenancy tenancy, UUID user, int bytes) {
        db.update("UPDATE \"ProjectUser\" SET \"clientMetadata\" = jsonb_build_object('pad', repeat('x', ?))"
                + " WHERE \"tenancyId\" = ? AND \"projectUserId\" = ?", bytes, tenancy.id(), user);
    }

    /** Appends a stamped entry of {@code tableName} for {@code key} (JSON) and returns its sequence id. */
    private static long entry(Tenancy tenancy, String tableName, String key) {
        return db.queryLong("""
                INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
                VALUES (?, ?, ?::jsonb, nextval('global_seq_id')) RETURNING "sequenceId\"""", tenancy.id(), tableName,
                key);
    }

    /** The single and the batched read of one tenancy's users, which must agree; returns the single one. */
    private static List<Row> users(Connection c, Tenancy tenancy, long cursor) throws Exception {
        List<Row> single = READER.readPage(c, tenancy.id(), Mappings.USERS, cursor, 64).rows();
        ChangeReader.Request request = request(tenancy.id(), "main", Long.MAX_VALUE);
        request.cursors()[0] = cursor;
        assertThat(text(READER.readBatch(c, List.of(request), 64).get(0).page(0))).isEqualTo(text(single));
        return single;
    }

    @Test
    void aDeleteEntryWithNoLiveRowIsReadAsDeletedWithTheKeyFromTheEntry() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID gone = UUID.randomUUID();
        long stamp = entry(tenancy, "ProjectUser", "{\"tenancyId\": \"" + tenancy.id() + "\", \"projectUserId\": \""
                + gone + "\"}");
        try (Connection c = db.connect()) {
            List<Row> rows = users(c, tenancy, -1);
            assertThat(rows).hasSize(1);
            assertThat(rows.get(0).deleted()).isTrue();
            assertThat(rows.get(0).values()[0]).isEqualTo(gone.toString());
            assertThat(rows.get(0).sequenceId()).isEqualTo(stamp);
        }
    }

    @Test
    void aRowWiderThanTheRowBoundIsReadAsItsKeyAloneMarkedTooWideByBothReads() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID narrow = fixtures.createUser(tenancy, "Narrow", "narrow@example.com");
        UUID wide = fixtures.createUser(tenancy, "Wide", "wide@example.com");
        pad(tenancy, wide, 20_000);
        stampAll();
        ChangeReader bounded = new ChangeReader(30, ChangeReader.DEFAULT_PAGE_MAX_BYTES, 10_000);
        try (Connection c = db.connect()) {
            List<Row> single = bounded.readPage(c, tenancy.id(), Mappings.USERS, -1, 64).rows();
            assertThat(single).extracting(r -> r.values()[0]).containsExactly(narrow.toString(), wide.toString());
            assertThat(single.get(0).tooWide()).isFalse();
            assertThat(single.get(0).values()[1]).isEqualTo("Narrow");
            // The batched read's pages are smaller (every mapping's share of the bound): the wide row comes next.
            ChangeReader.Request request = request(tenancy.id(), "main", Long.MAX_VALUE);
            request.cursors()[0] = single.get(0).sequenceId();
            List<Row> batched = bounded.readBatch(c, List.of(request), 64).get(0).page(0);
            for (List<Row> rows : List.of(single.subList(1, 2), batched)) {
                assertThat(rows).extracting(r -> r.values()[0]).containsExactly(wide.toString());
                Row tooWide = rows.get(0);
                assertThat(tooWide.tooWideBytes()).isGreaterThan(20_000);
                assertThat(java.util.Arrays.asList(tooWide.values()).subList(1, tooWide.values().length))
                        .as("nothing but the key").containsOnlyNulls();
                assertThat(ChangeReader.tooWide(Mappings.USERS, tooWide).getMessage())
                        .contains("internal.database.max-result-buffer").doesNotContain("xxxx");
            }
            assertThat(READER.readPage(c, tenancy.id(), Mappings.USERS, -1, 64).rows())
                    .as("unbounded, it is read whole").allSatisfy(r -> assertThat(r.tooWide()).isFalse());
        }
    }

    @Test
    void theBatchedReadKeepsEveryMappingsPagesTogetherWithinTheRowBound() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        for (int i = 0; i < 3; i++) {
            pad(tenancy, fixtures.createUser(tenancy, "User " + i, "bound-" + i + "@example.com"), 600);
        }
        stampAll();
        ChangeReader.Request request = request(tenancy.id(), "main", Long.MAX_VALUE);
        request.cursors()[0] = -1;
        // A row bound of 11,000 bytes leaves 1,000 to each of the 11 mappings: one 600-byte user per batched page.
        ChangeReader bounded = new ChangeReader(30, ChangeReader.DEFAULT_PAGE_MAX_BYTES, 22_000);
        try (Connection c = db.connect()) {
            ChangeReader.Pages cut = bounded.readBatch(c, List.of(request), 64).get(0);
            assertThat(cut.page(0)).hasSize(1);
            assertThat(cut.more(0)).as("cut by bytes: the member reads on alone").isTrue();
            assertThat(READER.readBatch(c, List.of(request), 64).get(0).page(0)).as("without a result bound")
                    .hasSize(3);
        }
    }

    @Test
    void anEntryWhoseKeyHasALiveRowIsReadAsTheLiveRowsValues() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Ada", "ada@example.com");
        db.update("DELETE FROM \"SyncChange\" WHERE \"tenancyId\" = ?", tenancy.id());
        long stamp = entry(tenancy, "ProjectUser", "{\"tenancyId\": \"" + tenancy.id() + "\", \"projectUserId\": \""
                + user + "\"}");
        try (Connection c = db.connect()) {
            List<Row> rows = users(c, tenancy, -1);
            assertThat(rows).hasSize(1);
            Row row = rows.get(0);
            assertThat(row.deleted()).isFalse();
            assertThat(row.sequenceId()).isEqualTo(stamp);
            List<Object> expected = db.queryRows("SELECT " + FetchSql.textColumns(Mappings.USERS, "p") + " FROM ("
                    + Mappings.USERS.projectionSql() + ") AS p", tenancy.id()).get(0);
            assertThat(Arrays.asList(row.values())).isEqualTo(expected.stream().map(v -> (String) v).toList());
            assertThat(row.values()).contains(user.toString(), "Ada", "ada@example.com", "true", "{\"plan\": \"free\"}");
        }
    }

    @Test
    void twoEntriesOfOneKeyInAPageAreOneRowWithTheHigherSequenceId() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Twice", null);
        db.update("DELETE FROM \"SyncChange\" WHERE \"tenancyId\" = ?", tenancy.id());
        String key = "{\"tenancyId\": \"" + tenancy.id() + "\", \"projectUserId\": \"" + user + "\"}";
        long first = entry(tenancy, "ProjectUser", key);
        long other = entry(tenancy, "ProjectUser", "{\"tenancyId\": \"" + tenancy.id() + "\", \"projectUserId\": \""
                + UUID.randomUUID() + "\"}");
        long second = entry(tenancy, "ProjectUser", key);
        try (Connection c = db.connect()) {
            List<Row> rows = users(c, tenancy, -1);
            assertThat(rows).extracting(Row::sequenceId).containsExactly(other, second);
            assertThat(rows.get(1).values()[0]).isEqualTo(user.toString());
            assertThat(rows.get(1).deleted()).isFalse();
            assertThat(first).isLessThan(other);
            // Above the first entry the key is still read once, at its newer entry.
            assertThat(users(c, tenancy, first)).extracting(Row::sequenceId).containsExactly(other, second);
        }
    }

    @Test
    void aPageMadeShortByOneKeysSeveralEntriesIsReadOnUntilFullInBothReads() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            keys.add("{\"tenancyId\": \"" + tenancy.id() + "\", \"projectUserId\": \"" + UUID.randomUUID() + "\"}");
        }
        entry(tenancy, "ProjectUser", keys.get(0));
        long again = entry(tenancy, "ProjectUser", keys.get(0));
        long second = entry(tenancy, "ProjectUser", keys.get(1));
        long third = entry(tenancy, "ProjectUser", keys.get(2));
        try (Connection c = db.connect()) {
            for (int limit : new int[] { 2, 3 }) {
                List<Row> single = READER.readPage(c, tenancy.id(), Mappings.USERS, -1, limit).rows();
                List<Long> expected = limit == 2 ? List.of(again, second) : List.of(again, second, third);
                assertThat(single).as("limit " + limit).extracting(Row::sequenceId).isEqualTo(expected);
                ChangeReader.Request request = request(tenancy.id(), "main", Long.MAX_VALUE);
                request.cursors()[0] = -1;
                assertThat(text(READER.readBatch(c, List.of(request), limit).get(0).page(0))).as("limit " + limit)
                        .isEqualTo(text(single));
            }
            assertThat(READER.readPage(c, tenancy.id(), Mappings.USERS, -1, 4).rows()).as("the range ends: short is final")
                    .hasSize(3);
        }
    }

    @Test
    void aKeyDeletedAndReCreatedWithinAPageEndsPresent() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        UUID user = fixtures.createUser(tenancy, "Before", "before@example.com");
        fixtures.deleteUser(tenancy, user);
        db.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                    "updatedAt", "displayName") VALUES (?, ?, ?, 'main', now(), 'After')""",
                tenancy.id(), user, tenancy.projectId());
        stampAll();
        try (Connection c = db.connect()) {
            List<Row> rows = users(c, tenancy, -1);
            assertThat(rows).hasSize(1);
            assertThat(rows.get(0).deleted()).isFalse();
            assertThat(rows.get(0).values()[0]).isEqualTo(user.toString());
            assertThat(rows.get(0).values()[1]).isEqualTo("After");
            assertThat(rows.get(0).values()[3]).as("the old primary email went with the old row").isNull();
            assertThat(READER.readPage(c, tenancy.id(), Mappings.CONTACT_CHANNELS, -1, 64).rows())
                    .as("the old row's channel is deleted").singleElement().extracting(Row::deleted).isEqualTo(true);
        }
    }

    @Test
    void theSingleReadOfUsersWalksTheStampedEntryIndex() throws Exception {
        String sql = READER.pageSql(Mappings.USERS);
        Tenancy tenancy = TENANCIES.get(0);
        try (Connection c = db.connect(); var st = c.createStatement()) {
            st.execute("SET plan_cache_mode = force_generic_plan");
            for (int n = 1; sql.contains("?"); n++) {
                sql = sql.replaceFirst("\\?", "\\$" + n);
            }
            st.execute("PREPARE page(uuid, bigint, uuid, int, bigint) AS " + sql);
            StringBuilder plan = new StringBuilder();
            try (var rs = st.executeQuery("EXPLAIN EXECUTE page('" + tenancy.id() + "', -1, '" + tenancy.id()
                    + "', 100, 4194304)")) {
                while (rs.next()) {
                    plan.append(rs.getString(1)).append('\n');
                }
            }
            assertThat(plan.toString()).contains("Index Scan using \"SyncChange_stamped_idx\" on \"SyncChange\" sc")
                    .contains("Index Cond: ((ROW(\"tenancyId\", \"tableName\", \"sequenceId\") > ROW(")
                    .doesNotContain("Seq Scan on \"SyncChange\"");
        }
    }

    @Test
    void theBatchedReadJoinsEveryEntryToItsLiveRowByIndexInATableOfThousandsOfRows() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        db.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt", "displayName", "clientMetadata")
                SELECT ?, gen_random_uuid(), ?, ?, now(), 'Bulk ' || n, '{}'::jsonb FROM generate_series(1, 5000) n""",
                tenancy.id(), tenancy.projectId(), tenancy.branchId());
        stampAll();
        db.execute("ANALYZE \"ProjectUser\"");
        db.execute("ANALYZE \"SyncChange\"");
        String sql = READER.batchSql(64);
        for (int n = 1; sql.contains("?"); n++) {
            sql = sql.replaceFirst("\\?", "\\$" + n);
        }
        String types = "uuid[], text[], " + "bigint[], ".repeat(Mappings.ALL.size()) + "bigint";
        String args = "'{" + tenancy.id() + "}', '{main}', " + "'{-1}', ".repeat(Mappings.ALL.size()) + "4194304";
        StringBuilder plan = new StringBuilder();
        try (Connection c = db.connect(); var st = c.createStatement()) {
            c.setAutoCommit(false);
            st.execute("SET LOCAL plan_cache_mode = force_generic_plan");
            st.execute(ChangeReader.READ_SETTINGS);
            st.execute("PREPARE batch(" + types + ") AS " + sql);
            try (var rs = st.executeQuery("EXPLAIN EXECUTE batch(" + args + ")")) {
                while (rs.next()) {
                    plan.append(rs.getString(1)).append('\n');
                }
            }
            c.rollback();
        }
        assertThat(plan.toString()).as(plan.toString()).doesNotContain("Hash Join").doesNotContain("Merge Join")
                .doesNotContain("Seq Scan on \"ProjectUser\"").doesNotContain("Seq Scan on \"ContactChannel\"");
    }

    @Test
    void theReadSettingsSentAheadOfAStatementHoldForItAndEndWithIt() throws Exception {
        try (Connection c = db.connect();
                PreparedStatement ps = c.prepareStatement(ChangeReader.withReadSettings(
                        "SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')"))) {
            c.setAutoCommit(true);
            ps.execute();
            assertThat(ps.getMoreResults()).as("the statement's own result follows the settings'").isTrue();
            try (ResultSet rs = ps.getResultSet()) {
                rs.next();
                assertThat(List.of(rs.getString(1), rs.getString(2))).containsExactly("off", "off");
            }
            assertThat(settingsAndState(c)).containsExactly("on", "on", TransactionState.IDLE.name());
        }
    }

    @Test
    void readsOnAConnectionInAutocommitLeaveNoTransactionOpenAndNoSettingBehind() throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(true);
            List<ChangeReader.Pages> read = READER.readBatch(c, List.of(request(TENANCIES.get(2).id(), "main", -1)),
                    64);
            assertThat(read.get(0).page(0)).isNotEmpty();
            assertThat(READER.readPage(c, TENANCIES.get(2).id(), Mappings.USERS, -1, 64).rows()).isNotEmpty();
            assertThat(c.getAutoCommit()).isTrue();
            assertThat(settingsAndState(c)).containsExactly("on", "on", TransactionState.IDLE.name());
        }
    }

    @Test
    void readsInsideTheCallersTransactionLeaveItOpenAndItsSettingsAsTheyWere() throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            assertThat(READER.readBatch(c, List.of(request(TENANCIES.get(2).id(), "main", -1)), 64).get(0).page(0))
                    .isNotEmpty();
            assertThat(READER.readPage(c, TENANCIES.get(2).id(), Mappings.USERS, -1, 64).rows()).isNotEmpty();
            assertThat(settingsAndState(c)).containsExactly("on", "on", TransactionState.OPEN.name());
            c.rollback();
        }
    }

    /** The session's join settings and the driver's view of its transaction. */
    private static List<String> settingsAndState(Connection c) throws Exception {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                "SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')")) {
            rs.next();
            return List.of(rs.getString(1), rs.getString(2),
                    c.unwrap(BaseConnection.class).getTransactionState().name());
        }
    }

    @Test
    void theBatchedReadIsRenderedOnceWithOneCursorArrayPerMappingAndNoSingleFormRanges() {
        String sql = READER.batchSql(64);
        assertThat(sql).isSameAs(READER.batchSql(64));
        assertThat(sql).doesNotContain(FetchRange.MAX_SEQUENCE).contains("LIMIT 64");
        assertThat(sql.chars().filter(c -> c == '?').count()).as("tenancies, targets, cursors, byte limit")
                .isEqualTo(2 + Mappings.ALL.size() + 1);
        for (int k = 0; k < Mappings.ALL.size(); k++) {
            assertThat(sql).contains("\"sequenceId\" > x.\"c" + k + "\"");
        }
    }

    @Test
    void theBatchedReadReturnsPerTenancyAndMappingTheSamePageAsTheSingleRead() throws Exception {
        try (Connection c = db.connect()) {
            for (int limit : new int[] { 1, 2, 64 }) {
                List<ChangeReader.Pages> read = READER.readBatch(c, TENANCIES.stream()
                        .map(t -> request(t.id(), "main", -1)).toList(), limit);
                long total = 0;
                for (int u = 0; u < TENANCIES.size(); u++) {
                    for (int k = 0; k < Mappings.ALL.size(); k++) {
                        Mapping mapping = Mappings.ALL.get(k);
                        List<Row> single = READER.readPage(c, TENANCIES.get(u).id(), mapping, -1, limit).rows();
                        assertThat(text(read.get(u).page(k))).as(mapping.name() + " tenancy " + u + " limit " + limit)
                                .isEqualTo(text(single)).isNotEmpty();
                        total += single.size();
                    }
                }
                assertThat(read.stream().mapToLong(ChangeReader.Pages::rows).sum()).isEqualTo(total);
            }
        }
    }

    @Test
    void aBatchedReadOfSomeMappingsHasABranchOnlyForThoseAndReturnsTheirPagesAsTheFullReadDoes() throws Exception {
        boolean[] some = new boolean[Mappings.ALL.size()];
        int teams = ChangeReader.MAPPING_INDEX.get("teams");
        some[0] = true;
        some[teams] = true;
        String sql = READER.batchSql(64, some);
        assertThat(sql).isSameAs(READER.batchSql(64, some.clone())).isNotEqualTo(READER.batchSql(64));
        assertThat(sql.chars().filter(c -> c == '?').count()).as("tenancies, targets, two cursors, byte limit")
                .isEqualTo(5);
        assertThat(sql).contains("\"sequenceId\" > x.\"c0\"", "\"sequenceId\" > x.\"c" + teams + "\"")
                .doesNotContain("x.\"c1\"");
        try (Connection c = db.connect()) {
            List<ChangeReader.Request> requests = TENANCIES.stream().map(t -> request(t.id(), "main", -1)).toList();
            List<ChangeReader.Pages> all = READER.readBatch(c, requests, 64);
            List<ChangeReader.Pages> read = READER.readBatch(c, requests, 64, some);
            for (int u = 0; u < TENANCIES.size(); u++) {
                for (int k = 0; k < Mappings.ALL.size(); k++) {
                    if (some[k]) {
                        assertThat(text(read.get(u).page(k))).as(Mappings.ALL.get(k).name())
                                .isEqualTo(text(all.get(u).page(k))).isNotEmpty();
                    } else {
                        assertThat(read.get(u).page(k)).as(Mappings.ALL.get(k).name()).isEmpty();
                    }
                }
            }
            assertThat(READER.readBatch(c, requests, 64, new boolean[Mappings.ALL.size()]))
                    .as("nothing asked, nothing read").allSatisfy(p -> assertThat(p.rows()).isZero());
        }
    }

    @Test
    void aCursorHidesWhatIsAtOrBelowItInBothReads() throws Exception {
        try (Connection c = db.connect()) {
            Tenancy biggest = TENANCIES.get(2);
            List<Row> all = READER.readPage(c, biggest.id(), Mappings.USERS, -1, 100).rows();
            assertThat(all).hasSizeGreaterThan(2);
            long cursor = all.get(1).sequenceId();
            ChangeReader.Request request = request(biggest.id(), "main", Long.MAX_VALUE);
            request.cursors()[0] = cursor;
            ChangeReader.Pages read = READER.readBatch(c, List.of(request), 64).get(0);
            assertThat(text(read.page(0))).isEqualTo(text(all.subList(2, all.size())))
                    .isEqualTo(text(READER.readPage(c, biggest.id(), Mappings.USERS, cursor, 100).rows()));
            for (int k = 1; k < Mappings.ALL.size(); k++) {
                assertThat(read.page(k)).as(Mappings.ALL.get(k).name()).isEmpty();
            }
        }
    }

    @Test
    void theBatchedReadMarksTheMappingsWhereATenancyHasDeadLettersOnThatTarget() throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(true);
            DeadLetters.poison(c, TENANCIES.get(1).id(), "main", "teams", "{\"id\":\"x\"}", 1, "bad row");
            DeadLetters.poison(c, TENANCIES.get(2).id(), "other", "users", "{\"id\":\"y\"}", 1, "bad row");
            List<ChangeReader.Pages> read = READER.readBatch(c, TENANCIES.stream()
                    .map(t -> request(t.id(), "main", 0)).toList(), 8);
            assertThat(read.get(0).mappingsWithPoison()).isEmpty();
            assertThat(read.get(1).mappingsWithPoison()).containsExactly("teams");
            assertThat(read.get(2).mappingsWithPoison()).as("another target's dead letters").isEmpty();
        }
    }

    private static ChangeReader.Request request(UUID tenancy, String target, long cursor) {
        long[] cursors = new long[Mappings.ALL.size()];
        Arrays.fill(cursors, cursor);
        return new ChangeReader.Request(tenancy, target, cursors);
    }

    private static List<String> text(List<Row> rows) {
        return rows.stream().map(r -> String.join("|", Arrays.stream(r.values()).map(String::valueOf).toList()) + "@"
                + r.sequenceId() + (r.deleted() ? "-" : "+")).toList();
    }

    @Test
    void aPageStopsAtTheByteLimitBeforeTheRowLimitAndSaysThereIsMore() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        for (int u = 0; u < 6; u++) {
            pad(tenancy, fixtures.createUser(tenancy, "Wide " + u, "wide" + u + "@example.com"), 10_000);
        }
        stampAll();
        ChangeReader narrow = new ChangeReader(30, 25_000);
        try (Connection c = db.connect()) {
            List<Row> whole = READER.readPage(c, tenancy.id(), Mappings.USERS, -1, 64).rows();
            assertThat(whole).hasSize(6);
            List<Row> walked = new ArrayList<>();
            long cursor = -1;
            int pages = 0;
            while (true) {
                ChangeReader.Page page = narrow.readPage(c, tenancy.id(), Mappings.USERS, cursor, 64);
                pages++;
                assertThat(page.rows()).as("a page within the byte limit").hasSizeBetween(1, 2);
                walked.addAll(page.rows());
                cursor = page.rows().get(page.rows().size() - 1).sequenceId();
                if (!page.more()) {
                    break;
                }
                assertThat(pages).as("pages of a six-row walk").isLessThan(10);
            }
            assertThat(pages).isGreaterThan(1);
            assertThat(text(walked)).as("every row, in sequence order, no gap").isEqualTo(text(whole));
        }
    }

    @Test
    void aRowWiderThanTheByteLimitIsAPageOfItsOwn() throws Exception {
        Tenancy tenancy = fixtures.createTenancy();
        for (int u = 0; u < 2; u++) {
            UUID user = fixtures.createUser(tenancy, "Huge " + u, "huge" + u + "@example.com");
            db.update("UPDATE \"ProjectUser\" SET \"clientMetadata\" = jsonb_build_object('pad', repeat('y', 50000))"
                    + " WHERE \"tenancyId\" = ? AND \"projectUserId\" = ?", tenancy.id(), user);
        }
        stampAll();
        ChangeReader tiny = new ChangeReader(30, 1_000);
        try (Connection c = db.connect()) {
            ChangeReader.Page first = tiny.readPage(c, tenancy.id(), Mappings.USERS, -1, 64);
            assertThat(first.rows()).singleElement().satisfies(r -> assertThat(r.values()[0]).isNotNull());
            assertThat(first.more()).isTrue();
            ChangeReader.Page second = tiny.readPage(c, tenancy.id(), Mappings.USERS,
                    first.rows().get(0).sequenceId(), 64);
            assertThat(second.rows()).hasSize(1);
            assertThat(second.more()).as("nothing left above the last row").isFalse();
            assertThat(tiny.readPage(c, tenancy.id(), Mappings.USERS, second.rows().get(0).sequenceId(), 64).rows())
                    .isEmpty();
        }
    }

    @Test
    void theBatchedReadCutsAWidePageByBytesAndMarksItAsHavingMore() throws Exception {
        Tenancy wide = fixtures.createTenancy();
        for (int u = 0; u < 5; u++) {
            UUID user = fixtures.createUser(wide, "Batch wide " + u, "bw" + u + "@example.com");
            db.update("UPDATE \"ProjectUser\" SET \"clientMetadata\" = jsonb_build_object('pad', repeat('z', 10000))"
                    + " WHERE \"tenancyId\" = ? AND \"projectUserId\" = ?", wide.id(), user);
        }
        stampAll();
        // Two tenancies share the limit: each (tenancy, mapping) page may carry half of it, two 10 KB rows.
        ChangeReader narrow = new ChangeReader(30, 50_000);
        try (Connection c = db.connect()) {
            List<ChangeReader.Pages> read = narrow.readBatch(c, List.of(request(wide.id(), "main", -1),
                    request(TENANCIES.get(0).id(), "main", -1)), 64);
            List<Row> whole = READER.readPage(c, wide.id(), Mappings.USERS, -1, 64).rows();
            assertThat(read.get(0).page(0)).hasSize(2);
            assertThat(text(read.get(0).page(0))).isEqualTo(text(whole.subList(0, 2)));
            assertThat(read.get(0).more(0)).isTrue();
            assertThat(read.get(1).more(0)).as("a narrow tenancy's page is whole").isFalse();
            assertThat(text(read.get(1).page(0)))
                    .isEqualTo(text(READER.readPage(c, TENANCIES.get(0).id(), Mappings.USERS, -1, 64).rows()));
            for (int k = 1; k < Mappings.ALL.size(); k++) {
                assertThat(read.get(0).more(k)).as(Mappings.ALL.get(k).name()).isFalse();
            }
        }
    }
}
