package dev.externaldbsync.load;

import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/** Runs a clock's work while a sample is taken on a thread of its own, the same period apart. */
final class Sampling {

    /** One sample. */
    interface Sample {
        void take() throws SQLException;
    }

    private Sampling() {
    }

    /**
     * Runs {@code work}, sampling from {@code firstAfter} on, every {@code period} (a sample that fails is reported
     * to {@code failure}, and sampling goes on); the sampling has stopped when this returns, whether or not
     * {@code work} threw.
     */
    static void around(String thread, Duration firstAfter, Duration period, Sample sample, Consumer<String> failure,
            PipelineCpu.Work work) throws Exception {
        ScheduledExecutorService every = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, thread);
            t.setDaemon(true);
            return t;
        });
        ScheduledFuture<?> sampling = every.scheduleWithFixedDelay(() -> {
            try {
                sample.take();
            } catch (SQLException | RuntimeException e) {
                // A sample that threw would end the schedule without a word.
                failure.accept(thread + ": a sample failed: " + e.getMessage());
            }
        }, firstAfter.toMillis(), period.toMillis(), TimeUnit.MILLISECONDS);
        try {
            work.run();
        } finally {
            sampling.cancel(false);
            every.shutdown();
            every.awaitTermination(10, TimeUnit.SECONDS);
        }
    }
}
