package dev.externaldbsync.engine.read;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * The backfill's page read on a real migrated internal database (plain JUnit, no Quarkus): a page is cut by bytes
 * before its key limit, says so, and the walk from page to page still sees every live row once, in key order; a
 * mapping read straight from its source rows reads exactly what the join through its fetch would.
 */
class LivePageReaderTest {

    private static TestDatabase db;
    private static StackAuthFixtures fixtures;
    private static final LivePageReader WHOLE = new LivePageReader(30);

    @BeforeAll
    static void migrate() {
        db = TestPostgres.createDatabase("live_page_reader");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        fixtures = new StackAuthFixtures(db);
    }

    private static Tenancy tenancyWithWideUsers(int users, int padding) {
        Tenancy tenancy = fixtures.createTenancy();
        for (int u = 0; u < users; u++) {
            UUID user = fixtures.createUser(tenancy, "Wide " + u, "wide" + u + "@example.com");
            db.update("UPDATE \"ProjectUser\" SET \"clientMetadata\" = jsonb_build_object('pad', repeat('x', ?))"
                    + " WHERE \"tenancyId\" = ? AND \"projectUserId\" = ?", padding, tenancy.id(), user);
        }
        return tenancy;
    }

    private static List<String> ids(List<Row> rows) {
        return rows.stream().map(r -> r.values()[0]).toList();
    }

    @Test
    void aBackfillPageStopsAtTheByteLimitAndTheWalkStillReadsEveryRowOnceInKeyOrder() throws Exception {
        Tenancy tenancy = tenancyWithWideUsers(7, 10_000);
        LivePageReader narrow = new LivePageReader(30, 25_000);
        try (Connection c = db.connect()) {
            LivePageReader.Page whole = WHOLE.readPage(c, tenancy.id(), Mappings.USERS, null, 64);
            assertThat(whole.rows()).hasSize(7);
            assertThat(whole.more()).isFalse();
            List<Row> walked = new ArrayList<>();
            String[] after = null;
            int pages = 0;
            while (true) {
                LivePageReader.Page page = narrow.readPage(c, tenancy.id(), Mappings.USERS, after, 64);
                pages++;
                assertThat(page.keysRead()).as("a page within the byte limit").isBetween(1, 2);
                assertThat(page.keys()).hasSameSizeAs(page.rows());
                walked.addAll(page.rows());
                after = page.lastKey();
                if (!page.more()) {
                    assertThat(page.keysRead()).as("the last page is short").isLessThan(64);
                    break;
                }
                assertThat(pages).as("pages of a seven-row walk").isLessThan(10);
            }
            assertThat(pages).isGreaterThan(1);
            assertThat(ids(walked)).as("every row once, in key order").isEqualTo(ids(whole.rows()));
        }
    }

    @Test
    void aCopiedChunkWithARowWiderThanTheRowLimitFailsOnTheServerBeforeSendingItAndAWiderLimitCopiesEveryRow()
            throws Exception {
        Tenancy tenancy = tenancyWithWideUsers(3, 50_000);
        LivePageReader bounded = new LivePageReader(30, 1 << 22, 100, 80_000);
        LivePageReader roomy = new LivePageReader(30, 1 << 22, 100, 120_000);
        try (Connection c = db.connect()) {
            java.io.ByteArrayOutputStream refused = new java.io.ByteArrayOutputStream();
            SQLException e = org.junit.jupiter.api.Assertions.assertThrows(SQLException.class,
                    () -> bounded.copyChunk(c, tenancy.id(), Mappings.USERS, null, null, refused));
            assertThat(e.getSQLState()).isEqualTo("22P02");
            assertThat(e.getMessage()).contains("wider than half of internal.database.max-result-buffer, 40000 bytes");
            assertThat(refused.size()).as("no wide row was sent").isLessThan(50_000);

            java.io.ByteArrayOutputStream copied = new java.io.ByteArrayOutputStream();
            assertThat(roomy.copyChunk(c, tenancy.id(), Mappings.USERS, null, null, copied)).isEqualTo(3);
            assertThat(copied.size()).isGreaterThan(150_000);
        }
    }

    @Test
    void aLiveRowWiderThanTheByteLimitIsAPageOfItsOwn() throws Exception {
        Tenancy tenancy = tenancyWithWideUsers(2, 50_000);
        LivePageReader tiny = new LivePageReader(30, 1_000);
        try (Connection c = db.connect()) {
            LivePageReader.Page first = tiny.readPage(c, tenancy.id(), Mappings.USERS, null, 64);
            assertThat(first.rows()).hasSize(1);
            assertThat(first.keysRead()).isEqualTo(1);
            assertThat(first.more()).isTrue();
            LivePageReader.Page second = tiny.readPage(c, tenancy.id(), Mappings.USERS, first.lastKey(), 64);
            assertThat(second.rows()).hasSize(1);
            assertThat(second.more()).as("nothing left above the last key").isFalse();
            assertThat(ids(second.rows())).doesNotContainAnyElementsOf(ids(first.rows()));
            assertThat(tiny.readPage(c, tenancy.id(), Mappings.USERS, second.lastKey(), 64).keysRead()).isZero();
        }
    }

    @Test
    void theBatchedFirstPagesCutAWideTenancyByBytesAndSaySoAndLeaveANarrowOneWhole() throws Exception {
        Tenancy wide = tenancyWithWideUsers(4, 10_000);
        Tenancy narrowOne = tenancyWithWideUsers(2, 10);
        // Two tenancies share the limit: each page may carry half of it, two 10 KB rows.
        LivePageReader narrow = new LivePageReader(30, 50_000);
        try (Connection c = db.connect()) {
            List<List<LivePageReader.Page>> pages = narrow.readFirstPages(c, List.of(wide.id(), narrowOne.id()), 64);
            LivePageReader.Page widePage = pages.get(0).get(0);
            assertThat(widePage.keysRead()).isEqualTo(2);
            assertThat(widePage.more()).isTrue();
            assertThat(ids(widePage.rows()))
                    .isEqualTo(ids(WHOLE.readPage(c, wide.id(), Mappings.USERS, null, 64).rows()).subList(0, 2));
            LivePageReader.Page narrowPage = pages.get(1).get(0);
            assertThat(narrowPage.keysRead()).isEqualTo(2);
            assertThat(narrowPage.more()).isFalse();
        }
    }

    /** A tenancy with every shape the scanned mappings compute differently: emails, metadata, teams. */
    private static Tenancy tenancyOfEveryShape() {
        Tenancy tenancy = fixtures.createTenancy();
        for (int u = 0; u < 12; u++) {
            UUID user = fixtures.createUser(tenancy, u % 3 == 0 ? null : "Shape " + u,
                    u % 4 == 0 ? null : "shape" + u + "@example.com");
            if (u % 2 == 0) {
                fixtures.addEmail(tenancy, user, "second" + u + "@example.com", false);
            }
            if (u % 5 == 0) {
                db.update("UPDATE \"ProjectUser\" SET \"clientMetadata\" = NULL, \"serverMetadata\" = '{\"k\": [1, 2]}',"
                        + " \"isAnonymous\" = true WHERE \"tenancyId\" = ? AND \"projectUserId\" = ?", tenancy.id(), user);
            }
        }
        List<UUID> users = db.queryRows("SELECT \"projectUserId\" FROM \"ProjectUser\" WHERE \"tenancyId\" = ?",
                tenancy.id()).stream().map(r -> (UUID) r.get(0)).toList();
        for (int t = 0; t < 6; t++) {
            UUID team = fixtures.createTeam(tenancy, "Team " + t);
            UUID user = users.get(t);
            fixtures.addMember(tenancy, team, user, t % 2 == 0 ? null : "Member " + t);
            fixtures.grantTeamPermission(tenancy, team, user, "team-perm-" + t);
            fixtures.grantProjectPermission(tenancy, user, "project-perm-" + t);
            fixtures.createEmail(tenancy, "template-" + t);
            fixtures.setNotificationPreference(tenancy, user, UUID.randomUUID(), t % 2 == 0);
            fixtures.createRefreshToken(tenancy, user);
        }
        return tenancy;
    }

    private static List<List<String>> run(Connection c, String sql, UUID tenancy, String... after) throws Exception {
        List<List<String>> rows = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setObject(1, tenancy);
            for (int i = 0; i < after.length; i++) {
                ps.setString(i + 2, after[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                int columns = rs.getMetaData().getColumnCount();
                while (rs.next()) {
                    List<String> row = new ArrayList<>();
                    for (int k = 1; k <= columns; k++) {
                        row.add(rs.getString(k));
                    }
                    rows.add(row);
                }
            }
        }
        return rows;
    }

    @Test
    void aCopiedChunkCarriesExactlyThePageRowsOfEveryMappingTypedAsTheTargetAndSplitsWhereChunkEndSays()
            throws Exception {
        Tenancy tenancy = tenancyOfEveryShape();
        List<UUID> users = db.queryRows("SELECT \"projectUserId\" FROM \"ProjectUser\" WHERE \"tenancyId\" = ?",
                tenancy.id()).stream().map(r -> (UUID) r.get(0)).toList();
        List<UUID> teams = db.queryRows("SELECT \"teamId\" FROM \"Team\" WHERE \"tenancyId\" = ?", tenancy.id())
                .stream().map(r -> (UUID) r.get(0)).toList();
        for (int i = 0; i < 4; i++) {
            fixtures.inviteToTeam(tenancy, teams.get(i), "invited" + i + "@example.com");
            fixtures.connectAccount(tenancy, users.get(i), "github", "account" + i + "@example.com");
        }
        // A deleted key the page reads (and flags) is not copied: an invitation whose team is gone.
        fixtures.deleteTeam(tenancy, teams.get(0));
        fixtures.createUser(fixtures.createTenancy(), "Other tenancy", "other@example.com");
        TestDatabase target = TestPostgres.createDatabase("live_page_reader_copy");
        try (Connection c = db.connect(); Connection t = target.connect()) {
            t.setAutoCommit(false);
            for (Mapping mapping : Mappings.ALL) {
                LivePageReader.Page page = WHOLE.readPage(c, tenancy.id(), mapping, null, 1000);
                List<List<String>> expected = rows(page);
                assertThat(expected).as(mapping.name() + ": the fixture has rows").hasSizeGreaterThan(2);
                assertThat(copied(c, t, tenancy, mapping, null, null)).as(mapping.name())
                        .containsExactlyInAnyOrderElementsOf(expected);

                // A chunk counts source keys, as a page does, deleted ones too (they are read, not copied).
                LivePageReader.Page first = WHOLE.readPage(c, tenancy.id(), mapping, null, 2);
                String[] end = WHOLE.chunkEnd(c, tenancy.id(), mapping, null, 2);
                assertThat(end).as(mapping.name() + ": the second key").isEqualTo(first.lastKey());
                assertThat(copied(c, t, tenancy, mapping, null, end)).as(mapping.name() + ": the first chunk")
                        .containsExactlyInAnyOrderElementsOf(rows(first));
                assertThat(copied(c, t, tenancy, mapping, end, null)).as(mapping.name() + ": the rest")
                        .containsExactlyInAnyOrderElementsOf(rows(WHOLE.readPage(c, tenancy.id(), mapping, end, 1000)));
                assertThat(WHOLE.chunkEnd(c, tenancy.id(), mapping, end, page.keysRead()))
                        .as(mapping.name() + ": fewer keys remain than a chunk").isNull();
            }
        }
    }

    private static List<List<String>> rows(LivePageReader.Page page) {
        return page.rows().stream().map(r -> java.util.Arrays.asList(r.values())).toList();
    }

    /** One chunk copied into the mapping's staging table on {@code t}, read back as text, then rolled back. */
    private static List<List<String>> copied(Connection c, Connection t, Tenancy tenancy, Mapping mapping,
            String[] after, String[] upTo) throws Exception {
        try (java.sql.Statement st = t.createStatement()) {
            st.execute(mapping.stagingDdl());
        }
        org.postgresql.copy.CopyIn in = t.unwrap(org.postgresql.PGConnection.class).getCopyAPI()
                .copyIn(mapping.stagingCopySql());
        org.postgresql.copy.PGCopyOutputStream stream = new org.postgresql.copy.PGCopyOutputStream(in, 1 << 16);
        long rows = WHOLE.copyChunk(c, tenancy.id(), mapping, after, upTo, stream);
        assertThat(stream.endCopy()).isEqualTo(rows);
        List<List<String>> staged = new ArrayList<>();
        try (java.sql.Statement st = t.createStatement();
                ResultSet rs = st.executeQuery("SELECT " + mapping.columns().stream()
                        .map(col -> col.quoted() + "::text").collect(java.util.stream.Collectors.joining(", "))
                        + " FROM " + mapping.stagingTable())) {
            while (rs.next()) {
                List<String> row = new ArrayList<>();
                for (int k = 1; k <= mapping.columns().size(); k++) {
                    row.add(rs.getString(k));
                }
                staged.add(row);
            }
        }
        t.rollback();
        return staged;
    }

    @Test
    void aMappingReadStraightFromItsSourceRowsReadsExactlyWhatTheJoinThroughItsFetchReads() throws Exception {
        Tenancy tenancy = tenancyOfEveryShape();
        fixtures.createUser(fixtures.createTenancy(), "Other tenancy", "other@example.com");
        List<Mapping> scanned = Mappings.ALL.stream().filter(m -> m.scan() != null).toList();
        assertThat(scanned).extracting(Mapping::name).contains("users", "contact_channels", "teams",
                "team_member_profiles", "team_permissions", "email_outboxes", "project_permissions",
                "notification_preferences", "refresh_tokens");
        try (Connection c = db.connect()) {
            for (Mapping mapping : scanned) {
                List<List<String>> joined = run(c, LivePageReader.renderJoin(mapping, false, 100, "?::uuid"), tenancy.id());
                assertThat(joined).as(mapping.name() + ": the fixture has rows").hasSizeGreaterThan(4);
                assertThat(run(c, LivePageReader.renderScan(mapping, false, 100, "?::uuid"), tenancy.id()))
                        .as(mapping.name() + ": first page").isEqualTo(joined);
                // Above the fourth row's position (the order columns follow the target columns and is_deleted).
                int order = LivePageReader.source(mapping).order().size();
                int from = mapping.columns().size() + 1;
                String[] after = joined.get(3).subList(from, from + order).toArray(String[]::new);
                List<List<String>> joinedRest = run(c, LivePageReader.renderJoin(mapping, true, 100, "?::uuid"),
                        tenancy.id(), after);
                assertThat(joinedRest).hasSize(joined.size() - 4);
                assertThat(run(c, LivePageReader.renderScan(mapping, true, 100, "?::uuid"), tenancy.id(), after))
                        .as(mapping.name() + ": a page above a key").isEqualTo(joinedRest);
                assertThat(run(c, LivePageReader.renderScan(mapping, false, 3, "?::uuid"), tenancy.id()))
                        .as(mapping.name() + ": the limit").isEqualTo(joined.subList(0, 3));
            }
        }
    }

    @Test
    void aMappingReadStraightFromItsSourceRowsReadsItsSourceTableOnce() throws Exception {
        Tenancy tenancy = tenancyOfEveryShape();
        try (Connection c = db.connect()) {
            String plan = String.join("\n", run(c, "EXPLAIN (FORMAT JSON) "
                    + LivePageReader.renderScan(Mappings.USERS, false, 100, "?::uuid"), tenancy.id()).get(0));
            assertThat(plan.split("\"Relation Name\": \"ProjectUser\"", -1)).as("one scan of the user table")
                    .hasSize(2);
            String joinedPlan = String.join("\n", run(c, "EXPLAIN (FORMAT JSON) "
                    + LivePageReader.renderJoin(Mappings.USERS, false, 100, "?::uuid"), tenancy.id()).get(0));
            assertThat(joinedPlan.split("\"Relation Name\": \"ProjectUser\"", -1))
                    .as("the walk, then a probe per key").hasSize(3);
        }
    }
}
