package dev.externaldbsync.e2e;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;

/**
 * Mixed writers (inserts, renames, email changes, deletes) over a set of tenancies, each thread on its own connection,
 * for a bounded time. Counts what it did; a failed statement (e.g. a racing delete) is counted, not hidden.
 */
final class WriteLoad {

    private final TestDatabase internal;
    private final List<Tenancy> tenancies;
    final AtomicLong writes = new AtomicLong();
    final AtomicLong conflicts = new AtomicLong();

    WriteLoad(TestDatabase internal, List<Tenancy> tenancies) {
        this.internal = internal;
        this.tenancies = List.copyOf(tenancies);
    }

    /** Runs {@code threads} writers for {@code duration}, at most {@code perSecondPerThread} writes each. */
    void run(int threads, Duration duration, int perSecondPerThread) throws InterruptedException {
        List<Thread> workers = new ArrayList<>();
        long deadline = System.nanoTime() + duration.toNanos();
        for (int i = 0; i < threads; i++) {
            Thread worker = new Thread(() -> work(deadline, perSecondPerThread), "writer-" + i);
            workers.add(worker);
            worker.start();
        }
        for (Thread worker : workers) {
            worker.join();
        }
    }

    private void work(long deadline, int perSecond) {
        long pause = 1_000_000_000L / perSecond;
        try (Connection c = internal.connect()) {
            long next = System.nanoTime();
            while (System.nanoTime() < deadline) {
                Tenancy tenancy = tenancies.get(ThreadLocalRandom.current().nextInt(tenancies.size()));
                try {
                    writeOnce(c, tenancy);
                    writes.incrementAndGet();
                } catch (SQLException e) {
                    conflicts.incrementAndGet();
                }
                next += pause;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    java.util.concurrent.locks.LockSupport.parkNanos(wait); // rate limit, not a synchronisation
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("writer lost its connection: " + e.getMessage(), e);
        }
    }

    private static void writeOnce(Connection c, Tenancy tenancy) throws SQLException {
        int op = ThreadLocalRandom.current().nextInt(10);
        if (op < 4) {
            UUID user = UUID.randomUUID();
            try (PreparedStatement ps = c.prepareStatement("""
                    WITH u AS (INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId",
                                   "mirroredBranchId", "updatedAt", "displayName")
                               VALUES (?, ?, ?, 'main', now(), 'load user') RETURNING "tenancyId", "projectUserId")
                    INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                        "isVerified", "value", "usedForAuth")
                    SELECT "tenancyId", "projectUserId", gen_random_uuid(), now(), 'EMAIL', 'TRUE', false,
                           "projectUserId"::text || '@load.example', 'TRUE' FROM u""")) {
                ps.setObject(1, tenancy.id());
                ps.setObject(2, user);
                ps.setString(3, tenancy.projectId());
                ps.executeUpdate();
            }
        } else if (op < 7) {
            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE "ProjectUser" SET "displayName" = 'renamed ' || floor(random() * 1e6), "updatedAt" = now()
                    WHERE ("tenancyId", "projectUserId") IN (SELECT "tenancyId", "projectUserId" FROM "ProjectUser"
                        WHERE "tenancyId" = ? ORDER BY random() LIMIT 1)""")) {
                ps.setObject(1, tenancy.id());
                ps.executeUpdate();
            }
        } else if (op < 9) {
            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE "ContactChannel" SET "isVerified" = NOT "isVerified", "updatedAt" = now()
                    WHERE ("tenancyId", "projectUserId", "id") IN (SELECT "tenancyId", "projectUserId", "id"
                        FROM "ContactChannel" WHERE "tenancyId" = ? ORDER BY random() LIMIT 1)""")) {
                ps.setObject(1, tenancy.id());
                ps.executeUpdate();
            }
        } else {
            try (PreparedStatement ps = c.prepareStatement("""
                    DELETE FROM "ProjectUser" WHERE ("tenancyId", "projectUserId") IN (SELECT "tenancyId", "projectUserId"
                        FROM "ProjectUser" WHERE "tenancyId" = ? ORDER BY random() LIMIT 1)""")) {
                ps.setObject(1, tenancy.id());
                ps.executeUpdate();
            }
        }
    }
}
