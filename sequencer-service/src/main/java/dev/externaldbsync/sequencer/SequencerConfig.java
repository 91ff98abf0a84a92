package dev.externaldbsync.sequencer;

import java.time.Duration;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/**
 * Sequencer settings. Each key is also an environment variable (upper case, dots and dashes as underscores):
 * {@code sequencer.batch-size} is {@code SEQUENCER_BATCH_SIZE}. The internal database itself comes from
 * {@code INTERNAL_DATABASE_URL} (service-common).
 */
@ConfigMapping(prefix = "sequencer")
public interface SequencerConfig {

    /**
     * Most rows stamped per table per batch ({@code SEQUENCER_BATCH_SIZE}). One batch is one transaction that holds
     * the stamping lock and the row locks of its rows, so this bounds how long a second replica waits and how long a
     * writer touching a claimed row waits. Measured on 200,000 marked rows (2 cores, shared machine): one tenancy
     * 13.6k rows/s at 1000 vs 13.8k at 5000 (73 ms vs 361 ms per batch); spread over 1000 tenancies the larger batch
     * won only because it served more rows per tenancy, which {@link #maxTenanciesPerBatch()} gives at 1000 too.
     */
    @WithDefault("1000")
    int batchSize();

    /**
     * Most tenancies served per table per batch ({@code SEQUENCER_MAX_TENANCIES_PER_BATCH}); each gets an equal share
     * of the batch ({@code batch-size / tenancies found}, at least one row). A new change of a small tenancy is
     * stamped in the next batch whenever at most this many tenancies are waiting, and within
     * {@code ceil(waiting tenancies / this)} batches otherwise (round robin), however many rows one tenancy has
     * marked. 250 (four rows per tenancy per batch at the default batch size) measured twice the throughput of
     * 1000 (one row each) on a backlog spread over 1000 tenancies: rows of one tenancy share index pages (every
     * sequenced table's indexes lead with "tenancyId").
     */
    @WithDefault("250")
    int maxTenanciesPerBatch();

    /**
     * How long the loop waits for a change notification before it looks for work anyway
     * ({@code SEQUENCER_FALLBACK_INTERVAL}, e.g. {@code 1s}, {@code 500ms}). Covers lost notifications (a broken
     * LISTEN connection, {@code external_db_sync.notify = off}) and is also how often a paused sequencer re-reads
     * the fusebox. Idle cost per interval: two single-row queries.
     */
    @WithDefault("1s")
    Duration fallbackInterval();

    /**
     * How often, at most, the loop refreshes the waiting-rows gauge while there is work
     * ({@code SEQUENCER_WAITING_REFRESH_INTERVAL}); an idle loop knows the answer (zero) without a query.
     */
    @WithDefault("5s")
    Duration waitingRefreshInterval();

    /** How long shutdown waits for the batch in progress ({@code SEQUENCER_SHUTDOWN_WAIT}). */
    @WithDefault("25s")
    Duration shutdownWait();
}
