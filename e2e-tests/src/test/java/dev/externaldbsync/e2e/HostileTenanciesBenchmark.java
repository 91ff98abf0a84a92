package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * Ordinary tenancies' lag with and without the hostile tenancies of {@link HostileTenancies}, in one run of the
 * packaged services: first the thirty ordinary tenancies alone, then with the hostile ones added. Prints p50/p99;
 * not part of the build
 * ({@code ./mvnw verify -pl e2e-tests -am -Dtest=HostileTenanciesBenchmark -Dhostile.seconds=60}).
 */
class HostileTenanciesBenchmark {

    @Test
    void ordinaryLagWithAndWithoutHostileTenancies() throws Exception {
        Duration phase = Duration.ofSeconds(Integer.getInteger("hostile.seconds", 60));
        Duration bound = Duration.ofSeconds(Integer.getInteger("hostile.bound-seconds", 300));
        try (Pipeline pipeline = Pipeline.start(1, 1, 1, HostileTenancies.ENGINE_ALLOWANCES)) {
            HostileTenancies scenario = new HostileTenancies(pipeline);
            scenario.startOrdinary(Duration.ofMinutes(2));
            List<Long> alone = scenario.measureOrdinaryLagMillis(phase, bound);
            scenario.startHostile();
            List<Long> hostile = scenario.measureOrdinaryLagMillis(phase, bound);

            print("without hostile tenancies", alone);
            print("with hostile tenancies", hostile);
            assertThat(alone).isNotEmpty();
            assertThat(hostile).isNotEmpty();
        }
    }

    private static void print(String label, List<Long> lags) {
        System.out.printf("ordinary lag %s (%d tenancies, %d changes): p50=%.0f ms p99=%.0f ms max=%.0f ms%n", label,
                HostileTenancies.ORDINARY_TENANCIES, lags.size(), HostileTenancies.percentile(lags, 50),
                HostileTenancies.percentile(lags, 99), HostileTenancies.percentile(lags, 100));
    }
}
