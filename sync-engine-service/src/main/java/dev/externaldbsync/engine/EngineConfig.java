package dev.externaldbsync.engine;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

import io.quarkus.runtime.configuration.MemorySize;
import io.quarkus.runtime.configuration.MemorySizeConverter;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithConverter;
import io.smallrye.config.WithDefault;

/**
 * The sync engine's settings. Each key is also an environment variable (upper case, dots and dashes as
 * underscores): {@code engine.page-size} is {@code ENGINE_PAGE_SIZE}.
 */
@ConfigMapping(prefix = "engine")
public interface EngineConfig {

    /**
     * {@code ENGINE_PAGE_SIZE}: rows read and applied per target transaction. Larger pages amortise round trips;
     * smaller pages bound memory, transaction length and the work redone after a failure. 2,000 was measured as
     * the knee of the throughput curve on a bulk backfill (see the module README / report).
     */
    @WithDefault("2000")
    int pageSize();

    /**
     * {@code ENGINE_PAGE_MAX_BYTES}: the most row text one page read from the internal database carries, cut by the
     * server before the row limit when rows are wide (a page is at least one row). Bounds the engine's heap per
     * page whatever the width of the jsonb columns.
     */
    // The converter named, not found: a plain SmallRye config (as some tests build) has no Quarkus converters.
    @WithDefault("4M")
    @WithConverter(MemorySizeConverter.class)
    MemorySize pageMaxBytes();

    /**
     * {@code ENGINE_PARALLELISM}: tenancies of requests processed at once (a bounded worker pool). Each needs one
     * internal connection (the run's lock and reads) and one connection to the target.
     */
    @WithDefault("4")
    int parallelism();

    /** {@code ENGINE_CONNECT_TIMEOUT}: how long connecting to an external database may take before the target fails. */
    @WithDefault("5s")
    Duration connectTimeout();

    /**
     * {@code ENGINE_STATEMENT_TIMEOUT}: socket read timeout on external connections, so a hung target cannot hold a
     * run (and its lock) forever.
     */
    @WithDefault("120s")
    Duration statementTimeout();

    /** {@code ENGINE_SHUTDOWN_WAIT}: on shutdown, how long to wait for running pages to finish. */
    @WithDefault("20s")
    Duration shutdownWait();

    /** External connection pools. */
    Pools pools();

    /** Batching across the tenancies of one request that share an external database. */
    Batch batch();

    /** Snapshot backfills (a target's first sync, a resync, a cursor below the retention floor). */
    Backfill backfill();

    /** Where the engine may connect and what a tenant's target config may say (see target/ConnectionPolicy). */
    Targets targets();

    interface Targets {
        /**
         * {@code ENGINE_TARGETS_ALLOW_LOOPBACK}: allow targets whose address (after DNS resolution) is a loopback
         * address. Only for development and tests, where targets live on the engine's machine.
         */
        @WithDefault("false")
        boolean allowLoopback();

        /**
         * {@code ENGINE_TARGETS_ALLOW_PRIVATE}: allow targets in private ranges (10/8, 172.16/12, 192.168/16,
         * 100.64/10, fc00::/7). Off by default: they are the operator's own network.
         */
        @WithDefault("false")
        boolean allowPrivate();

        /**
         * {@code ENGINE_TARGETS_ALLOW}: an allowlist of CIDRs ({@code 10.1.0.0/16}) and host names; when set, only
         * targets matching it are used (a match also lifts the loopback/private ban). Link-local and cloud metadata
         * addresses and the internal database stay refused.
         */
        Optional<List<String>> allow();

        /**
         * {@code ENGINE_TARGETS_ALLOW_INTERNAL_SERVER}: allow other databases on the internal database's server as
         * targets. Only for development and tests; the internal database itself is never a target.
         */
        @WithDefault("false")
        boolean allowInternalServer();

        /**
         * {@code ENGINE_TARGETS_MIN_SSLMODE}: the weakest TLS mode used towards a target (disable, allow, prefer,
         * require, verify-ca, verify-full); a tenant's {@code sslmode} may only be stricter.
         */
        @WithDefault("require")
        String minSslmode();

        /**
         * {@code ENGINE_TARGETS_SSL_ROOT_CERT}: a CA bundle file (e.g. mounted from a Secret) that verify-ca and
         * verify-full check target certificates against; unset = pgjdbc's default location.
         */
        Optional<String> sslRootCert();

        /** {@code ENGINE_TARGETS_MAX_PER_TENANCY}: targets one tenancy may configure; beyond that none is synced. */
        @WithDefault("10")
        int maxPerTenancy();

        /**
         * {@code ENGINE_TARGETS_MAX_RESULT_BUFFER}: the most a single result from a target may occupy in memory
         * (pgjdbc's maxResultBuffer: {@code 64M}, or a share of the heap such as {@code 10p}).
         */
        @WithDefault("32M")
        String maxResultBuffer();

        /** {@code ENGINE_TARGETS_LOCK_TIMEOUT}: a target statement's wait for a lock (session lock_timeout). */
        @WithDefault("30s")
        Duration lockTimeout();

        /**
         * {@code ENGINE_TARGETS_IDLE_IN_TRANSACTION_TIMEOUT}: the server ends a target session idle inside a
         * transaction this long (a stuck run cannot hold the tenant's locks).
         */
        @WithDefault("5m")
        Duration idleInTransactionTimeout();
    }

    interface Batch {
        /**
         * {@code ENGINE_BATCH_MAX_TENANCIES}: most (tenancy, target)s synced together as one batch: one lock
         * statement, one probe and one read of the mappings with changes, one target transaction, one progress
         * write. The (tenancy, target)s of one request that share an external database are spread over {@code
         * engine.parallelism} batches of at most this size (parallel for latency, batched for throughput), and
         * batches of concurrent requests waiting for a busy worker are joined up to it. 1 syncs each tenancy alone
         * (still all its small pages in one transaction).
         */
        @WithDefault("100")
        int maxTenancies();

        /**
         * {@code ENGINE_BATCH_FETCH_ROWS}: rows per mapping a batched read may return, shared among its tenancies
         * (each gets this divided by the batch size, at most {@code engine.page-size}, rounded down to a power of
         * two). A tenancy that fills its share is big: it continues alone with pages of {@code engine.page-size}.
         * Bounds a batch's memory to about 11 times this many rows.
         */
        @WithDefault("2000")
        int fetchRows();
    }

    interface Backfill {
        /**
         * {@code ENGINE_BACKFILL_COPY_KEYS}: source keys per copied chunk of a snapshot backfill, one target
         * transaction each. A chunk is streamed by COPY from the internal database into a temporary staging table
         * of the target and upserted from there, never decoded by the engine, so its memory does not grow with it.
         * A chunk the target rejects goes on page by page ({@code engine.page-size}), where a bad row is found and
         * dead-lettered. 0 backfills page by page only (for a target without COPY or temporary tables).
         */
        @WithDefault("20000")
        int copyKeys();
    }

    interface Pools {
        /** {@code ENGINE_POOLS_MAX}: distinct external databases with an open pool at once (LRU beyond). */
        @WithDefault("64")
        int max();

        /** {@code ENGINE_POOLS_MAX_CONNECTIONS}: connections per external database. */
        @WithDefault("4")
        int maxConnections();

        /** {@code ENGINE_POOLS_IDLE_TIMEOUT}: a pool unused this long is closed. */
        @WithDefault("5m")
        Duration idleTimeout();

        /**
         * {@code ENGINE_POOLS_WARM_FOR}: a pool leased within this long keeps one connection open while idle, so a
         * quiet tenancy's next change skips connect and authentication; afterwards it drains to none (and is closed
         * once also idle past {@code engine.pools.idle-timeout}). A target that fails to connect is not kept warm.
         */
        @WithDefault("15m")
        Duration warmFor();
    }

    /**
     * {@code ENGINE_RUN_DEADLINE}: how long one run (a batch or one tenancy on one target) may take; the tenant's
     * config cannot change it. No page starts after it (the run answers {@code UNFINISHED} and a later request
     * continues); a run still inside a statement {@code engine.run-abort-grace} later has its target connection
     * aborted by a watchdog, so a hung target frees its worker.
     */
    @WithDefault("60s")
    Duration runDeadline();

    /** {@code ENGINE_RUN_ABORT_GRACE}: past {@code engine.run-deadline}, how long a statement may still finish. */
    @WithDefault("15s")
    Duration runAbortGrace();

    /**
     * {@code ENGINE_ANSWER_BUDGET}: how long a sync request may take before the engine answers anyway: runs not
     * finished by then answer {@code UNFINISHED} (retry; the poller counts no attempt), runs not started are
     * dropped. Keep it well below the poller's {@code poller.request-timeout}.
     */
    @WithDefault("30s")
    Duration answerBudget();

    /** Shares of {@code engine.parallelism} one tenancy or one target database may hold. */
    Fairness fairness();

    /** The retry schedule of a target that failed or timed out. */
    TargetBackoff targetBackoff();

    /** Pruning of the change log once every configured target has passed its entries (store/ChangeRetention). */
    Retention retention();

    interface Retention {
        /** {@code ENGINE_RETENTION_ENABLED}: prune the change log in the background. */
        @WithDefault("true")
        boolean enabled();

        /** {@code ENGINE_RETENTION_INTERVAL}: pause between two pruning rounds; a round also stops after it. */
        @WithDefault("30s")
        Duration interval();

        /**
         * {@code ENGINE_RETENTION_BATCH}: most change-log entries one statement deletes, so that a prune never holds
         * many row locks or a long transaction.
         */
        @WithDefault("5000")
        int batch();

        /**
         * {@code ENGINE_RETENTION_SWEEP_TENANCIES}: tenancies with stamped entries visited per round besides those
         * this engine synced since the last one (a slow pass over all of them, for what a restart forgot).
         */
        @WithDefault("200")
        int sweepTenancies();
    }

    interface Fairness {
        /**
         * {@code ENGINE_FAIRNESS_TENANCY_SHARE}: fraction of the workers ({@code engine.parallelism}) the runs of one
         * tenancy may hold at once (at least one worker); its further runs wait.
         */
        @WithDefault("0.5")
        double tenancyShare();

        /**
         * {@code ENGINE_FAIRNESS_TARGET_SHARE}: fraction of the workers the runs on one target database (host, port,
         * database) may hold at once (at least one worker).
         */
        @WithDefault("0.75")
        double targetShare();
    }

    interface TargetBackoff {
        /**
         * {@code ENGINE_TARGET_BACKOFF_BASE}: the retry delay of a target backed off (its run aborted by the
         * watchdog, or two target-level failures in a row), doubled per further consecutive failure.
         */
        @WithDefault("2s")
        Duration base();

        /** {@code ENGINE_TARGET_BACKOFF_MAX}: a target's longest retry delay (half of each delay is random). */
        @WithDefault("5m")
        Duration max();
    }
}
