package dev.externaldbsync.poller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every queue write that waits for row locks takes them in request-id order, so that a heartbeat and a completion
 * (or any two of these writes) over overlapping requests can never deadlock. Each test holds the lock of the
 * highest request id, starts the write, and checks that the write already holds the lowest one while it waits.
 * The highest row is inserted first, so a write that followed the physical order would wait without holding
 * anything.
 */
class RequestLockOrderTest {

    /** Lowest and highest in PostgreSQL's uuid order; Java's signed {@link UUID#compareTo} orders them the other way. */
    private static final UUID LOW = UUID.fromString("00000000-0000-4000-8000-000000000001");
    private static final UUID HIGH = UUID.fromString("ffffffff-ffff-4fff-bfff-ffffffffffff");
    private static final String TOKEN = "lock-order#1";
    private static final Duration DEADLINE = Duration.ofSeconds(30);

    private static PollerHarness h;
    private static ExecutorService writer;
    private final RequestQueue queue = new RequestQueue(h.dataSource, Clock.systemUTC());

    @BeforeAll
    static void setUp() throws Exception {
        h = new PollerHarness("poller_lock_order");
        writer = Executors.newSingleThreadExecutor();
    }

    @AfterAll
    static void tearDown() {
        writer.shutdownNow();
        h.close();
    }

    @BeforeEach
    void twoClaimedRequestsHighestFirst() {
        h.db.execute("DELETE FROM \"OutgoingRequest\"");
        for (UUID id : List.of(HIGH, LOW)) {
            h.db.update("""
                    INSERT INTO "OutgoingRequest" ("id", "createdAt", "deduplicationKey", "qstashOptions", "tenancyId",
                                                   "startedFulfillingAt", "claimedBy", "leaseExpiresAt")
                    VALUES (?, now() AT TIME ZONE 'UTC', NULL, '{}', ?, now() AT TIME ZONE 'UTC', ?,
                            now() AT TIME ZONE 'UTC' + interval '1 hour')""", id, UUID.randomUUID(), TOKEN);
        }
    }

    @Test
    void aCompletionLocksTheLowerIdBeforeItWaitsForTheHigher() throws Exception {
        assertThat(whileHighIsLocked(() -> queue.complete(claims()))).isEqualTo(2);
        assertThat(h.queued()).isZero();
    }

    @Test
    void aHeartbeatLocksTheLowerIdBeforeItWaitsForTheHigher() throws Exception {
        assertThat(whileHighIsLocked(() -> queue.extendLeases(List.of(TOKEN), Duration.ofHours(2)))).isEqualTo(2);
    }

    @Test
    void aReleaseLocksTheLowerIdBeforeItWaitsForTheHigher() throws Exception {
        assertThat(whileHighIsLocked(() -> queue.release(List.of(TOKEN)))).isEqualTo(2);
    }

    @Test
    void parkingLocksTheLowerIdBeforeItWaitsForTheHigher() throws Exception {
        assertThat(whileHighIsLocked(() -> queue.park(claims(), "HTTP 400"))).isEqualTo(2);
    }

    @Test
    void recordingFailuresLocksTheLowerIdBeforeItWaitsForTheHigher() throws Exception {
        List<RequestQueue.Failure> failures = claims().stream().map(c -> new RequestQueue.Failure(c, "boom")).toList();
        RequestQueue.Backoff backoff = new RequestQueue.Backoff(Duration.ofSeconds(1), Duration.ofSeconds(1), 0);
        assertThat(whileHighIsLocked(() -> queue.fail(failures, backoff, 5).backingOff())).isEqualTo(2);
    }

    @Test
    void requeueingEveryParkedRequestLocksTheLowerIdBeforeItWaitsForTheHigher() throws Exception {
        assertThat(queue.park(claims(), "HTTP 400")).isEqualTo(2);
        assertThat(whileHighIsLocked(queue::requeueAllParked)).isEqualTo(2L);
    }

    @Test
    void postgresUuidOrderIsUnsignedByteOrder() throws Exception {
        assertThat(RequestQueue.compareAsPostgres(LOW, HIGH)).isNegative();
        assertThat(LOW.compareTo(HIGH)).as("Java's own order disagrees").isPositive();
        assertThat(h.db.queryValue("SELECT ?::uuid < ?::uuid", LOW, HIGH)).isEqualTo(true);
    }

    /** Our claims of both rows, in the order that a physical scan would meet them (highest first). */
    private static List<RequestQueue.Claim> claims() {
        return List.of(HIGH, LOW).stream()
                .map(id -> new RequestQueue.Claim(id, null, Instant.now(), 0, TOKEN)).toList();
    }

    /**
     * Holds HIGH's row lock in another transaction, runs {@code write} until it waits for that lock, checks that LOW
     * is locked by then, lets the write finish and returns its result.
     */
    private <T> T whileHighIsLocked(Callable<T> write) throws Exception {
        Future<T> result;
        try (Connection holder = h.dataSource.getConnection()) {
            holder.setAutoCommit(false);
            lock(holder, HIGH, "");
            result = writer.submit(write);
            await().atMost(DEADLINE).until(() -> result.isDone() || sessionsWaitingForALock() > 0);
            assertThat(result).as("the write waits for the row held here").isNotDone();
            assertThatThrownBy(() -> lock(holder, LOW, " NOWAIT"))
                    .as("the write holds the lower id while it waits for the higher")
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("55P03"));
            holder.rollback();
        }
        return result.get(DEADLINE.toSeconds(), TimeUnit.SECONDS);
    }

    private static void lock(Connection c, UUID id, String mode) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT 1 FROM \"OutgoingRequest\" WHERE \"id\" = ? FOR UPDATE" + mode)) {
            ps.setObject(1, id);
            ps.executeQuery().close();
        }
    }

    private static long sessionsWaitingForALock() {
        return h.db.queryLong("""
                SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()""");
    }
}
