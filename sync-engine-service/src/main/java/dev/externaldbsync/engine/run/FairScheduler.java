package dev.externaldbsync.engine.run;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Hands batches to the engine's workers so that no tenancy and no target database holds more than its share of
 * them: a batch waits (in arrival order) while all workers are busy, or while starting it would give one of its
 * tenancies, or its target database, more running batches than its cap; a later batch that fits starts before it.
 * Engine-wide, across concurrent requests. A batch not yet started can be {@link Ticket#cancel cancelled} (the
 * request answered without it).
 * <p>
 * Batches of one {@link Batches kind} that wait for a worker are joined when one starts: the waiting batches with its
 * merge key (one target database and login) and none of its tenancies join it, up to the kind's member limit, and run
 * as ONE batch, each ticket answered with its own members' results. So a busy engine turns the many small batches of
 * concurrent requests into few large ones, where a batch's fixed costs (its round trips, its target transaction, its
 * progress write) are shared; an idle one still starts each at once. Thread-safe (one lock around the counts; batches
 * run outside it).
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
    private long joined;

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
        /** Its kind when it may be joined by (or join) others; null for a batch that always runs alone. */
        private final Batches<?, ?> kind;
        private final Object mergeKey;
        private final List<?> members;
        private final CompletableFuture<T> result = new CompletableFuture<>();
        private boolean started;

        private Ticket(Set<UUID> tenancies, String target, Supplier<T> body, Batches<?, ?> kind, Object mergeKey,
                List<?> members) {
            this.tenancies = tenancies;
            this.target = target;
            this.body = body;
            this.kind = kind;
            this.mergeKey = mergeKey;
            this.members = members;
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

    /**
     * A kind of batch whose waiting batches may run together (see the class comment): {@code body} runs the members
     * of every joined batch at once and returns one result per member.
     */
    public final class Batches<M, V> {
        private final Function<List<M>, Map<M, V>> body;
        private final Function<M, UUID> tenancyOf;
        private final int maxMembers;

        private Batches(Function<List<M>, Map<M, V>> body, Function<M, UUID> tenancyOf, int maxMembers) {
            this.body = body;
            this.tenancyOf = tenancyOf;
            this.maxMembers = Math.max(1, maxMembers);
        }

        /**
         * Queues {@code members} (no tenancy twice) on {@code target} (a database identity); only batches with an
         * equal {@code mergeKey} are joined. The ticket's result maps each of its own members to its result.
         */
        public Ticket<Map<M, V>> submit(String target, Object mergeKey, List<M> members) {
            Set<UUID> tenancies = new HashSet<>();
            members.forEach(m -> tenancies.add(tenancyOf.apply(m)));
            List<M> own = List.copyOf(members);
            Ticket<Map<M, V>> ticket = new Ticket<>(Set.copyOf(tenancies), target, () -> body.apply(own), this,
                    Objects.requireNonNull(mergeKey), own);
            return FairScheduler.this.submit(ticket);
        }

        /** Runs the joined batches as one and answers each ticket with its own members' results. */
        @SuppressWarnings("unchecked")
        private void runJoined(List<Ticket<?>> group) {
            List<M> all = new ArrayList<>();
            group.forEach(t -> all.addAll((List<M>) t.members));
            Map<M, V> results = body.apply(all);
            for (Ticket<?> t : group) {
                Map<M, V> own = new LinkedHashMap<>();
                ((List<M>) t.members).forEach(m -> own.put(m, results.get(m)));
                ((Ticket<Map<M, V>>) t).result.complete(own);
            }
        }
    }

    /** A kind of joinable batch, at most {@code maxMembers} members once joined; see {@link Batches}. */
    public <M, V> Batches<M, V> batches(Function<List<M>, Map<M, V>> body, Function<M, UUID> tenancyOf,
            int maxMembers) {
        return new Batches<>(body, tenancyOf, maxMembers);
    }

    /** Queues a batch of {@code tenancies} on {@code target} (a database identity) and starts what fits. */
    public <T> Ticket<T> submit(Set<UUID> tenancies, String target, Supplier<T> body) {
        return submit(new Ticket<>(Set.copyOf(tenancies), target, body, null, null, List.of()));
    }

    private <T> Ticket<T> submit(Ticket<T> ticket) {
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

    /** How many waiting batches have run joined to another one since the start. */
    public synchronized long joined() {
        return joined;
    }

    /** Running batches holding {@code tenancy}. */
    public synchronized int runningFor(UUID tenancy) {
        return perTenancy.getOrDefault(tenancy, 0);
    }

    private void dispatch() {
        while (true) {
            List<Ticket<?>> next = null;
            synchronized (this) {
                for (Iterator<Ticket<?>> it = pending.iterator(); running < parallelism && it.hasNext();) {
                    Ticket<?> t = it.next();
                    if (fits(t)) {
                        it.remove();
                        next = join(t);
                        next.forEach(joined -> joined.started = true);
                        take(next, 1);
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

    /**
     * {@code first} and the waiting batches that run with it: of its kind, with its merge key, none of whose
     * tenancies is in the group already or at its cap, while the group stays within the kind's member limit. Called
     * under the lock, with {@code first} already out of the queue.
     */
    private List<Ticket<?>> join(Ticket<?> first) {
        List<Ticket<?>> group = new ArrayList<>();
        group.add(first);
        if (first.kind == null) {
            return group;
        }
        Set<UUID> tenancies = new HashSet<>(first.tenancies);
        int members = first.members.size();
        for (Iterator<Ticket<?>> it = pending.iterator(); it.hasNext();) {
            Ticket<?> t = it.next();
            if (t.kind != first.kind || !t.mergeKey.equals(first.mergeKey)
                    || members + t.members.size() > first.kind.maxMembers
                    || t.tenancies.stream().anyMatch(u -> tenancies.contains(u)
                            || perTenancy.getOrDefault(u, 0) >= tenancyCap)) {
                continue;
            }
            it.remove();
            group.add(t);
            tenancies.addAll(t.tenancies);
            members += t.members.size();
            joined++;
        }
        return group;
    }

    private void start(List<Ticket<?>> group) {
        try {
            workers.execute(() -> {
                try {
                    if (group.size() == 1) {
                        complete(group.get(0));
                    } else {
                        group.get(0).kind.runJoined(group);
                    }
                } catch (RuntimeException | Error e) {
                    group.forEach(t -> t.result.completeExceptionally(e));
                } finally {
                    release(group);
                }
            });
        } catch (RejectedExecutionException e) {
            release(group);
            group.forEach(t -> t.result.completeExceptionally(e));
        }
    }

    private static <T> void complete(Ticket<T> ticket) {
        ticket.result.complete(ticket.body.get());
    }

    private void release(List<Ticket<?>> group) {
        synchronized (this) {
            take(group, -1);
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

    /** A group is one running batch: one worker, one batch on its target database, one for each tenancy. */
    private void take(List<Ticket<?>> group, int delta) {
        running += delta;
        perTarget.merge(group.get(0).target, delta, (a, b) -> a + b == 0 ? null : a + b);
        for (Ticket<?> t : group) {
            for (UUID tenancy : t.tenancies) {
                perTenancy.merge(tenancy, delta, (a, b) -> a + b == 0 ? null : a + b);
            }
        }
    }
}
