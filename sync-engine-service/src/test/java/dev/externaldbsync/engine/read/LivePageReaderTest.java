package dev.externaldbsync.engine.read;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * The backfill's page read on a real migrated internal database (plain JUnit, no Quarkus): a page is cut by bytes
 * before its key limit, says so, and the walk from page to page still sees every live row once, in key order.
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
}
