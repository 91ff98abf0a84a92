package dev.externaldbsync.engine.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * The status page's count of tracked (tenancy, target)s, read from the progress mirror without reading the whole
 * table: exact up to its cap, and past it an estimate that follows how many mappings each pair really has rows for
 * (only those with data have one), not an assumed row per mapping.
 */
class ProgressFiguresTest {

    private static final int CAP = 10;

    private TestDatabase db;

    @BeforeEach
    void migrate() {
        db = TestPostgres.createDatabase("progress_figures");
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
    }

    @Test
    void pairsUpToTheCapAreCountedExactlyHoweverManyMappingsEachHas() throws SQLException {
        insertPairs(CAP, 2);

        ProgressStore.Figures figures = figures();

        assertThat(figures.trackedExact()).isTrue();
        assertThat(figures.tracked()).isEqualTo(CAP);
    }

    @Test
    void pairsPastTheCapAreEstimatedFromTheRowsEachPairHasInTheSample() throws SQLException {
        insertPairs(300, 2);
        db.update("ANALYZE \"SyncEngineProgress\"");
        await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong(
                "SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = '\"SyncEngineProgress\"'::regclass") == 600);

        ProgressStore.Figures figures = figures();

        assertThat(figures.trackedExact()).isFalse();
        assertThat(figures.tracked()).as("600 rows of 2 mappings each").isBetween(295L, 305L);
    }

    private ProgressStore.Figures figures() throws SQLException {
        try (Connection c = db.dataSource().getConnection()) {
            return ProgressStore.figures(c, CAP, CAP);
        }
    }

    private void insertPairs(int pairs, int mappingsEach) {
        db.update("""
                INSERT INTO "SyncEngineProgress" ("tenancyId", "targetId", "mappingName")
                SELECT t.id, 'target', m.name
                FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, ?)) AS t
                CROSS JOIN (SELECT 'mapping-' || n AS name FROM generate_series(1, ?) AS n) AS m""", pairs, mappingsEach);
    }
}
