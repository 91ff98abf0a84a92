package dev.externaldbsync.poller.dashboard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class CounterRateTest {

    @Test
    void theRateSpansTheWindowAndForgetsOlderReadings() {
        CounterRate rate = new CounterRate(10_000);
        assertThat(rate.perSecond()).isNull();
        rate.add(0, 100);
        assertThat(rate.perSecond()).isNull();
        rate.add(1_000, 150);
        assertThat(rate.perSecond()).isCloseTo(50.0, within(1e-9));
        for (long t = 2_000; t <= 30_000; t += 1_000) {
            rate.add(t, 150 + (t / 1_000 - 1) * 10); // 10 per second from t = 1 s on
        }
        assertThat(rate.perSecond()).isCloseTo(10.0, within(1e-9));
        rate.add(31_000, 440); // no increase this second
        assertThat(rate.perSecond()).isCloseTo(9.0, within(1e-9));
    }

    @Test
    void aCounterThatGoesDownStartsOver() {
        CounterRate rate = new CounterRate(10_000);
        rate.add(0, 1_000);
        rate.add(1_000, 2_000);
        rate.add(2_000, 5); // the replica restarted
        assertThat(rate.perSecond()).isNull();
        rate.add(3_000, 25);
        assertThat(rate.perSecond()).isCloseTo(20.0, within(1e-9));
        assertThat(rate.lastMillis()).isEqualTo(3_000);
    }
}
