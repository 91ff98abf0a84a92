package dev.externaldbsync.engine.run;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.config.TargetConfig;

/** The batching policy, without Quarkus or a database. */
class BatchPlannerTest {

    private static final PostgresUrl SHARED = PostgresUrl.parse("postgresql://u:p@db.example:5432/shared");
    private static final PostgresUrl OTHER = PostgresUrl.parse("postgresql://u:p@db.example:5432/other");

    private static List<Unit> tenancy(UUID id, PostgresUrl... urls) {
        List<Unit> units = new ArrayList<>();
        for (int i = 0; i < urls.length; i++) {
            units.add(new Unit(id, new TargetConfig("t" + i, "postgres", urls[i])));
        }
        return units;
    }

    @Test
    void unitsSharingADatabaseRunTogetherInRequestOrderAndOthersApart() {
        UUID a = UUID.randomUUID();
        UUID b = UUID.randomUUID();
        UUID c = UUID.randomUUID();
        List<List<Unit>> batches = BatchPlanner.plan(
                List.of(tenancy(a, SHARED), tenancy(b, OTHER), tenancy(c, SHARED)), 1, 100);

        assertThat(batches).hasSize(2);
        assertThat(batches.get(0)).extracting(Unit::tenancyId).containsExactly(a, c);
        assertThat(batches.get(1)).extracting(Unit::tenancyId).containsExactly(b);
    }

    @Test
    void aTenancyWithTwoTargetIdsOnOneDatabaseNeverSharesABatchWithItself() {
        UUID a = UUID.randomUUID();
        UUID b = UUID.randomUUID();
        List<List<Unit>> batches = BatchPlanner.plan(List.of(tenancy(a, SHARED, SHARED), tenancy(b, SHARED)), 1, 100);

        assertThat(batches).hasSize(2);
        for (List<Unit> batch : batches) {
            assertThat(batch).extracting(Unit::tenancyId).doesNotHaveDuplicates();
        }
        assertThat(batches.stream().mapToInt(List::size).sum()).isEqualTo(3);
    }

    @Test
    void batchesSpreadOverTheWorkersButNeverExceedTheMaximum() {
        List<List<Unit>> request = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            request.add(tenancy(UUID.randomUUID(), SHARED));
        }
        assertThat(BatchPlanner.plan(request, 4, 100)).extracting(List::size).containsExactly(3, 3, 3, 1);
        assertThat(BatchPlanner.plan(request, 1, 4)).extracting(List::size).containsExactly(4, 4, 2);
        assertThat(BatchPlanner.plan(request, 1, 1)).hasSize(10);
        assertThat(BatchPlanner.plan(List.of(), 4, 100)).isEmpty();
    }

    @Test
    void theReadShareIsAPowerOfTwoWithinOnePage() {
        assertThat(BatchPlanner.share(1, 1000, 2000)).isEqualTo(512);
        assertThat(BatchPlanner.share(3, 5000, 2000)).isEqualTo(512);
        assertThat(BatchPlanner.share(100, 5000, 2000)).isEqualTo(16);
        assertThat(BatchPlanner.share(5000, 5000, 2000)).as("never below one row").isEqualTo(1);
        for (int tenancies = 1; tenancies < 300; tenancies++) {
            int share = BatchPlanner.share(tenancies, 700, 2000);
            assertThat(Integer.bitCount(share)).isEqualTo(1);
            assertThat(share).isLessThanOrEqualTo(700).isLessThanOrEqualTo(Math.max(1, 2000 / tenancies));
        }
    }
}
