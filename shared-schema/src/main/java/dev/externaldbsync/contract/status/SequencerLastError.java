package dev.externaldbsync.contract.status;

import java.time.Instant;

/** The last failure the sequencer loop recovered from, and when. */
public record SequencerLastError(String message, Instant at) {
}
