package dev.externaldbsync.engine.run;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The read a snapshot backfill runs ahead: on another thread, collected with its own result or failure. */
class ReadAheadTest {

    private final ExecutorService pool = ReadAhead.pool("read-ahead-test", 2);

    @AfterEach
    void shutDown() {
        pool.shutdownNow();
    }

    @Test
    void theReadRunsOnAnotherThreadWhileTheCallerGoesOnAndJoinReturnsItsResult() throws Exception {
        CountDownLatch callerWorked = new CountDownLatch(1);
        AtomicReference<Thread> reader = new AtomicReference<>();

        ReadAhead<String> read = ReadAhead.start(pool, () -> {
            reader.set(Thread.currentThread());
            await(callerWorked);
            return "page 2";
        });
        // start() returned although the read cannot finish before the caller does its own work.
        callerWorked.countDown();

        assertThat(read.join()).isEqualTo("page 2");
        assertThat(reader.get()).isNotNull().isNotSameAs(Thread.currentThread());
        assertThat(reader.get().getName()).startsWith("read-ahead-test-");
        assertThat(reader.get().isDaemon()).isTrue();
    }

    @Test
    void aFailedReadIsThrownByJoinAsTheSqlExceptionItThrew() {
        SQLException timeout = new SQLException("canceling statement due to statement timeout", "57014");

        ReadAhead<String> read = ReadAhead.start(pool, () -> {
            throw timeout;
        });

        assertThatThrownBy(read::join).isSameAs(timeout);
    }

    @Test
    void awaitDoneWaitsForTheReadButLeavesItsResultAndFailureToJoin() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicBoolean finished = new AtomicBoolean();
        SQLException failure = new SQLException("connection reset", "08006");
        ReadAhead<String> read = ReadAhead.start(pool, () -> {
            await(release);
            finished.set(true);
            throw failure;
        });
        Thread releaser = releaseOnceWaiting(Thread.currentThread(), release);

        read.awaitDone();

        assertThat(finished).as("the read is over when awaitDone returns").isTrue();
        assertThatThrownBy(read::join).isSameAs(failure);
        releaser.join();
    }

    @Test
    void settleWaitsForTheReadAndAttachesItsFailureToTheCallersOwn() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicBoolean finished = new AtomicBoolean();
        SQLException readFailure = new SQLException("read failed", "XX000");
        ReadAhead<String> read = ReadAhead.start(pool, () -> {
            await(release);
            finished.set(true);
            throw readFailure;
        });
        SQLException applyFailure = new SQLException("target rejected the page", "23514");
        Thread releaser = releaseOnceWaiting(Thread.currentThread(), release);

        read.settle(applyFailure);

        assertThat(finished).as("the read is over when settle returns").isTrue();
        assertThat(applyFailure.getSuppressed()).containsExactly(readFailure);
        releaser.join();
    }

    @Test
    void aReadThatFindsThePoolShutDownRunsInTheCaller() throws Exception {
        pool.shutdown();
        AtomicReference<Thread> reader = new AtomicReference<>();

        ReadAhead<String> read = ReadAhead.start(pool, () -> {
            reader.set(Thread.currentThread());
            return "inline";
        });

        assertThat(read.join()).isEqualTo("inline");
        assertThat(reader.get()).isSameAs(Thread.currentThread());
    }

    private static void await(CountDownLatch latch) throws SQLException {
        try {
            if (!latch.await(30, TimeUnit.SECONDS)) {
                throw new SQLException("the test never released the read");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SQLException(e);
        }
    }

    /** Releases the read once {@code waiter} waits for it (so the wait is really exercised). */
    private static Thread releaseOnceWaiting(Thread waiter, CountDownLatch release) {
        Thread releaser = new Thread(() -> {
            Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> waiter.getState() == Thread.State.WAITING);
            release.countDown();
        });
        releaser.start();
        return releaser;
    }
}
