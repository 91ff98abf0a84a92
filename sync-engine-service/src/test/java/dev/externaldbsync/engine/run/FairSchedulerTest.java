package dev.externaldbsync.engine.run;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The fairness caps of the engine's scheduler, with real threads and batches that block until released. */
class FairSchedulerTest {

    private final ExecutorService pool = Executors.newFixedThreadPool(4);
    private final CountDownLatch release = new CountDownLatch(1);

    @AfterEach
    void stop() {
        release.countDown();
        pool.shutdownNow();
    }

    private String blocked(AtomicInteger started) {
        started.incrementAndGet();
        try {
            release.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return "done";
    }

    @Test
    void aTenancyGetsAtMostItsShareAndAnotherTenancyStartsAheadOfItsWaitingBatches() {
        FairScheduler scheduler = new FairScheduler(pool, 4, 0.5, 1.0);
        UUID greedy = UUID.randomUUID();
        AtomicInteger greedyStarted = new AtomicInteger();
        List<FairScheduler.Ticket<String>> greedyTickets = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            greedyTickets.add(scheduler.submit(Set.of(greedy), "db" + i, () -> blocked(greedyStarted)));
        }
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> greedyStarted.get() == 2);
        assertThat(scheduler.runningFor(greedy)).isEqualTo(2);
        assertThat(scheduler.waiting()).isEqualTo(4);

        UUID other = UUID.randomUUID();
        FairScheduler.Ticket<String> ticket = scheduler.submit(Set.of(other), "db-other", () -> "ok");
        assertThat(ticket.result().join()).isEqualTo("ok");
        assertThat(greedyStarted.get()).isEqualTo(2);

        // A batch not started is dropped for good; the started ones cannot be.
        assertThat(greedyTickets.get(5).cancel()).isTrue();
        assertThat(greedyTickets.get(0).cancel()).isFalse();
        release.countDown();
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(
                () -> greedyTickets.subList(0, 5).stream().allMatch(t -> t.result().isDone()));
        assertThat(greedyStarted.get()).isEqualTo(5);
        assertThat(greedyTickets.get(5).result()).isCancelled();
    }

    @Test
    void oneTargetDatabaseGetsAtMostItsShareWhateverTheTenancies() {
        FairScheduler scheduler = new FairScheduler(pool, 4, 1.0, 0.5);
        AtomicInteger started = new AtomicInteger();
        for (int i = 0; i < 5; i++) {
            scheduler.submit(Set.of(UUID.randomUUID()), "shared", () -> blocked(started));
        }
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> started.get() == 2);
        assertThat(scheduler.waiting()).isEqualTo(3);
        assertThat(scheduler.submit(Set.of(UUID.randomUUID()), "elsewhere", () -> "ok").result().join())
                .isEqualTo("ok");
        assertThat(started.get()).isEqualTo(2);
    }

    @Test
    void capsAreAShareOfTheWorkersAndNeverBelowOne() {
        assertThat(FairScheduler.cap(4, 0.5)).isEqualTo(2);
        assertThat(FairScheduler.cap(4, 0.75)).isEqualTo(3);
        assertThat(FairScheduler.cap(1, 0.5)).isEqualTo(1);
        assertThat(FairScheduler.cap(4, 2.0)).isEqualTo(4);
    }
}
