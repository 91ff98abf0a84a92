package dev.externaldbsync.poller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.contract.status.PollerLag;

class LagWindowTest {

    @Test
    void percentilesAreWithinOneBucketOfTheTruth() {
        LagWindow window = new LagWindow(60);
        long now = 1_000_000_000L;
        for (int i = 1; i <= 1000; i++) {
            window.record(now, i); // 1 ms .. 1000 ms
        }
        PollerLag p = window.percentiles(now);
        assertThat(p.samples()).isEqualTo(1000);
        assertThat(p.p50Seconds()).isCloseTo(0.500, within(0.030));
        assertThat(p.p95Seconds()).isCloseTo(0.950, within(0.055));
        assertThat(p.p99Seconds()).isCloseTo(0.990, within(0.055));
    }

    @Test
    void onlyTheLastWindowCountsAndOldSlotsAreReused() {
        LagWindow window = new LagWindow(60);
        long start = 5_000_000L;
        window.record(start, 10_000);
        assertThat(window.percentiles(start + 59_000).samples()).isEqualTo(1);
        assertThat(window.percentiles(start + 60_000).samples()).isZero();
        assertThat(window.percentiles(start + 60_000).p50Seconds()).isNull();

        window.record(start + 60_000, 5); // same slot as the first sample, one window later
        PollerLag p = window.percentiles(start + 60_000);
        assertThat(p.samples()).isEqualTo(1);
        assertThat(p.p99Seconds()).isCloseTo(0.005, within(0.001));
    }

    @Test
    void negativeAndHugeLagsLandInTheEdgeBuckets() {
        LagWindow window = new LagWindow(1);
        window.record(0, -50);
        window.record(0, Long.MAX_VALUE / 2);
        PollerLag p = window.percentiles(0);
        assertThat(p.p50Seconds()).isLessThan(0.001);
        assertThat(p.p99Seconds()).isGreaterThan(100_000);
    }
}
