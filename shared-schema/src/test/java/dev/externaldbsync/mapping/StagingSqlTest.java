package dev.externaldbsync.mapping;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The SQL of a copied backfill chunk, generated from the mapping's columns: a temporary staging table typed as the
 * target table, the binary COPY into it, and the upsert from it with the same conflict rule as the page upsert.
 */
class StagingSqlTest {

    private static final Mapping TEAMS = Mappings.TEAMS;

    @Test
    void theStagingTableIsTemporaryTypedAsTheTargetColumnsAndEmptiedAtCommit() {
        String columns = String.join(", ", TEAMS.columns().stream().map(c -> c.quoted() + " " + c.type()).toList());
        assertThat(TEAMS.stagingDdl()).isEqualTo("CREATE TEMPORARY TABLE IF NOT EXISTS \"_external_db_sync_teams\" ("
                + columns + ") ON COMMIT DELETE ROWS");
        assertThat(TEAMS.stagingTable()).isEqualTo("pg_temp.\"_external_db_sync_teams\"");
    }

    @Test
    void bothCopiesNameEveryTargetColumnInOrderAndReadBinary() {
        String names = String.join(", ", TEAMS.columns().stream().map(TargetColumn::quoted).toList());
        assertThat(TEAMS.stagingCopySql()).isEqualTo("COPY pg_temp.\"_external_db_sync_teams\" (" + names
                + ") FROM STDIN (FORMAT binary)");
        assertThat(TEAMS.insertCopySql()).isEqualTo("COPY " + TEAMS.quotedTable() + " (" + names
                + ") FROM STDIN (FORMAT binary)");
    }

    @Test
    void theUpsertFromStagingKeepsThePageUpsertsConflictRuleSoIdenticalRowsAreNotRewritten() {
        String staged = TEAMS.upsertFromStagingSql();
        String paged = TEAMS.upsertSql();
        String conflict = paged.substring(paged.indexOf(" ON CONFLICT ("));
        assertThat(conflict).contains("DO UPDATE SET").contains("IS DISTINCT FROM");
        String names = String.join(", ", TEAMS.columns().stream().map(TargetColumn::quoted).toList());
        assertThat(staged).isEqualTo("INSERT INTO " + TEAMS.quotedTable() + " AS t (" + names + ") SELECT " + names
                + " FROM pg_temp.\"_external_db_sync_teams\"" + conflict);
    }

    @Test
    void everyMappingsStagedUpsertEndsWithItsPageUpsertsConflictClause() {
        Mappings.ALL.forEach(m -> assertThat(m.upsertFromStagingSql())
                .endsWith(m.upsertSql().substring(m.upsertSql().indexOf(" ON CONFLICT ("))));
    }
}
