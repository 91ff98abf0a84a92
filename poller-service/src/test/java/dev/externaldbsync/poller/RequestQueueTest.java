package dev.externaldbsync.poller;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;


/** The queue's claim rules and state changes, driven by a controllable clock. */
class RequestQueueTest {

    private static PollerHarness h;
    private final MutableClock clock = new MutableClock(Instant.now());
    private RequestQueue queue;

    private static final RequestQueue.Backoff BACKOFF =
            new RequestQueue.Backoff(Duration.ofSeconds(1), Duration.ofSeconds(60), 0.5);

    @BeforeAll
    static void setUp() throws Exception {
        h = new PollerHarness("poller_queue");
    }

    @AfterAll
    static void tearDown() {
        h.close();
    }

    @BeforeEach
    void empty() {
        h.db.execute("DELETE FROM \"OutgoingRequest\"");
        queue = new RequestQueue(h.dataSource, clock);
    }

    @Test
    void claimsOldestFirstAndOnlyUpToTheLimit() throws Exception {
        UUID first = UUID.randomUUID();
        UUID second = UUID.randomUUID();
        UUID third = UUID.randomUUID();
        h.enqueue(first);
        h.enqueue(second);
        h.enqueue(third);
        List<RequestQueue.Claim> claims = queue.claim("a#1", 2, Duration.ofSeconds(10));
        assertThat(claims).extracting(RequestQueue.Claim::tenancyId).containsExactly(first, second);
        assertThat(queue.claim("b#1", 10, Duration.ofSeconds(10))).extracting(RequestQueue.Claim::tenancyId)
                .containsExactly(third);
        assertThat(queue.claim("c#1", 10, Duration.ofSeconds(10))).isEmpty();
        assertThat(h.db.queryValue("SELECT \"claimedBy\" FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", first))
                .isEqualTo("a#1");
    }

    @Test
    void aClaimAfterABurstReadsTheQueueOnlyByIndexThoughItsPlansWereMadeWhenTheQueueWasTiny() throws Exception {
        h.enqueue(UUID.randomUUID(), UUID.randomUUID(), UUID.randomUUID());
        h.db.execute("ANALYZE \"OutgoingRequest\"");
        try (Connection c = h.dataSource.getConnection()) {
            c.setAutoCommit(false);
            for (int round = 0; round < 8; round++) { // past the point where the plans are cached as generic
                assertThat(claimAndRollBack(c, 10)[0]).as("round %d", round).isEqualTo(3);
            }
            // The burst that autovacuum has not analyzed yet: 2,000 tenancies with a claim in flight and a pending
            // request each (every one a candidate the claim must look up and skip), then 2,000 free ones.
            h.db.execute("""
                    INSERT INTO "OutgoingRequest" ("id", "createdAt", "deduplicationKey", "qstashOptions", "tenancyId",
                                                   "startedFulfillingAt", "claimedBy", "leaseExpiresAt")
                    SELECT gen_random_uuid(), now() - interval '2 hours', NULL, '{}'::jsonb, md5('busy' || n)::uuid,
                           now() - interval '1 hour', 'other#1', now() + interval '1 hour'
                    FROM generate_series(1, 2000) AS n
                    UNION ALL
                    SELECT gen_random_uuid(), now() - interval '30 minutes', 'sentinel-sync-key-' || n, '{}',
                           md5('busy' || n)::uuid, NULL, NULL, NULL
                    FROM generate_series(1, 2000) AS n
                    UNION ALL
                    SELECT gen_random_uuid(), now() - interval '10 minutes', 'sentinel-sync-key-free-' || n, '{}',
                           md5('free' || n)::uuid, NULL, NULL, NULL
                    FROM generate_series(1, 2000) AS n""");
            long[] claimedAndSeqScans = claimAndRollBack(c, 50);
            assertThat(claimedAndSeqScans[0]).isEqualTo(50);
            assertThat(claimedAndSeqScans[1]).as("sequential scans of the queue in the claim").isZero();
        }
    }

    /** One claim of up to {@code limit} on {@code c}, rolled back: how many it chose and how many seq scans it ran. */
    private long[] claimAndRollBack(Connection c, int limit) throws SQLException {
        try {
            try (Statement st = c.createStatement()) {
                st.execute(RequestQueue.CLAIM_SESSION_SETUP);
            }
            long seqScansBefore = queueSeqScans(c);
            long chosen = 0;
            try (PreparedStatement ps = c.prepareStatement(RequestQueue.CLAIM)) {
                RequestQueue.bindClaim(ps, clock.instant(), "test#1", limit, Duration.ofSeconds(10));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        chosen += rs.getObject(1) == null ? 0 : 1;
                    }
                }
            }
            return new long[] {chosen, queueSeqScans(c) - seqScansBefore};
        } finally {
            c.rollback();
        }
    }

    /** The backend's sequential scans of the queue not yet flushed to the cumulative statistics (so: a delta). */
    private static long queueSeqScans(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("""
                SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'OutgoingRequest'""")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void pendingRequestWaitsWhileItsTenancyHasAClaimedOneEvenWhenThatOneIsBackingOff() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        RequestQueue.Claim claim = queue.claim("a#1", 10, Duration.ofSeconds(10)).get(0);
        h.enqueue(tenancy);
        assertThat(queue.claim("b#1", 10, Duration.ofSeconds(10))).isEmpty();

        assertThat(queue.fail(List.of(new RequestQueue.Failure(claim, "boom")), BACKOFF, 5).backingOff()).isEqualTo(1);
        assertThat(queue.claim("b#2", 10, Duration.ofSeconds(10))).as("still backing off").isEmpty();

        clock.advance(Duration.ofSeconds(2)); // past the first delay (0.5..1 s)
        List<RequestQueue.Claim> retry = queue.claim("b#3", 10, Duration.ofSeconds(10));
        assertThat(retry).extracting(RequestQueue.Claim::id).containsExactly(claim.id());
        assertThat(retry.get(0).attemptCount()).isEqualTo(1);

        assertThat(queue.complete(retry)).isEqualTo(1);
        List<RequestQueue.Claim> next = queue.claim("b#4", 10, Duration.ofSeconds(10));
        assertThat(next).hasSize(1);
        assertThat(next.get(0).id()).isNotEqualTo(claim.id());
        assertThat(next.get(0).tenancyId()).isEqualTo(tenancy);
    }

    @Test
    void completeDeletesByRequestIdSoANewerPendingRequestOfTheTenancySurvives() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        List<RequestQueue.Claim> claims = queue.claim("a#1", 10, Duration.ofSeconds(10));
        h.enqueue(tenancy);
        assertThat(queue.complete(claims)).isEqualTo(1);
        assertThat(h.db.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ? AND "startedFulfillingAt" IS NULL""",
                tenancy)).isEqualTo(1);
    }

    @Test
    void completeLeavesARequestWhoseClaimACrashUndidForTheStampsEnqueuedOnItSince() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        List<RequestQueue.Claim> claims = queue.claim("a#1", 10, Duration.ofSeconds(10));
        // What crash recovery leaves of a claim whose commit was not flushed: the row as it was enqueued.
        h.db.execute("""
                UPDATE "OutgoingRequest" SET "startedFulfillingAt" = NULL, "claimedBy" = NULL,
                    "leaseExpiresAt" = NULL, "nextAttemptAt" = NULL""");
        assertThat(h.enqueue(tenancy)).as("the next stamps' enqueue lands on the same row").isEqualTo(1);
        assertThat(h.queued()).isEqualTo(1);

        assertThat(queue.complete(claims)).isZero();
        List<RequestQueue.Claim> again = queue.claim("b#1", 10, Duration.ofSeconds(10));
        assertThat(again).extracting(RequestQueue.Claim::id).containsExactly(claims.get(0).id());
        assertThat(queue.complete(claims)).as("the old delivery answers after the new claim").isZero();
        assertThat(queue.fail(List.of(new RequestQueue.Failure(again.get(0), "HTTP 503")), BACKOFF, 5).backingOff())
                .as("the new claim still holds the row").isEqualTo(1);
    }

    @Test
    void aDeliveryWhoseLeaseWasTakenOverLeavesTheRowToTheNewOwner() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        List<RequestQueue.Claim> old = queue.claim("slow#1", 10, Duration.ofSeconds(5));
        clock.advance(Duration.ofSeconds(6));
        List<RequestQueue.Claim> taken = queue.claim("b#1", 10, Duration.ofSeconds(5));
        assertThat(taken).extracting(RequestQueue.Claim::id).containsExactly(old.get(0).id());

        assertThat(queue.complete(old)).isZero();
        assertThat(queue.complete(taken)).isEqualTo(1);
        assertThat(h.queued()).isZero();
    }

    @Test
    void expiredLeaseIsReclaimedAndTheOldOwnerCanNoLongerTouchTheRow() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        RequestQueue.Claim old = queue.claim("dead#1", 10, Duration.ofSeconds(5)).get(0);
        assertThat(queue.claim("b#1", 10, Duration.ofSeconds(5))).isEmpty();
        clock.advance(Duration.ofSeconds(6));
        RequestQueue.Claim taken = queue.claim("b#2", 10, Duration.ofSeconds(5)).get(0);
        assertThat(taken.id()).isEqualTo(old.id());

        assertThat(queue.fail(List.of(new RequestQueue.Failure(old, "late")), BACKOFF, 5).backingOff()).isEqualTo(1);
        assertThat(queue.extendLeases(List.of("dead#1"), Duration.ofMinutes(5))).isZero();
        assertThat(h.db.queryRows("""
                SELECT "claimedBy", "attemptCount" FROM "OutgoingRequest" WHERE "id" = ?""", old.id()).get(0))
                .containsExactly("b#2", 0);
    }

    @Test
    void requeuedParkedRequestWaitsBehindALiveClaimOfItsTenancy() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        RequestQueue.Claim parked = queue.claim("a#1", 10, Duration.ofSeconds(10)).get(0);
        assertThat(queue.park(List.of(parked), "HTTP 400")).isEqualTo(1);
        assertThat(queue.stats().parked()).isEqualTo(1);
        assertThat(queue.parked(null, 10)).extracting(RequestQueue.ParkedRequest::id).containsExactly(parked.id());

        h.enqueue(tenancy); // a parked request does not block newer ones
        RequestQueue.Claim live = queue.claim("a#2", 10, Duration.ofSeconds(10)).get(0);
        assertThat(live.id()).isNotEqualTo(parked.id());

        assertThat(queue.requeueAllParked()).isEqualTo(1);
        assertThat(queue.claim("a#3", 10, Duration.ofSeconds(10))).as("live claim of the tenancy").isEmpty();
        queue.complete(List.of(live));
        List<RequestQueue.Claim> again = queue.claim("a#4", 10, Duration.ofSeconds(10));
        assertThat(again).extracting(RequestQueue.Claim::id).containsExactly(parked.id());
        assertThat(again.get(0).attemptCount()).isZero();
    }

    @Test
    void failureAtMaxAttemptsParksAndStatsCountEachState() throws Exception {
        UUID a = UUID.randomUUID();
        UUID b = UUID.randomUUID();
        UUID c = UUID.randomUUID();
        h.enqueue(a, b, c);
        List<RequestQueue.Claim> claims = queue.claim("x#1", 2, Duration.ofSeconds(10));
        RequestQueue.FailResult result = queue.fail(List.of(new RequestQueue.Failure(claims.get(0), "e1")),
                BACKOFF, 1);
        assertThat(result.parked()).isEqualTo(1);
        RequestQueue.Stats stats = queue.stats();
        assertThat(stats.pending()).isEqualTo(1);
        assertThat(stats.inFlight()).isEqualTo(1);
        assertThat(stats.parked()).isEqualTo(1);
        assertThat(stats.oldestPendingCreatedAt()).isNotNull();
        assertThat(queue.release(List.of("x#1"))).isEqualTo(1);
        assertThat(queue.stats().inFlight()).isZero();
    }

    @Test
    void backoffGrowsUntilTheCapAndStaysWithinItsJitterRange() {
        for (int run = 0; run < 200; run++) {
            long previous = 0;
            for (int attempt = 1; attempt <= 10; attempt++) {
                long delay = BACKOFF.delay(attempt).toMillis();
                long cap = Math.min(60_000, 1000L << (attempt - 1));
                assertThat(delay).isBetween(cap / 2, cap);
                if (cap < 60_000) {
                    assertThat(delay).isGreaterThanOrEqualTo(previous);
                }
                previous = delay;
            }
        }
    }

    /** A clock tests move by hand. */
    static final class MutableClock extends Clock {
        private final AtomicReference<Instant> now;

        MutableClock(Instant start) {
            now = new AtomicReference<>(start);
        }

        void advance(Duration d) {
            now.updateAndGet(i -> i.plus(d));
        }

        @Override
        public Instant instant() {
            return now.get();
        }

        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }
    }

}
