package dev.externaldbsync.sequencer;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class StatusFormatTest {

    @Test
    void waitingCountsBeyondTheCapAreReportedAsCapPlus() {
        assertThat(StatusResource.formatWaiting(0)).isEqualTo("0");
        assertThat(StatusResource.formatWaiting(100_000)).isEqualTo("100000");
        assertThat(StatusResource.formatWaiting(100_001)).isEqualTo("100000+");
    }
}
