package dev.externaldbsync.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/** The batched read's SQL, built from every mapping: each range rewritten for a LATERAL join, nothing left behind. */
class BatchSqlTest {

    @Test
    void everyMappingsRangesAreRewrittenToTheEqualityForm() {
        String sql = BatchSql.fetch(64);
        assertThat(sql).doesNotContain("9223372036854775807").doesNotContain("x.\"l\"").contains("LIMIT 64");
        for (int k = 0; k < Mappings.ALL.size(); k++) {
            Mapping mapping = Mappings.ALL.get(k);
            String bound = BatchSql.bind(mapping.fetchSql(), mapping.fetchParameters(), "x.\"t\"", "x.\"c" + k + "\"",
                    "x.\"l\"");
            assertThat(bound).as(mapping.name()).doesNotContain("?");
            String lateral = BatchSql.lateralRanges(mapping.name(), bound);
            assertThat(lateral).as(mapping.name()).doesNotContain("9223372036854775807")
                    .contains("\"sequenceId\" > x.\"c" + k + "\"");
        }
        // Parameters: tenancies, targets, one cursor array per mapping.
        assertThat(sql.chars().filter(c -> c == '?').count()).isEqualTo(2 + Mappings.ALL.size());
    }

    @Test
    void aRangeOfAnUnknownShapeOrAWrongPlaceholderCountIsRefused() {
        assertThatThrownBy(() -> BatchSql.lateralRanges("x", "SELECT 1 WHERE a > 9223372036854775807"))
                .isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> BatchSql.bind("SELECT ?", List.of(), "t", "c", "l"))
                .isInstanceOf(IllegalStateException.class);
        assertThat(BatchSql.bind("SELECT '?', \"a?\", ? -- ?\n", List.of(Mapping.FetchParameter.CURSOR), "t", "c", "l"))
                .isEqualTo("SELECT '?', \"a?\", c -- ?\n");
    }
}
