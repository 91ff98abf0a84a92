package dev.externaldbsync.sequencer;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class StatusFormatTest {

    @Test
    void aWaitingCountIsPlainBelowTheCapAndMarkedAsAtLeastOnceTheCountReachedIt() {
        assertThat(StatusResource.formatWaiting(0, false)).isEqualTo("0");
        assertThat(StatusResource.formatWaiting(100_000, false)).isEqualTo("100000");
        assertThat(StatusResource.formatWaiting(60_001, true)).isEqualTo("60001+");
        assertThat(StatusResource.formatWaiting(0, true)).isEqualTo("0+");
    }
}
