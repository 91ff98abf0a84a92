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
     * Most change-log entries stamped per batch ({@code SEQUENCER_BATCH_SIZE}). One batch is one transaction that
     * holds the stamping lock, so this bounds how long a second replica waits; writers never wait for it (they only
     * insert entries). Larger batches amortise the per-transaction cost (lock, commit, enqueue) over more entries.
     */
    @WithDefault("1000")
    int batchSize();

    /**
     * Most tenancies served per batch ({@code SEQUENCER_MAX_TENANCIES_PER_BATCH}); each gets an equal share of the
     * batch ({@code batch-size / tenancies found}, at least one entry). A new change of a small tenancy is stamped in
     * the next batch whenever at most this many tenancies are waiting, and within
     * {@code ceil(waiting tenancies / this)} batches otherwise (round robin), however many entries one tenancy has
     * waiting. Several entries per tenancy per batch are cheaper than one each: a tenancy's entries share index pages
     * (the log's indexes lead with "tenancyId").
     */
    @WithDefault("250")
    int maxTenanciesPerBatch();

    /**
     * How long the loop sleeps when it found nothing to stamp before it looks again ({@code SEQUENCER_POLL_INTERVAL},
     * e.g. {@code 20ms}, {@code 1s}); while batches find work it loops at once. Writers send no notification, so this
     * is the added latency of an idle sequencer. Idle cost per interval: one {@code EXISTS} probe of the partial
     * unstamped index (an empty index: one page), no transaction; the fusebox's cached switch is looked at before
     * every batch and, while idle, about once a second (it queries at most once per {@code
     * sync.fusebox-check-interval}).
     */
    @WithDefault("20ms")
    Duration pollInterval();

    /**
     * How often, at most, the loop refreshes the waiting-entries gauge while there is work
     * ({@code SEQUENCER_WAITING_REFRESH_INTERVAL}); an idle loop knows the answer (zero) without a query.
     */
    @WithDefault("5s")
    Duration waitingRefreshInterval();

    /** How long shutdown waits for the batch in progress ({@code SEQUENCER_SHUTDOWN_WAIT}). */
    @WithDefault("25s")
    Duration shutdownWait();
}
