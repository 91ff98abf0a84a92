package dev.externaldbsync.poller.dashboard;

import java.net.URI;
import java.util.Optional;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.contract.status.SequencerStatus;

/**
 * The dashboard's call to the sequencer over {@code POLLER_SEQUENCER_URL}: its open {@code GET /api/v1/status}, the
 * source of every sequencer figure on the page (stamps issued, rows waiting per table). Thread-safe.
 */
final class SequencerClient {

    private final ServiceClient http;

    /** @param base the sequencer's base URL, or null when {@code POLLER_SEQUENCER_URL} is not set */
    SequencerClient(URI base, ObjectMapper mapper) {
        this.http = new ServiceClient("sequencer", "POLLER_SEQUENCER_URL", base, Optional.empty(), mapper);
    }

    SequencerStatus status() throws ServiceClient.Unavailable {
        return http.getOpen("/api/v1/status", http.type(SequencerStatus.class));
    }
}
