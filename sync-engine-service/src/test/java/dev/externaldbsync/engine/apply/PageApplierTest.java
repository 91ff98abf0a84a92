package dev.externaldbsync.engine.apply;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.engine.errors.RunAbort;
import dev.externaldbsync.engine.read.Row;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/** The one applier on a real target database (plain JUnit, no Quarkus): one transaction, exact counts, CAS. */
class PageApplierTest {

    private TestDatabase target;
    private final UUID first = UUID.randomUUID();
    private final UUID second = UUID.randomUUID();

    @BeforeEach
    void bootstrap() {
        target = TestPostgres.createDatabase("page_applier");
        target.execute(Mappings.TARGET_DDL.toArray(String[]::new));
    }

    /** A live team row ({@code teams}: id, display_name, profile_image_url, created_at, three metadata columns). */
    private static Row team(UUID id, String name, long sequence) {
        return new Row(new String[] { id.toString(), name, null, "2026-01-01 00:00:00", "{}", "{}", "{}" }, sequence,
                false);
    }

    private static Row gone(UUID id, long sequence) {
        return new Row(new String[] { id.toString(), null, null, null, null, null, null }, sequence, true);
    }

    private long cursor(UUID tenancy) {
        return target.queryLong("""
                SELECT "last_synced_sequence_id" FROM "_stack_sync_metadata"
                WHERE "tenancy_id" = ? AND "mapping_name" = 'teams'""", tenancy);
    }

    @Test
    void slicesOfSeveralTenanciesApplyInOneTransactionWithExactCountsAndTheirCursors() throws Exception {
        UUID a = UUID.randomUUID();
        UUID b = UUID.randomUUID();
        UUID c = UUID.randomUUID();
        try (Connection tc = target.connect()) {
            long[] written = PageApplier.apply(tc, List.of(
                    Slice.of(first, Mappings.TEAMS, -1, true, List.of(team(a, "A", 10), team(b, "B", 11))),
                    Slice.of(second, Mappings.TEAMS, -1, true, List.of(team(c, "C", 12))),
                    Slice.of(second, Mappings.USERS, -1, true, List.of())));
            assertThat(written).containsExactly(2, 1, 0);

            // Re-applying identical rows writes nothing; a tombstone deletes; cursors move by compare-and-set.
            written = PageApplier.apply(tc, List.of(
                    Slice.of(first, Mappings.TEAMS, 11, false, List.of(team(a, "A", 20), gone(b, 21))),
                    Slice.of(second, Mappings.TEAMS, 12, false, List.of(team(c, "C renamed", 22)))));
            assertThat(written).containsExactly(1, 1);
        }
        assertThat(target.queryLong("SELECT count(*) FROM teams")).isEqualTo(2);
        assertThat(target.queryValue("SELECT display_name FROM teams WHERE id = ?", c)).isEqualTo("C renamed");
        assertThat(cursor(first)).isEqualTo(21);
        assertThat(cursor(second)).isEqualTo(22);
        assertThat(target.queryLong("""
                SELECT "last_synced_sequence_id" FROM "_stack_sync_metadata"
                WHERE "tenancy_id" = ? AND "mapping_name" = 'users'""", second)).as("created at -1").isEqualTo(-1);
    }

    @Test
    void aCursorThatMovedUnderneathRollsEverythingBack() throws Exception {
        UUID a = UUID.randomUUID();
        try (Connection tc = target.connect()) {
            PageApplier.apply(tc, List.of(Slice.of(first, Mappings.TEAMS, -1, true, List.of(team(a, "A", 10)))));
            assertThatThrownBy(() -> PageApplier.apply(tc, List.of(
                    Slice.of(first, Mappings.TEAMS, 5, false, List.of(team(a, "stale", 30))))))
                    .isInstanceOf(RunAbort.Conflict.class).hasMessageContaining("cursor moved");
            assertThatThrownBy(() -> PageApplier.apply(tc, List.of(
                    Slice.of(first, Mappings.TEAMS, -1, true, List.of(team(a, "again", 30))))))
                    .as("a first sync whose cursor exists meanwhile").isInstanceOf(RunAbort.Conflict.class);
        }
        assertThat(target.queryValue("SELECT display_name FROM teams WHERE id = ?", a)).isEqualTo("A");
        assertThat(cursor(first)).isEqualTo(10);
    }

    @Test
    void oneKeyInTwoTenanciesSlicesIsAConflictAndARejectedRowRollsTheWholeTransactionBack() throws Exception {
        UUID shared = UUID.randomUUID();
        UUID fine = UUID.randomUUID();
        try (Connection tc = target.connect()) {
            assertThatThrownBy(() -> PageApplier.apply(tc, List.of(
                    Slice.of(first, Mappings.TEAMS, -1, true, List.of(team(shared, "one", 1))),
                    Slice.of(second, Mappings.TEAMS, -1, true, List.of(team(shared, "two", 2))))))
                    .isInstanceOf(RunAbort.Conflict.class);
            // teams.display_name is NOT NULL: the target rejects the row, nothing of the transaction stays.
            assertThatThrownBy(() -> PageApplier.apply(tc, List.of(
                    Slice.of(first, Mappings.TEAMS, -1, true, List.of(team(fine, "ok", 1), team(shared, null, 2))))))
                    .isInstanceOf(SQLException.class).satisfies(e -> assertThat(((SQLException) e).getSQLState())
                            .startsWith("23"));
            // A tombstone of the same key twice within one tenancy's page is harmless.
            long[] written = PageApplier.apply(tc, List.of(
                    Slice.of(first, Mappings.TEAMS, -1, true, List.of(gone(fine, 3), gone(fine, 4)))));
            assertThat(written).containsExactly(0);
        }
        assertThat(target.queryLong("SELECT count(*) FROM teams")).isZero();
        assertThat(cursor(first)).isEqualTo(4);
        assertThat(target.queryLong("SELECT count(*) FROM \"_stack_sync_metadata\" WHERE \"tenancy_id\" = ?",
                second)).isZero();
    }
}
