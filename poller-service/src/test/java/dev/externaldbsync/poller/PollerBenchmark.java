package dev.externaldbsync.poller;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Poller figures on this machine: delivery rate to a no-op receiver with 1 and 2 replicas, enqueue→POST latency at a
 * steady enqueue rate, and heap with a million pending requests. Not a test (the name keeps it out of surefire): run
 * it by hand.
 * <pre>java -cp target/classes:target/test-classes:$(cat cp.txt) dev.externaldbsync.poller.PollerBenchmark [requests] [pendingForMemory]</pre>
 */
public final class PollerBenchmark {

    public static void main(String[] args) throws Exception {
        int requests = args.length > 0 ? Integer.parseInt(args[0]) : 50_000;
        int pendingForMemory = args.length > 1 ? Integer.parseInt(args[1]) : 1_000_000;
        String only = System.getProperty("only", "tp1,tp2,lat,mem");
        if (only.contains("probe")) {
            probe();
        }
        if (only.contains("tp1")) {
            throughput(requests, 1);
        }
        if (only.contains("tp2")) {
            throughput(requests, 2);
        }
        if (only.contains("lat")) {
            latency(1000, 100);
        }
        if (only.contains("mem")) {
            memory(pendingForMemory);
        }
        System.exit(0);
    }

    /** Production defaults (PollerConfig), pointed at the harness receiver. */
    private static PollerSettings defaults(PollerHarness h, String name) {
        return PollerSettings.defaults(h.receiver.baseUri(), name);
    }

    private static void throughput(int requests, int replicas) throws Exception {
        try (PollerHarness h = new PollerHarness("poller_bench_tp")) {
            enqueueMany(h, requests);
            long t0 = System.nanoTime();
            for (int i = 0; i < replicas; i++) {
                h.start(defaults(h, "bench-" + i));
            }
            while (h.queued() > 0) {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            long posts = h.receiver.requestCount();
            System.out.printf("throughput, %d replica(s): %,d requests in %.2f s = %,.0f requests/s (%,d POSTs = %,.0f"
                    + " POSTs/s, %d tenancies per POST at most; max concurrent per tenancy %d)%n", replicas, requests,
                    seconds, requests / seconds, posts, posts / seconds, 20, h.receiver.maxConcurrentPerTenancy());
        }
    }

    /** Where the time of one round goes: claim, complete, and one POST, each alone. */
    private static void probe() throws Exception {
        try (PollerHarness h = new PollerHarness("poller_bench_probe")) {
            enqueueMany(h, 20_000);
            RequestQueue queue = h.queue();
            long claimNanos = 0;
            long completeNanos = 0;
            for (int i = 0; i < 200; i++) {
                long t0 = System.nanoTime();
                List<RequestQueue.Claim> claims = queue.claim("probe#" + i, 20, Duration.ofSeconds(60));
                long t1 = System.nanoTime();
                queue.complete(claims);
                long t2 = System.nanoTime();
                claimNanos += t1 - t0;
                completeNanos += t2 - t1;
            }
            explain(h, "localtimestamp");
            try (java.sql.Connection c = h.dataSource.getConnection(); java.sql.Statement st = c.createStatement()) {
                long r0 = System.nanoTime();
                for (int i = 0; i < 200; i++) {
                    st.execute("SELECT 1");
                }
                System.out.printf("probe: one round trip (SELECT 1) %.2f ms (calibration)%n",
                        (System.nanoTime() - r0) / 200 / 1e6);
            }
            System.out.printf("probe: claim of 20 %.2f ms, complete of 20 %.2f ms (mean of 200)%n",
                    claimNanos / 200 / 1e6, completeNanos / 200 / 1e6);
            java.net.http.HttpClient client = java.net.http.HttpClient.newBuilder()
                    .version(java.net.http.HttpClient.Version.HTTP_1_1).build();
            dev.externaldbsync.contract.RequestSigner signer = new dev.externaldbsync.contract.RequestSigner(
                    SyncReceiver.SECRET, java.time.Clock.systemUTC(), Duration.ofMinutes(5));
            byte[] body = ("{\"tenancyIds\":[\"" + UUID.randomUUID() + "\"]}").getBytes();
            long p0 = System.nanoTime();
            for (int i = 0; i < 200; i++) {
                var sig = signer.sign(body);
                client.send(java.net.http.HttpRequest.newBuilder(h.settings().syncUri())
                        .header("X-Sync-Timestamp", sig.timestamp()).header("X-Sync-Signature", sig.signature())
                        .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                        java.net.http.HttpResponse.BodyHandlers.ofByteArray());
            }
            System.out.printf("probe: one POST to the receiver %.2f ms (mean of 200, sequential)%n",
                    (System.nanoTime() - p0) / 200 / 1e6);
        }
    }

    static void explain(PollerHarness h, String now) {
        for (String sql : List.of("""
                EXPLAIN (ANALYZE, BUFFERS) SELECT r."id" FROM "OutgoingRequest" r
                WHERE r."startedFulfillingAt" IS NULL AND r."parkedAt" IS NULL AND r."tenancyId" IS NOT NULL
                  AND NOT sync_tenancy_has_claim(r."tenancyId", NULL, '-infinity')
                ORDER BY r."createdAt", r."id" LIMIT 160 FOR UPDATE OF r SKIP LOCKED""", """
                EXPLAIN (ANALYZE, BUFFERS) SELECT r."id" FROM "OutgoingRequest" r
                WHERE r."startedFulfillingAt" IS NOT NULL AND r."parkedAt" IS NULL AND r."leaseExpiresAt" <= %1$s
                  AND r."tenancyId" IS NOT NULL
                  AND NOT sync_tenancy_has_claim(r."tenancyId", r."id", %1$s)
                ORDER BY r."leaseExpiresAt", r."createdAt" LIMIT 160 FOR UPDATE OF r SKIP LOCKED""".formatted(now))) {
            try (java.sql.Connection c = h.db.connect(); java.sql.Statement st = c.createStatement()) {
                c.setAutoCommit(false);
                st.execute(RequestQueue.CLAIM_SESSION_SETUP);
                try (java.sql.ResultSet rs = st.executeQuery(sql)) {
                    while (rs.next()) {
                        System.out.println("  plan: " + rs.getString(1));
                    }
                }
                c.rollback();
            } catch (java.sql.SQLException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private static void enqueueMany(PollerHarness h, int n) {
        for (int from = 0; from < n; from += 10_000) {
            UUID[] ids = new UUID[Math.min(10_000, n - from)];
            Arrays.setAll(ids, i -> UUID.randomUUID());
            h.enqueue(ids);
        }
    }

    /** Enqueues one tenancy at a time (its own transaction, like the sequencer's) at {@code perSecond}. */
    private static void latency(int samples, int perSecond) throws Exception {
        try (PollerHarness h = new PollerHarness("poller_bench_lat")) {
            Map<UUID, Long> arrived = new ConcurrentHashMap<>();
            h.receiver.script((n, request) -> {
                long now = System.nanoTime();
                request.tenancyIds().forEach(id -> arrived.putIfAbsent(id, now));
                return SyncReceiver.allSynced(request);
            });
            h.start(defaults(h, "bench-lat"));
            LockSupport.parkNanos(TimeUnit.SECONDS.toNanos(1));
            Map<UUID, Long> enqueued = new ConcurrentHashMap<>();
            long interval = TimeUnit.SECONDS.toNanos(1) / perSecond;
            long next = System.nanoTime();
            for (int i = 0; i < samples; i++) {
                UUID id = UUID.randomUUID();
                enqueued.put(id, System.nanoTime());
                h.enqueue(id);
                next += interval;
                LockSupport.parkNanos(Math.max(0, next - System.nanoTime()));
            }
            while (arrived.size() < samples) {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
            }
            List<Double> millis = new ArrayList<>();
            enqueued.forEach((id, t) -> millis.add((arrived.get(id) - t) / 1e6));
            millis.sort(Double::compare);
            System.out.printf("enqueue→POST latency at %d enqueues/s (%d samples, 1 replica): p50 %.1f ms, p99 %.1f ms,"
                    + " max %.1f ms%n", perSecond, samples, pct(millis, 0.50), pct(millis, 0.99),
                    millis.get(millis.size() - 1));
        }
    }

    private static double pct(List<Double> sorted, double p) {
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p * sorted.size()) - 1));
    }

    private static void memory(int pending) throws Exception {
        try (PollerHarness h = new PollerHarness("poller_bench_mem")) {
            long t0 = System.nanoTime();
            h.db.execute("""
                    INSERT INTO "OutgoingRequest" ("id", "createdAt", "deduplicationKey", "qstashOptions", "tenancyId")
                    SELECT gen_random_uuid(), now(), 'sentinel-sync-key-' || t,
                           jsonb_build_object('url', '/api/v1/sync', 'body', jsonb_build_object('tenancyId', t)), t
                    FROM (SELECT gen_random_uuid() AS t FROM generate_series(1, %d)) s""".formatted(pending),
                    "VACUUM ANALYZE \"OutgoingRequest\"");
            System.out.printf("memory: %,d pending requests inserted in %.1f s%n", pending,
                    (System.nanoTime() - t0) / 1e9);
            RequestQueue queue = h.queue();
            explain(h, "localtimestamp");
            long s0 = System.nanoTime();
            RequestQueue.Stats stats = queue.stats();
            System.out.printf("memory: stats() over %,d pending took %.0f ms%n", stats.pending(),
                    (System.nanoTime() - s0) / 1e6);
            long heapBefore = heapAfterGc();
            // A slow engine (50 ms per POST): the backlog must stay in the database.
            h.receiver.script((n, request) -> {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
                return SyncReceiver.allSynced(request);
            });
            Poller poller = h.start(defaults(h, "bench-mem"));
            long maxHeap = 0;
            for (int i = 0; i < 10; i++) {
                LockSupport.parkNanos(TimeUnit.SECONDS.toNanos(2));
                maxHeap = Math.max(maxHeap, heapAfterGc());
            }
            poller.stop();
            // 100,000 requests backing off (an engine that was down), then claims at a million rows.
            h.db.execute("""
                    UPDATE "OutgoingRequest" SET "startedFulfillingAt" = now(), "attemptCount" = 1,
                           "nextAttemptAt" = now() + interval '1 hour', "leaseExpiresAt" = now() + interval '1 hour'
                    WHERE "id" IN (SELECT "id" FROM "OutgoingRequest" WHERE "startedFulfillingAt" IS NULL
                                   ORDER BY "createdAt", "id" LIMIT 100000)""",
                    """
                    UPDATE "OutgoingRequest" SET "leaseExpiresAt" = now() - interval '1 second'
                    WHERE "id" IN (SELECT "id" FROM "OutgoingRequest" WHERE "startedFulfillingAt" IS NOT NULL
                                   ORDER BY "id" LIMIT 1000)""");
            explain(h, "localtimestamp");
            List<RequestQueue.Claim> claims = List.of();
            long c0 = System.nanoTime();
            for (int i = 0; i < 20; i++) {
                claims = queue.claim("bench-probe#" + i, 160, Duration.ofHours(1));
            }
            double claimMs = (System.nanoTime() - c0) / 20 / 1e6;
            System.out.printf("memory: heap used after GC %.1f MB before the poller, at most %.1f MB while it worked"
                    + " 20 s through a backlog of %,d (%,d delivered; %s); one claim of %d rows took %.1f ms (mean of 20, with 99,000 more rows backing off and 1,000 due)%n",
                    heapBefore / 1e6, maxHeap / 1e6, pending, pending - h.queued(),
                    poller.status().pending() + " pending in status", claims.size(), claimMs);
            System.out.println("memory: " + ManagementFactory.getMemoryMXBean().getHeapMemoryUsage());
            System.out.println("note: the heap includes the receiver and the harness, which run in the same JVM");
        }
    }

    private static long heapAfterGc() {
        System.gc();
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
