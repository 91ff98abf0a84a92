package dev.externaldbsync.engine.run;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
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

    /** A member of a joinable test batch: a tenancy and a name to find it by. */
    private record Member(UUID tenancy, String name) {
        static Member of(String name) {
            return new Member(UUID.nameUUIDFromBytes(name.getBytes()), name);
        }
    }

    @Test
    void batchesWaitingForABusyWorkerRunJoinedWithTheirMergeKeyAndEachTicketGetsItsOwnMembersBack() {
        FairScheduler scheduler = new FairScheduler(pool, 1, 1.0, 1.0);
        ConcurrentLinkedQueue<List<String>> runs = new ConcurrentLinkedQueue<>();
        FairScheduler.Batches<Member, String> kind = scheduler.batches(members -> {
            runs.add(members.stream().map(Member::name).toList());
            Map<Member, String> results = new java.util.LinkedHashMap<>();
            members.forEach(m -> results.put(m, "synced " + m.name()));
            return results;
        }, Member::tenancy, 4);
        AtomicInteger started = new AtomicInteger();
        FairScheduler.Ticket<String> busy = scheduler.submit(Set.of(UUID.randomUUID()), "db", () -> blocked(started));
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> started.get() == 1);

        var first = kind.submit("db", "login-a", List.of(Member.of("a1"), Member.of("a2")));
        var second = kind.submit("db", "login-a", List.of(Member.of("a3")));
        var otherLogin = kind.submit("db", "login-b", List.of(Member.of("b1")));
        var sameTenancy = kind.submit("db", "login-a", List.of(Member.of("a1")));
        var overLimit = kind.submit("db", "login-a", List.of(Member.of("a4"), Member.of("a5")));
        var fits = kind.submit("db", "login-a", List.of(Member.of("a6")));
        assertThat(scheduler.waiting()).isEqualTo(6);

        release.countDown();
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> scheduler.waiting() == 0
                && List.of(first, second, otherLogin, sameTenancy, overLimit, fits).stream()
                        .allMatch(t -> t.result().isDone()));
        assertThat(busy.result().join()).isEqualTo("done");
        // The first waiting batch takes the freed worker and the later ones that fit: a1's tenancy once, at most
        // four members, the same login only; the rest run in arrival order, joined again where they can be.
        assertThat(runs).containsExactly(List.of("a1", "a2", "a3", "a6"), List.of("b1"), List.of("a1", "a4", "a5"));
        assertThat(first.result().join()).containsOnlyKeys(Member.of("a1"), Member.of("a2"))
                .containsEntry(Member.of("a2"), "synced a2");
        assertThat(second.result().join()).containsExactly(Map.entry(Member.of("a3"), "synced a3"));
        assertThat(fits.result().join()).containsExactly(Map.entry(Member.of("a6"), "synced a6"));
        assertThat(sameTenancy.result().join()).containsExactly(Map.entry(Member.of("a1"), "synced a1"));
        assertThat(overLimit.result().join()).containsOnlyKeys(Member.of("a4"), Member.of("a5"));
        assertThat(scheduler.joined()).isEqualTo(3);
    }

    @Test
    void aJoinedBatchThatThrowsFailsEveryTicketInIt() {
        FairScheduler scheduler = new FairScheduler(pool, 1, 1.0, 1.0);
        FairScheduler.Batches<Member, String> kind = scheduler.batches(members -> {
            throw new IllegalStateException("boom");
        }, Member::tenancy, 10);
        AtomicInteger started = new AtomicInteger();
        scheduler.submit(Set.of(UUID.randomUUID()), "db", () -> blocked(started));
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> started.get() == 1);
        var first = kind.submit("db", "login", List.of(Member.of("x")));
        var second = kind.submit("db", "login", List.of(Member.of("y")));
        release.countDown();
        Awaitility.await().atMost(Duration.ofSeconds(10))
                .until(() -> first.result().isDone() && second.result().isDone());
        assertThat(first.result()).isCompletedExceptionally();
        assertThat(second.result()).isCompletedExceptionally();
        assertThat(scheduler.joined()).isEqualTo(1);
    }

    @Test
    void capsAreAShareOfTheWorkersAndNeverBelowOne() {
        assertThat(FairScheduler.cap(4, 0.5)).isEqualTo(2);
        assertThat(FairScheduler.cap(4, 0.75)).isEqualTo(3);
        assertThat(FairScheduler.cap(1, 0.5)).isEqualTo(1);
        assertThat(FairScheduler.cap(4, 2.0)).isEqualTo(4);
    }
}
