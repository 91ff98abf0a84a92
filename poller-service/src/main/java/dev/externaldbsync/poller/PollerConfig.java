package dev.externaldbsync.poller;

import java.time.Duration;
import java.util.Optional;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/**
 * Poller settings. Each key is also an environment variable (upper case, dots and dashes as underscores):
 * {@code poller.max-in-flight} is {@code POLLER_MAX_IN_FLIGHT}. Durations take ISO-8601 ({@code PT30S}) or the
 * short form ({@code 30s}, {@code 500ms}).
 */
@ConfigMapping(prefix = "poller")
public interface PollerConfig {

    /**
     * Most tenancies named in one POST to the sync engine (one tenancy is never in two POSTs at once). The engine
     * spreads a request's tenancies that share a target over its workers ({@code engine.parallelism}) in batches of
     * at most {@code engine.batch.max-tenancies}, each batch one transaction; the default is their product (4 × 100),
     * so that under a backlog every worker's batch is full and a batch's fixed costs are shared by as many tenancies
     * as it may hold. Below a backlog claims are small anyway, so this costs no latency. Keep it at most the engine's
     * {@code sync.max-tenancies-per-request}. The README gives the measurements.
     */
    @WithDefault("400")
    int tenanciesPerRequest();

    /**
     * Most POSTs in flight from this replica at once. Claims never exceed what these slots can carry, so a slow engine
     * leaves the backlog in the database.
     */
    @WithDefault("8")
    int maxInFlight();

    /**
     * How long a claim is held before another replica may take it over. The owner extends it every third of this
     * while a POST is in flight, so only a dead or stuck replica loses its claims.
     */
    @WithDefault("60s")
    Duration lease();

    /**
     * How long one POST may wait for its answer (the lease heartbeat covers it); the whole exchange, the answer's
     * body included, ends by {@code connect-timeout} plus this. Keep it above the engine's
     * {@code engine.answer-budget}: the engine answers by then with UNFINISHED for what it did not finish. A POST
     * that still times out is "slow", not "engine down": its requests are retried without an attempt.
     */
    @WithDefault("5m")
    Duration requestTimeout();

    /** How long connecting to the sync engine may take. */
    @WithDefault("5s")
    Duration connectTimeout();

    /** First retry delay of a failed request, doubled per further attempt up to {@code backoff-max}. */
    @WithDefault("1s")
    Duration backoffBase();

    /** Longest retry delay (also the longest pause of all claims while the engine is failing). */
    @WithDefault("5m")
    Duration backoffMax();

    /**
     * Fraction of each retry delay that is random (0 = none, 1 = anywhere between zero and the delay). At most 0.5
     * keeps successive delays from ever shrinking.
     */
    @WithDefault("0.5")
    double backoffJitter();

    /**
     * Failed attempts after which a request is parked (kept, shown in status, requeued by an operator). With the
     * default backoff, 25 attempts span about an hour and a half.
     */
    @WithDefault("25")
    int maxAttempts();

    /** How often the loop looks for work when no notification arrives (also the cost of being idle). */
    @WithDefault("1s")
    Duration fallbackPoll();

    /**
     * How often the loop looks at the fusebox switch again, and how long a paused loop sleeps. It looks at the
     * fusebox's cached read ({@code sync.fusebox-check-interval}); a change through this replica's admin API wakes
     * the loop at once.
     */
    @WithDefault("1s")
    Duration fuseboxCheckInterval();

    /** How often the queue gauges of status and metrics are refreshed from the database (never per scrape). */
    @WithDefault("5s")
    Duration statsInterval();

    /**
     * How long a shutdown waits for in-flight POSTs before releasing their claims to other replicas. Keep it below
     * {@code quarkus.shutdown.timeout} and the pod's termination grace period.
     */
    @WithDefault("20s")
    Duration shutdownGrace();

    /**
     * Serve the operators' dashboard ({@code GET /dashboard}, behind {@code ADMIN_TOKEN}) and sample its figures in
     * the background. Off: no sampling and the dashboard's routes answer 404.
     */
    @WithDefault("true")
    boolean dashboardEnabled();

    /**
     * How often the dashboard's figures are sampled (the page reads the last sample, so open pages add no load).
     * Each sample costs the poller's own queue reads, one status call to the sequencer and two calls to the engine
     * (status, rows behind).
     */
    @WithDefault("3s")
    Duration dashboardSampleInterval();

    /** How much throughput history the dashboard keeps in memory for its chart (one point per sample). */
    @WithDefault("15m")
    Duration dashboardHistory();

    /**
     * Base URL of the sequencer, e.g. {@code http://sequencer:8081}: the dashboard shows the sequencer's figures from
     * its {@code /api/v1/status}. Unset: the dashboard shows the sequencer as unreachable.
     */
    Optional<String> sequencerUrl();

    /** This replica's name in the queue ({@code "claimedBy"}); default: host name plus a random suffix. */
    Optional<String> instanceId();
}
