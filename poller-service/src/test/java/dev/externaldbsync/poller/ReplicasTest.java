package dev.externaldbsync.poller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Several replicas at once, and an engine that is down for a while. */
class ReplicasTest {

    private static PollerHarness h;

    @BeforeAll
    static void setUp() throws Exception {
        h = new PollerHarness("poller_replicas");
    }

    @AfterEach
    void reset() throws Exception {
        h.reset();
    }

    @AfterAll
    static void tearDown() {
        h.close();
    }

    @Test
    void twoPollersDeliverAThousandTenanciesNeverSendingOneTenancyTwiceAtOnce() throws Exception {
        List<UUID> tenancies = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            tenancies.add(UUID.randomUUID());
        }
        h.receiver.script((n, request) -> {
            // The engine takes a little while, so that requests overlap and re-enqueued tenancies meet claims.
            assertThat(new CountDownLatch(1).await(3, TimeUnit.MILLISECONDS)).isFalse();
            return SyncReceiver.allSynced(request);
        });
        h.enqueue(tenancies.toArray(UUID[]::new));
        Poller a = h.start(h.settings().withBatching(10, 4));
        Poller b = h.start(h.settings().withBatching(10, 4));
        // New changes for the same tenancies while the first round is being delivered.
        for (int round = 0; round < 3; round++) {
            for (int from = 0; from < tenancies.size(); from += 100) {
                h.enqueue(tenancies.subList(from, from + 100).toArray(UUID[]::new));
            }
        }

        await().atMost(Duration.ofSeconds(60)).until(() -> h.queued() == 0);
        assertThat(h.receiver.tenanciesDelivered()).isEqualTo(1000);
        assertThat(h.receiver.maxConcurrentPerTenancy()).isEqualTo(1);
        // Each request names a tenancy at most once, and both replicas took part.
        for (SyncReceiver.Delivery d : h.receiver.deliveries()) {
            assertThat(d.tenancyIds()).doesNotHaveDuplicates();
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> a.status().deliveriesPerSecond() > 0
                && b.status().deliveriesPerSecond() > 0);
    }

    @Test
    void engineDownCostsBoundedAttemptsPerSecondAndEverythingIsDeliveredWhenItReturns() {
        List<UUID> tenancies = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            tenancies.add(UUID.randomUUID());
        }
        AtomicBoolean down = new AtomicBoolean(true);
        h.receiver.script((n, request) -> down.get() ? SyncReceiver.Reply.status(503)
                : SyncReceiver.allSynced(request));
        h.enqueue(tenancies.toArray(UUID[]::new));
        Instant start = Instant.now();
        Poller poller = h.start(h.settings().withBatching(5, 4).withMaxAttempts(100)
                .withBackoff(new RequestQueue.Backoff(Duration.ofMillis(100), Duration.ofSeconds(1), 0.5)));

        // Down for 30 s: without the engine-wide pause this would be thousands of POSTs (each fails in a millisecond).
        await().during(Duration.ofSeconds(30)).atMost(Duration.ofSeconds(35)).until(() -> h.queued() == 200);
        long attempts = h.receiver.requestCount();
        double seconds = Duration.between(start, Instant.now()).toMillis() / 1000.0;
        // Pause grows 0.05-0.1, 0.1-0.2, 0.2-0.4, 0.4-0.8, then 0.5-1 s; each pause lets at most 4 POSTs out.
        assertThat(attempts).isGreaterThan(4).isLessThanOrEqualTo((long) (4 * (seconds / 0.5 + 6)));
        assertThat(h.queued()).isEqualTo(200);
        assertThat(poller.status().lastError()).startsWith("HTTP 503");
        assertThat(poller.status().engineRetryAt()).isNotNull();

        down.set(false);
        await().atMost(Duration.ofSeconds(20)).until(() -> h.queued() == 0);
        assertThat(h.receiver.tenanciesDelivered()).isEqualTo(200);
    }
}
