package dev.externaldbsync.poller;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.RoundTrips;

/** What claims and outcomes cost on the wire, and which of them may commit without waiting for the WAL flush. */
class ClaimRoundTripTest {

    private static final String ASYNC_COMMIT = "set_config('synchronous_commit', 'off', true)";
    private static final RequestQueue.Backoff BACKOFF =
            new RequestQueue.Backoff(Duration.ofSeconds(1), Duration.ofSeconds(60), 0.5);

    private static PollerHarness h;
    private RoundTrips roundTrips;
    private RequestQueue queue;

    @BeforeAll
    static void setUp() throws Exception {
        h = new PollerHarness("poller_roundtrips");
    }

    @AfterAll
    static void tearDown() {
        h.close();
    }

    @BeforeEach
    void emptyQueue() {
        h.db.execute("DELETE FROM \"OutgoingRequest\"");
        roundTrips = RoundTrips.over(h.dataSource);
        queue = new RequestQueue(roundTrips.dataSource(), Clock.systemUTC());
    }

    @Test
    void aClaimIsOneRoundTripAndWhatItClaimedIsCommittedWhenItReturns() throws Exception {
        UUID a = UUID.randomUUID();
        UUID b = UUID.randomUUID();
        h.enqueue(a);
        h.enqueue(b);

        List<RequestQueue.Claim> claims = queue.claim("rt#1", 10, Duration.ofSeconds(30));

        assertThat(roundTrips.sent()).hasSize(1);
        assertThat(claims).extracting(RequestQueue.Claim::tenancyId).containsExactly(a, b);
        // Read on another connection: committed, not merely done.
        assertThat(h.db.queryLong("SELECT count(*) FROM \"OutgoingRequest\" WHERE \"claimedBy\" = 'rt#1'"))
                .isEqualTo(2);
    }

    @Test
    void anEmptyClaimIsOneRoundTripToo() throws Exception {
        assertThat(queue.claim("rt#1", 10, Duration.ofSeconds(30))).isEmpty();
        assertThat(roundTrips.sent()).hasSize(1);
    }

    @Test
    void aClaimThatTakesLessThanItsLimitSaysInTheSameRoundTripWhenTheNextClaimedRowFallsDue() throws Exception {
        h.enqueue(UUID.randomUUID());

        RequestQueue.Claimed first = queue.claimAndLookAhead("rt#1", 10, Duration.ofSeconds(30));

        assertThat(roundTrips.sent()).hasSize(1);
        assertThat(first.claims()).hasSize(1);
        assertThat(first.nextDueAt()).as("the lease just given").isEqualTo(queue.nextDueAt()).isNotNull();

        queue.fail(List.of(new RequestQueue.Failure(first.claims().get(0), "boom")), BACKOFF, 25);
        roundTrips.reset();
        RequestQueue.Claimed second = queue.claimAndLookAhead("rt#2", 10, Duration.ofSeconds(30));

        assertThat(roundTrips.sent()).hasSize(1);
        assertThat(second.claims()).isEmpty();
        assertThat(second.nextDueAt()).as("the backing-off row's retry").isEqualTo(queue.nextDueAt())
                .isNotEqualTo(first.nextDueAt());
    }

    @Test
    void aClaimThatTakesItsLimitDoesNotLookAhead() throws Exception {
        h.enqueue(UUID.randomUUID());
        h.enqueue(UUID.randomUUID());

        RequestQueue.Claimed claimed = queue.claimAndLookAhead("rt#1", 2, Duration.ofSeconds(30));

        assertThat(claimed.claims()).hasSize(2);
        assertThat(claimed.nextDueAt()).isNull();
    }

    @Test
    void onlyClaimsAndCompletionsCommitWithoutWaitingForTheWalFlush() throws Exception {
        for (int i = 0; i < 4; i++) {
            h.enqueue(UUID.randomUUID());
        }
        List<RequestQueue.Claim> claims = queue.claim("rt#1", 10, Duration.ofSeconds(30));
        assertThat(roundTrips.sent()).singleElement().asString().contains(ASYNC_COMMIT);

        roundTrips.reset();
        assertThat(queue.complete(List.of(claims.get(0)))).isEqualTo(1);
        assertThat(roundTrips.sent()).singleElement().asString().contains(ASYNC_COMMIT);

        // A lost failure, park or release would lose attempts or errors: these keep the database's setting.
        roundTrips.reset();
        queue.fail(List.of(new RequestQueue.Failure(claims.get(1), "boom")), BACKOFF, 25);
        queue.park(List.of(claims.get(2)), "poison");
        queue.retryLater(List.of(new RequestQueue.Deferral(claims.get(3), "slow", Duration.ofSeconds(1))));
        queue.extendLeases(List.of("rt#1"), Duration.ofSeconds(30));
        queue.release(List.of("rt#1"));
        assertThat(roundTrips.sent()).isNotEmpty().noneMatch(sql -> sql.contains("synchronous_commit"));
    }

    @Test
    void theClaimsSettingIsLocalToItsImplicitTransaction() throws Exception {
        try (Connection c = h.dataSource.getConnection(); Statement s = c.createStatement()) {
            c.setAutoCommit(true);
            // The test server's default is off (speed); the production default is on.
            s.execute("SET synchronous_commit = on");
            try (PreparedStatement ps = c.prepareStatement(
                    RequestQueue.CLAIM_SESSION_SETUP + ";\nSELECT current_setting('synchronous_commit')")) {
                ps.execute();
                assertThat(ps.getMoreResults()).isTrue();
                try (ResultSet rs = ps.getResultSet()) {
                    rs.next();
                    assertThat(rs.getString(1)).as("inside the claim's transaction").isEqualTo("off");
                }
            }
            try (ResultSet rs = s.executeQuery("SHOW synchronous_commit")) {
                rs.next();
                assertThat(rs.getString(1)).as("after it, on the same connection").isEqualTo("on");
            }
            s.execute("RESET synchronous_commit");
        }
    }
}
