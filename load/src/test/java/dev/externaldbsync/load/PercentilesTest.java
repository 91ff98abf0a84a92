package dev.externaldbsync.load;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PercentilesTest {

    @Test
    void nearestRankOfOneToAHundred() {
        double[] samples = new double[100];
        for (int i = 0; i < 100; i++) {
            samples[i] = 100 - i; // unsorted on purpose
        }
        Percentiles p = new Percentiles(samples, 100);

        assertThat(p.percentile(50)).isEqualTo(50);
        assertThat(p.percentile(95)).isEqualTo(95);
        assertThat(p.percentile(99)).isEqualTo(99);
        assertThat(p.percentile(100)).isEqualTo(100);
        assertThat(p.percentile(0.5)).isEqualTo(1);
        assertThat(p.max()).isEqualTo(100);
        assertThat(p.count()).isEqualTo(100);
    }

    @Test
    void smallSetsRoundTheRankUp() {
        Percentiles p = new Percentiles(new double[] {7, 3, 5, 0, 0}, 3); // only the first three count
        assertThat(p.percentile(50)).isEqualTo(5);
        assertThat(p.percentile(34)).isEqualTo(5);
        assertThat(p.percentile(33)).isEqualTo(3);
        assertThat(p.percentile(99)).isEqualTo(7);
    }

    @Test
    void noSamplesIsNotANumberAndBadPercentilesAreRefused() {
        Percentiles empty = new Percentiles(new double[0], 0);
        assertThat(empty.percentile(50)).isNaN();
        assertThat(empty.max()).isNaN();
        assertThatThrownBy(() -> empty.percentile(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> empty.percentile(101)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void samplesGrowPastTheirInitialCapacity() {
        Percentiles.Samples samples = new Percentiles.Samples();
        for (int i = 1; i <= 5000; i++) {
            samples.add(i);
        }
        Percentiles p = samples.snapshot();
        assertThat(p.count()).isEqualTo(5000);
        assertThat(p.percentile(99)).isEqualTo(4950);
    }
}
