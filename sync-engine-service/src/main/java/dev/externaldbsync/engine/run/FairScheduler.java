package dev.externaldbsync.engine.run;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Supplier;

/**
 * Hands batches to the engine's workers so that no tenancy and no target database holds more than its share of
 * them: a batch waits (in arrival order) while all workers are busy, or while starting it would give one of its
 * tenancies, or its target database, more running batches than its cap; a later batch that fits starts before it.
 * Engine-wide, across concurrent requests. A batch not yet started can be {@link Ticket#cancel cancelled} (the
 * request answered without it). Thread-safe (one lock around the counts; batches run outside it).
 */
public final class FairScheduler {

    private final Executor workers;
    private final int parallelism;
    private final int tenancyCap;
    private final int targetCap;
    private final ArrayDeque<Ticket<?>> pending = new ArrayDeque<>();
    private final Map<UUID, Integer> perTenancy = new HashMap<>();
    private final Map<String, Integer> perTarget = new HashMap<>();
    private int running;

    /**
     * @param workers     runs the batches; it must have at least {@code parallelism} threads
     * @param tenancyShare fraction of {@code parallelism} one tenancy may hold (at least one worker)
     * @param targetShare  fraction of {@code parallelism} one target database may hold (at least one worker)
     */
    public FairScheduler(Executor workers, int parallelism, double tenancyShare, double targetShare) {
        this.workers = workers;
        this.parallelism = Math.max(1, parallelism);
        this.tenancyCap = cap(this.parallelism, tenancyShare);
        this.targetCap = cap(this.parallelism, targetShare);
    }

    static int cap(int parallelism, double share) {
        return Math.max(1, Math.min(parallelism, (int) Math.floor(parallelism * share)));
    }

    public int tenancyCap() {
        return tenancyCap;
    }

    public int targetCap() {
        return targetCap;
    }

    /** A batch handed to the scheduler: its result, once run. */
    public final class Ticket<T> {
        private final Set<UUID> tenancies;
        private final String target;
        private final Supplier<T> body;
        private final CompletableFuture<T> result = new CompletableFuture<>();
        private boolean started;

        private Ticket(Set<UUID> tenancies, String target, Supplier<T> body) {
            this.tenancies = tenancies;
            this.target = target;
            this.body = body;
        }

        public CompletableFuture<T> result() {
            return result;
        }

        /** Drops the batch if it has not started; true if dropped (it never will), false if it runs or ran. */
        public boolean cancel() {
            synchronized (FairScheduler.this) {
                if (started) {
                    return false;
                }
                pending.remove(this);
                started = true;
            }
            result.cancel(false);
            return true;
        }
    }

    /** Queues a batch of {@code tenancies} on {@code target} (a database identity) and starts what fits. */
    public <T> Ticket<T> submit(Set<UUID> tenancies, String target, Supplier<T> body) {
        Ticket<T> ticket = new Ticket<>(Set.copyOf(tenancies), target, body);
        synchronized (this) {
            pending.add(ticket);
        }
        dispatch();
        return ticket;
    }

    /** Batches waiting for a worker or for their share. */
    public synchronized int waiting() {
        return pending.size();
    }

    /** Running batches holding {@code tenancy}. */
    public synchronized int runningFor(UUID tenancy) {
        return perTenancy.getOrDefault(tenancy, 0);
    }

    private void dispatch() {
        while (true) {
            Ticket<?> next = null;
            synchronized (this) {
                for (Iterator<Ticket<?>> it = pending.iterator(); running < parallelism && it.hasNext();) {
                    Ticket<?> t = it.next();
                    if (fits(t)) {
                        it.remove();
                        t.started = true;
                        take(t, 1);
                        next = t;
                        break;
                    }
                }
            }
            if (next == null) {
                return;
            }
            start(next);
        }
    }

    private <T> void start(Ticket<T> ticket) {
        try {
            workers.execute(() -> {
                try {
                    ticket.result.complete(ticket.body.get());
                } catch (RuntimeException | Error e) {
                    ticket.result.completeExceptionally(e);
                } finally {
                    release(ticket);
                }
            });
        } catch (RejectedExecutionException e) {
            release(ticket);
            ticket.result.completeExceptionally(e);
        }
    }

    private void release(Ticket<?> ticket) {
        synchronized (this) {
            take(ticket, -1);
        }
        dispatch();
    }

    private boolean fits(Ticket<?> t) {
        if (perTarget.getOrDefault(t.target, 0) >= targetCap) {
            return false;
        }
        for (UUID tenancy : t.tenancies) {
            if (perTenancy.getOrDefault(tenancy, 0) >= tenancyCap) {
                return false;
            }
        }
        return true;
    }

    private void take(Ticket<?> t, int delta) {
        running += delta;
        perTarget.merge(t.target, delta, (a, b) -> a + b == 0 ? null : a + b);
        for (UUID tenancy : t.tenancies) {
            perTenancy.merge(tenancy, delta, (a, b) -> a + b == 0 ? null : a + b);
        }
    }
}
