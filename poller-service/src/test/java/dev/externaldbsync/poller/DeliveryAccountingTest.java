package dev.externaldbsync.poller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.SyncResponse;
import dev.externaldbsync.contract.TargetResult;
import dev.externaldbsync.contract.TenancyResult;

/** Whom a delivery charges an attempt: only the tenancy that failed, never the innocent ones of its request. */
class DeliveryAccountingTest {

    private static PollerHarness h;

    @BeforeAll
    static void setUp() throws Exception {
        h = new PollerHarness("poller_accounting");
    }

    @AfterEach
    void reset() throws Exception {
        h.reset();
    }

    @AfterAll
    static void tearDown() {
        h.close();
    }

    /** The request row's attempt count and error when the tenancy is delivered for the second time. */
    private final Map<UUID, List<Object>> atSecondDelivery = new ConcurrentHashMap<>();
    private final Map<UUID, Integer> deliveries = new ConcurrentHashMap<>();

    private void noteDelivery(List<UUID> tenancies) {
        for (UUID id : tenancies) {
            if (deliveries.merge(id, 1, Integer::sum) == 2) {
                atSecondDelivery.put(id, h.db.queryRows("""
                        SELECT "attemptCount", "lastError" FROM "OutgoingRequest" WHERE "tenancyId" = ?""", id)
                        .get(0));
            }
        }
    }

    @Test
    void tenanciesTheEngineDidNotFinishOrSkippedAreRequeuedWithoutAnAttemptWhileTheFailedOneIsCharged() {
        UUID synced = UUID.randomUUID();
        UUID unfinished = UUID.randomUUID();
        UUID busy = UUID.randomUUID();
        UUID failed = UUID.randomUUID();
        UUID backedOff = UUID.randomUUID();
        h.enqueue(synced, unfinished, busy, failed, backedOff);
        h.receiver.script((n, request) -> {
            noteDelivery(request.tenancyIds());
            if (n > 1) {
                return SyncReceiver.allSynced(request);
            }
            return SyncReceiver.Reply.ok(new SyncResponse(List.of(
                    new TenancyResult(synced, Outcome.SYNCED, false, List.of(), null),
                    new TenancyResult(unfinished, Outcome.UNFINISHED, true, List.of(
                            new TargetResult("a", Outcome.SYNCED, false, null, null),
                            new TargetResult("b", Outcome.UNFINISHED, true, null, "answer budget")), null),
                    new TenancyResult(busy, Outcome.BUSY, true,
                            List.of(new TargetResult("a", Outcome.BUSY, true, null, "another run")), null),
                    new TenancyResult(failed, Outcome.FAILED, true, List.of(
                            new TargetResult("a", Outcome.UNFINISHED, true, null, "answer budget"),
                            new TargetResult("b", Outcome.FAILED, true, null, "unreachable")), null),
                    new TenancyResult(backedOff, Outcome.BACKED_OFF, true, List.of(
                            new TargetResult("a", Outcome.BACKED_OFF, true, null, "backed off", 1500L)), null))));
        });
        h.start(h.settings().withBackoff(new RequestQueue.Backoff(Duration.ofMillis(200), Duration.ofSeconds(1), 0)));

        await().atMost(Duration.ofSeconds(15)).until(() -> h.queued() == 0);
        assertThat(deliveries.get(synced)).isEqualTo(1);
        assertThat(atSecondDelivery.get(unfinished).get(0)).isEqualTo(0);
        assertThat((String) atSecondDelivery.get(unfinished).get(1)).contains("UNFINISHED");
        assertThat(atSecondDelivery.get(busy).get(0)).isEqualTo(0);
        // One target of its own failed: that tenancy is charged, even though its other target only ran out of time.
        assertThat(atSecondDelivery.get(failed).get(0)).isEqualTo(1);
        // A backed-off target was not tried: no attempt, and not asked again before the engine would try it.
        assertThat(atSecondDelivery.get(backedOff).get(0)).isEqualTo(0);
        List<SyncReceiver.Delivery> skipped = h.receiver.deliveriesOf(backedOff);
        assertThat(Duration.between(skipped.get(0).answeredAt(), skipped.get(1).receivedAt()))
                .isGreaterThanOrEqualTo(Duration.ofMillis(1400));
    }

    @Test
    void postThatTimesOutIsSlowNotDownAndChargesNoTenancyOfItsRequestAnAttempt() {
        UUID first = UUID.randomUUID();
        UUID second = UUID.randomUUID();
        h.enqueue(first, second);
        h.receiver.script((n, request) -> {
            noteDelivery(request.tenancyIds());
            if (n == 1) {
                // An engine slower than the poller's request timeout (the engine's work, not a test wait).
                assertThat(new CountDownLatch(1).await(2500, TimeUnit.MILLISECONDS)).isFalse();
            }
            return SyncReceiver.allSynced(request);
        });
        h.start(h.settings().withRequestTimeout(Duration.ofMillis(800))
                .withBackoff(new RequestQueue.Backoff(Duration.ofMillis(200), Duration.ofSeconds(1), 0)));

        await().atMost(Duration.ofSeconds(15)).until(() -> h.queued() == 0);
        for (UUID id : List.of(first, second)) {
            assertThat(atSecondDelivery.get(id).get(0)).isEqualTo(0);
            assertThat((String) atSecondDelivery.get(id).get(1)).startsWith("timeout");
        }
    }
}
