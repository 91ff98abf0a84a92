package dev.externaldbsync.poller;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import dev.externaldbsync.contract.status.PollerLag;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

/**
 * What one replica measures about its deliveries, published twice: as Micrometer meters ({@code /q/metrics}) and as
 * the figures of its status (delivery rate, end-to-end lag window, delivered count). The queue gauges read the
 * statistics the poller refreshes periodically, so a scrape never queries the database. Thread-safe.
 */
final class PollerMetrics {

    /** The sliding window of the status' end-to-end lag. */
    static final int LAG_WINDOW_SECONDS = 60;

    private final Clock clock;
    private final AtomicInteger postsInFlight = new AtomicInteger();
    private final AtomicLong deliveredTotal = new AtomicLong();
    private final RateWindow deliveries = new RateWindow(10);
    private final LagWindow lag = new LagWindow(LAG_WINDOW_SECONDS);

    private final Counter delivered;
    private final Counter failed;
    private final Counter parked;
    private final Timer postLatency;
    private final Timer queueWait;
    private final Timer endToEndLag;

    PollerMetrics(MeterRegistry registry, Clock clock, Supplier<RequestQueue.Stats> stats,
            Supplier<Double> oldestPendingAge) {
        this.clock = clock;
        this.delivered = Counter.builder("sync.poller.requests.delivered")
                .description("Requests the sync engine completed (deleted from the queue)").register(registry);
        this.failed = Counter.builder("sync.poller.requests.failed")
                .description("Failed delivery attempts of requests (each backs off or parks)").register(registry);
        this.parked = Counter.builder("sync.poller.requests.parked")
                .description("Requests parked for an operator").register(registry);
        this.postLatency = Timer.builder("sync.poller.delivery.duration")
                .description("Duration of one POST to the sync engine").publishPercentiles(0.5, 0.99)
                .register(registry);
        this.queueWait = Timer.builder("sync.poller.queue.wait")
                .description("Time from enqueue to the first POST of a request").publishPercentiles(0.5, 0.99)
                .register(registry);
        this.endToEndLag = Timer.builder("sync.poller.end_to_end_lag")
                .description("From the sequencer's enqueue of a tenancy (its first waiting change) to the engine's "
                        + "SYNCED answer").publishPercentiles(0.5, 0.95, 0.99).register(registry);
        Gauge.builder("sync.poller.requests.in_flight", postsInFlight, AtomicInteger::get)
                .description("POSTs to the sync engine in flight from this replica").register(registry);
        Gauge.builder("sync.poller.queue.pending", stats, s -> s.get().pending())
                .description("Pending requests (all replicas), refreshed by the poller").register(registry);
        Gauge.builder("sync.poller.queue.claimed", stats, s -> s.get().inFlight())
                .description("Requests claimed with a live lease (all replicas)").register(registry);
        Gauge.builder("sync.poller.queue.backing_off", stats, s -> s.get().backingOff())
                .description("Requests waiting for their next attempt").register(registry);
        Gauge.builder("sync.poller.queue.parked", stats, s -> s.get().parked())
                .description("Parked requests").register(registry);
        Gauge.builder("sync.poller.queue.oldest_pending_age_seconds", oldestPendingAge, s -> {
            Double age = s.get();
            return age == null ? 0 : age;
        }).description("Age of the oldest pending request").register(registry);
    }

    /** A batch is about to be POSTed: the first attempt of each request ends its queue wait. */
    void sending(List<RequestQueue.Claim> batch, Instant sentAt) {
        for (RequestQueue.Claim claim : batch) {
            if (claim.attemptCount() == 0) {
                Duration wait = Duration.between(claim.createdAt(), sentAt);
                queueWait.record(wait.isNegative() ? Duration.ZERO : wait);
            }
        }
    }

    void postStarted() {
        postsInFlight.incrementAndGet();
    }

    void postFinished(long nanos) {
        postsInFlight.decrementAndGet();
        postLatency.record(nanos, TimeUnit.NANOSECONDS);
    }

    /** The engine answered SYNCED for a request created at {@code createdAt}. */
    void synced(Instant createdAt, Instant answeredAt) {
        long millis = Math.max(0, Duration.between(createdAt, answeredAt).toMillis());
        lag.record(answeredAt.toEpochMilli(), millis);
        endToEndLag.record(millis, TimeUnit.MILLISECONDS);
    }

    void delivered(int requests) {
        delivered.increment(requests);
        deliveredTotal.addAndGet(requests);
        deliveries.add(clock.millis(), requests);
    }

    void failed(int attempts) {
        failed.increment(attempts);
    }

    void parked(int requests) {
        parked.increment(requests);
    }

    int postsInFlight() {
        return postsInFlight.get();
    }

    double deliveriesPerSecond() {
        return deliveries.perSecond(clock.millis());
    }

    PollerLag endToEndLag() {
        return lag.percentiles(clock.millis());
    }

    long deliveredSinceStart() {
        return deliveredTotal.get();
    }

    /** Deliveries per second over the last {@code seconds} whole seconds. Thread-safe (synchronized; cheap). */
    static final class RateWindow {
        private final long[] counts;
        private final long[] seconds;

        RateWindow(int window) {
            counts = new long[window];
            seconds = new long[window];
        }

        synchronized void add(long nowMillis, long n) {
            long second = nowMillis / 1000;
            int i = (int) (second % counts.length);
            if (seconds[i] != second) {
                seconds[i] = second;
                counts[i] = 0;
            }
            counts[i] += n;
        }

        synchronized double perSecond(long nowMillis) {
            long second = nowMillis / 1000;
            long total = 0;
            for (int i = 0; i < counts.length; i++) {
                if (seconds[i] > second - counts.length && seconds[i] <= second) {
                    total += counts[i];
                }
            }
            return (double) total / counts.length;
        }
    }
}
