package dev.externaldbsync.engine.store;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

import org.jboss.logging.Logger;

import dev.externaldbsync.engine.EngineConfig;
import dev.externaldbsync.engine.errors.SqlFailure;
import io.agroal.api.AgroalDataSource;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;

/**
 * Runs {@link ChangeRetention} in the background, one round every {@code engine.retention.interval}, one tenancy at
 * a time. A round visits the tenancies this engine synced since the last round (their cursors are the ones that
 * moved) and the next {@code engine.retention.sweep-tenancies} tenancies with stamped entries in id order (a slow
 * pass over all of them, for what a restart or another replica forgot), so an idle log costs a few index probes. Any
 * number of replicas may prune at once: a deletion is idempotent and a floor only rises. Thread-safe: rounds run one
 * at a time.
 */
@ApplicationScoped
public class RetentionLoop {

    private static final Logger LOG = Logger.getLogger(RetentionLoop.class);

    /** Tenancies planned from one snapshot. */
    static final int CHUNK = 100;

    /** Synced tenancies remembered between rounds; beyond, the sweep finds them. Bounds memory. */
    static final int MAX_TOUCHED = 100_000;

    @Inject
    AgroalDataSource internal;

    @Inject
    EngineConfig config;

    @Inject
    MeterRegistry registry;

    private final Set<UUID> touched = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean stopping = new AtomicBoolean();
    private final AtomicLong blockedTables = new AtomicLong();
    private final AtomicLong maxLag = new AtomicLong();
    private ScheduledExecutorService executor;
    private Counter pruned;
    /** The sweep's position: the last tenancy it visited, null = from the start. Guarded by this. */
    private UUID sweepAfter;

    /** What one round did. */
    public record Round(int tenancies, long entriesDeleted, int mirrorRowsRemoved, int blockedTables, long maxLag) {
    }

    @PostConstruct
    void register() {
        pruned = Counter.builder("sync_engine_retention_pruned_entries")
                .description("Change-log entries deleted by retention").register(registry);
        Gauge.builder("sync_engine_retention_blocked_tables", blockedTables, AtomicLong::get)
                .description("Tables of tenancies whose pruning a backfilling or not yet synced target held back "
                        + "in the last round").register(registry);
        Gauge.builder("sync_engine_retention_max_lag", maxLag, AtomicLong::get)
                .description("Largest distance, in sequence ids, between a table's newest stamp and the slowest "
                        + "configured cursor among the tables visited in the last round").register(registry);
    }

    void start(@Observes StartupEvent event) {
        if (!config.retention().enabled()) {
            return;
        }
        executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "sync-engine-retention");
            t.setDaemon(true);
            return t;
        });
        long interval = config.retention().interval().toMillis();
        executor.scheduleWithFixedDelay(this::scheduledRound, interval, interval, TimeUnit.MILLISECONDS);
    }

    void stop(@Observes ShutdownEvent event) {
        stopping.set(true);
        if (executor != null) {
            executor.shutdownNow();
        }
    }

    /** Tenancies a request asked to sync: their cursors may have moved, so they are visited in the next round. */
    public void touched(Collection<UUID> tenancies) {
        if (!config.retention().enabled()) {
            return;
        }
        for (UUID t : tenancies) {
            if (touched.size() >= MAX_TOUCHED) {
                return;
            }
            touched.add(t);
        }
    }

    private void scheduledRound() {
        try {
            runOnce();
        } catch (RuntimeException e) {
            // The executor would stop scheduling after an exception; the next round tries again.
            LOG.warnf("Change-log retention round failed: %s", e.toString());
        }
    }

    /**
     * One round now (the scheduler's; tests call it directly): the synced tenancies, then the sweep's next ones,
     * until done or {@code engine.retention.interval} has passed (the rest waits for the next round).
     */
    public synchronized Round runOnce() {
        long deadline = System.nanoTime() + config.retention().interval().toNanos();
        BooleanSupplier stop = () -> stopping.get() || System.nanoTime() - deadline > 0;
        List<UUID> synced = drain();
        int visited = 0;
        long deleted = 0;
        int removed = 0;
        int blocked = 0;
        long lag = 0;
        LinkedHashSet<UUID> left = new LinkedHashSet<>(synced);
        try (Connection c = internal.getConnection()) {
            int sweep = Math.max(0, config.retention().sweepTenancies());
            if (sweep > 0) {
                List<UUID> next = ChangeRetention.stampedTenancies(c, sweepAfter, sweep);
                sweepAfter = next.size() < sweep ? null : next.get(next.size() - 1);
                left.addAll(next);
            }
            while (!left.isEmpty() && !stop.getAsBoolean()) {
                List<UUID> chunk = new ArrayList<>(CHUNK);
                Iterator<UUID> it = left.iterator();
                while (it.hasNext() && chunk.size() < CHUNK) {
                    chunk.add(it.next());
                }
                for (ChangeRetention.Plan plan : ChangeRetention.plan(c, chunk)) {
                    blocked += plan.blocked();
                    lag = Math.max(lag, plan.lag());
                    ChangeRetention.Pruned done = ChangeRetention.prune(c, plan, config.retention().batch(), stop);
                    visited++;
                    deleted += done.entries();
                    removed += done.mirrorRowsRemoved();
                    pruned.increment(done.entries());
                    if (done.finished()) {
                        left.remove(plan.tenancyId());
                    }
                    if (stop.getAsBoolean()) {
                        break;
                    }
                }
            }
        } catch (SQLException e) {
            LOG.warnf("Change-log retention round stopped: %s", SqlFailure.describe(e));
        }
        // What this round did not get to: synced tenancies wait for the next one; swept ones come round again.
        left.retainAll(synced);
        touched(left);
        blockedTables.set(blocked);
        maxLag.set(lag);
        if (deleted > 0 || removed > 0) {
            LOG.debugf("Change-log retention: %d tenancies visited, %d entries deleted, %d stale mirror rows removed",
                    visited, deleted, removed);
        }
        return new Round(visited, deleted, removed, blocked, lag);
    }

    private List<UUID> drain() {
        List<UUID> drained = new ArrayList<>();
        Iterator<UUID> it = touched.iterator();
        while (it.hasNext()) {
            drained.add(it.next());
            it.remove();
        }
        return drained;
    }
}
