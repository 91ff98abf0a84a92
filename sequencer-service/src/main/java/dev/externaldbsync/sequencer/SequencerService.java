package dev.externaldbsync.sequencer;

import java.time.Clock;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

import org.jboss.logging.Logger;

import dev.externaldbsync.service.Fusebox;
import dev.externaldbsync.service.InternalDatabaseConfig;
import io.agroal.api.AgroalDataSource;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;

/**
 * Owns the process's one sequencing loop thread: started after migrations (default observer priority, after
 * {@code SchemaMigrationOnStart}), stopped on shutdown after the batch in progress has committed. Publishes the
 * loop's metrics:
 * <ul>
 * <li>{@code sequencer_rows_stamped_total{table}} (change-log entries, per {@code "tableName"}),
 * {@code sequencer_rows_compacted_total}, {@code sequencer_batches_total}, {@code sequencer_batch_duration_seconds}
 * (non-empty batches only);</li>
 * <li>{@code sequencer_rows_waiting{table}}: unstamped entries as last counted by the loop (a bounded count, see
 * {@link Sequencer#waitingEntries}; scraping never queries the database).</li>
 * </ul>
 * Thread-safe.
 */
@Singleton
public class SequencerService {

    private static final Logger LOG = Logger.getLogger(SequencerService.class);

    @Inject
    AgroalDataSource dataSource;

    @Inject
    Fusebox fusebox;

    @Inject
    SequencerConfig config;

    @Inject
    InternalDatabaseConfig database;

    @Inject
    Clock clock;

    @Inject
    MeterRegistry registry;

    private volatile Sequencer sequencer;
    private volatile SequencerLoop loop;
    private volatile Thread thread;

    void onStart(@Observes StartupEvent event) {
        if (database.url().isEmpty()) {
            LOG.warn("INTERNAL_DATABASE_URL is not set: the sequencer loop does not start");
            return;
        }
        sequencer = new Sequencer(dataSource,
                new Sequencer.Settings(config.batchSize(), config.maxTenanciesPerBatch()), clock);
        Map<String, Counter> stamped = new HashMap<>();
        for (String table : Sequencer.LOG_TABLES) {
            stamped.put(table, Counter.builder("sequencer.rows.stamped").tag("table", table)
                    .description("Change-log entries stamped with a sequence id").register(registry));
        }
        Counter compacted = Counter.builder("sequencer.rows.compacted")
                .description("Change-log entries deleted because a newer entry of the same key was stamped")
                .register(registry);
        Counter batches = Counter.builder("sequencer.batches").description("Committed non-empty batches")
                .register(registry);
        Timer duration = Timer.builder("sequencer.batch.duration").description("Wall time of non-empty batches")
                .register(registry);
        SequencerLoop.Observer observer = batch -> {
            batches.increment();
            duration.record(batch.duration());
            compacted.increment(batch.compacted());
            batch.entriesPerTable().forEach((table, entries) -> {
                Counter counter = stamped.get(table);
                if (counter != null) {
                    counter.increment(entries);
                }
            });
        };
        loop = new SequencerLoop(sequencer, () -> fusebox.current().sequencerEnabled(), config.pollInterval(),
                config.waitingRefreshInterval(), clock, observer);
        SequencerLoop current = loop;
        for (String table : Sequencer.LOG_TABLES) {
            Gauge.builder("sequencer.rows.waiting", current, l -> l.waiting().perTable().getOrDefault(table, 0L))
                    .tag("table", table).description("Change-log entries waiting for a sequence id")
                    .register(registry);
        }
        thread = new Thread(loop, "sequencer-loop");
        // Daemon: the ShutdownEvent observer below stops and joins it; it must never keep a failed JVM alive.
        thread.setDaemon(true);
        thread.start();
        LOG.infof("Sequencer loop started (batch size %d, max tenancies per batch %d, poll interval %s)",
                config.batchSize(), config.maxTenanciesPerBatch(), config.pollInterval());
    }

    void onStop(@Observes ShutdownEvent event) {
        Thread t = thread;
        SequencerLoop l = loop;
        if (t == null || l == null) {
            return;
        }
        l.stop();
        try {
            // The loop stops at the next iteration boundary: after the batch in progress committed (stop() also
            // wakes a loop that is sleeping between polls).
            t.join(config.shutdownWait().toMillis());
            if (t.isAlive()) {
                LOG.warnf("Sequencer loop still busy after %s; interrupting", config.shutdownWait());
                t.interrupt();
                t.join(TimeUnit.SECONDS.toMillis(2));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The loop, or null when the service runs without a database. */
    public SequencerLoop loop() {
        return loop;
    }

    /** The core, or null when the service runs without a database. */
    public Sequencer sequencer() {
        return sequencer;
    }
}
