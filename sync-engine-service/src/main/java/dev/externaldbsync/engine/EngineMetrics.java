package dev.externaldbsync.engine;

import java.time.Duration;

import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import dev.externaldbsync.engine.target.TargetPools;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

/**
 * The engine's Prometheus metrics ({@code /q/metrics}): rows applied per mapping, page apply latency, failures by
 * kind, poison rows per mapping, open external pools. Thread-safe (Micrometer meters are).
 */
@ApplicationScoped
public class EngineMetrics {

    @Inject
    MeterRegistry registry;

    @Inject
    TargetPools pools;

    @PostConstruct
    void register() {
        Gauge.builder("sync_engine_open_pools", pools, TargetPools::openPools)
                .description("External connection pools currently open").register(registry);
    }

    public void rowsApplied(String mapping, long rows) {
        if (rows > 0) {
            Counter.builder("sync_engine_rows_applied").description("Rows upserted or deleted in targets")
                    .tag("mapping", mapping).register(registry).increment(rows);
        }
    }

    public void pageApplied(String mapping, Duration latency) {
        Timer.builder("sync_engine_page_apply").description("Time to apply one page in one target transaction")
                .tag("mapping", mapping).publishPercentileHistogram().register(registry).record(latency);
    }

    /** A mapping of one (tenancy, target) was read because it had changes (unchanged ones are skipped, not counted). */
    public void mappingRead(String mapping) {
        Counter.builder("sync_engine_mapping_reads")
                .description("Mappings read for a tenancy and target because they had changes above the cursor")
                .tag("mapping", mapping).register(registry).increment();
    }

    public void failure(String kind) {
        Counter.builder("sync_engine_failures").description("Target runs that failed, by outcome")
                .tag("kind", kind).register(registry).increment();
    }

    public void poisonRow(String mapping) {
        Counter.builder("sync_engine_poison_rows").description("Rows a target rejected for data reasons")
                .tag("mapping", mapping).register(registry).increment();
    }
}
