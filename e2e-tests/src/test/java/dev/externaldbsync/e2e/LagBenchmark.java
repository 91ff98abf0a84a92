package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;

/**
 * End-to-end lag: commit of a change in the internal database → the change visible in the target, through the three
 * packaged services, at a steady rate. Prints percentiles; not part of the build
 * ({@code ./mvnw verify -pl e2e-tests -Dtest=LagBenchmark -Dlag.rate=200 -Dlag.seconds=30}).
 */
class LagBenchmark {

    @Test
    void lagAtASteadyRate() throws Exception {
        int rate = Integer.getInteger("lag.rate", 200);
        int seconds = Integer.getInteger("lag.seconds", 30);
        int tenancyCount = Integer.getInteger("lag.tenancies", 20);
        try (Pipeline pipeline = Pipeline.start(1, 1, 1)) {
            TestDatabase target = pipeline.newExternal();
            List<Tenancy> tenancies = new ArrayList<>();
            List<UUID> users = new ArrayList<>();
            for (int i = 0; i < tenancyCount; i++) {
                Tenancy tenancy = pipeline.fixtures.createTenancy();
                pipeline.fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
                for (int u = 0; u < 10; u++) {
                    users.add(pipeline.fixtures.createUser(tenancy, "lag user", null));
                }
                tenancies.add(tenancy);
            }
            pipeline.awaitQuiescent(Duration.ofMinutes(1));

            Map<String, Long> committedAt = new ConcurrentHashMap<>();
            List<Long> lagsNanos = java.util.Collections.synchronizedList(new ArrayList<>());
            Thread watcher = new Thread(() -> watch(target, committedAt, lagsNanos), "lag-watcher");
            watcher.setDaemon(true);
            watcher.start();

            long interval = 1_000_000_000L / rate;
            long next = System.nanoTime();
            int changes = rate * seconds;
            try (Connection writer = pipeline.internal.connect();
                    PreparedStatement update = writer.prepareStatement(
                            "UPDATE \"ProjectUser\" SET \"displayName\" = ?, \"updatedAt\" = now() WHERE \"projectUserId\" = ?")) {
                for (int i = 0; i < changes; i++) {
                    String token = "lag-" + i;
                    update.setString(1, token);
                    update.setObject(2, users.get(i % users.size()));
                    update.executeUpdate(); // autocommit: the commit has happened when this returns
                    committedAt.put(token, System.nanoTime());
                    next += interval;
                    LockSupport.parkNanos(Math.max(0, next - System.nanoTime()));
                }
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (!committedAt.isEmpty() && System.nanoTime() < deadline) {
                LockSupport.parkNanos(Duration.ofMillis(50).toNanos());
            }
            long[] lags;
            synchronized (lagsNanos) {
                lags = lagsNanos.stream().mapToLong(Long::longValue).sorted().toArray();
            }
            // Changes overwritten by a later change of the same user before they were seen never become visible.
            System.out.printf("lag at %d changes/s over %d s, %d tenancies: %d changes seen, %d overwritten before seen%n",
                    rate, seconds, tenancyCount, lags.length, committedAt.size());
            System.out.printf("lag_ms_p50=%.1f lag_ms_p95=%.1f lag_ms_p99=%.1f lag_ms_max=%.1f%n", pct(lags, 50),
                    pct(lags, 95), pct(lags, 99), lags[lags.length - 1] / 1e6);
            assertThat(lags.length).isGreaterThan(changes / 2);
        }
    }

    /** Polls the target every 2 ms for the tokens it has not seen yet; records commit → visible. */
    private static void watch(TestDatabase target, Map<String, Long> committedAt, List<Long> lags) {
        try (Connection c = target.connect();
                PreparedStatement ps = c.prepareStatement("SELECT display_name FROM users WHERE display_name = ANY(?)")) {
            while (true) {
                if (!committedAt.isEmpty() && Oracle.tableExists(target, "users")) {
                    ps.setArray(1, c.createArrayOf("text", committedAt.keySet().toArray()));
                    try (ResultSet rs = ps.executeQuery()) {
                        long seenAt = System.nanoTime(); // the end of the query that saw it: an upper bound
                        while (rs.next()) {
                            Long committed = committedAt.remove(rs.getString(1));
                            if (committed != null) {
                                lags.add(Math.max(0, seenAt - committed));
                            }
                        }
                    }
                }
                LockSupport.parkNanos(Duration.ofMillis(2).toNanos());
            }
        } catch (Exception e) {
            throw new IllegalStateException("lag watcher failed", e);
        }
    }

    private static double pct(long[] sorted, int p) {
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p / 100.0 * sorted.length) - 1)] / 1e6;
    }
}
