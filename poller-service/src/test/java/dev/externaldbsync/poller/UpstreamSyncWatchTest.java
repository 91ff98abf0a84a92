package dev.externaldbsync.poller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.contract.status.UpstreamSyncSighting;
import dev.externaldbsync.testing.UpstreamStackAuthDatabase;

/**
 * Stack Auth's in-app sync left running next to these services (issue 19): its enqueues (no tenancy column) and its
 * claims (no lease) are detected, shown in the status, and taken over so that no request is lost.
 */
class UpstreamSyncWatchTest {

    private static PollerHarness h;

    @BeforeAll
    static void setUp() throws Exception {
        h = new PollerHarness("poller_upstream_watch");
    }

    @AfterAll
    static void tearDown() {
        h.close();
    }

    @BeforeEach
    void empty() throws Exception {
        h.reset();
    }

    @Test
    void onlyOurOwnEnqueuesClaimsAndRetriesShowNoSighting() throws Exception {
        RequestQueue queue = h.queue();
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy, UUID.randomUUID());
        List<RequestQueue.Claim> claims = queue.claim("ours#1", 1, Duration.ofSeconds(30));
        queue.fail(List.of(new RequestQueue.Failure(claims.get(0), "engine said no")),
                new RequestQueue.Backoff(Duration.ofSeconds(1), Duration.ofSeconds(5), 0.5), 25);

        assertThat(queue.stats().upstreamSync()).isNull();
    }

    @Test
    void anEnqueueByUpstreamsSequencerIsReportedAndItsRequestTakenOver() throws Exception {
        RequestQueue queue = h.queue();
        UUID tenancy = UUID.randomUUID();
        UpstreamStackAuthDatabase.upstreamEnqueue(h.db, tenancy);

        UpstreamSyncSighting sighting = queue.stats().upstreamSync();

        assertThat(sighting).isNotNull();
        assertThat(sighting.foreignRequests()).isEqualTo(1);
        assertThat(sighting.foreignClaims()).isZero();
        assertThat(sighting.message()).contains("still running");
        assertThat(queue.claim("ours#1", 10, Duration.ofSeconds(30))).extracting(RequestQueue.Claim::tenancyId)
                .containsExactly(tenancy);
        // Counted once: the row is ours now, the sighting stays in the status.
        assertThat(queue.stats().upstreamSync().foreignRequests()).isEqualTo(1);
    }

    @Test
    void aClaimByUpstreamsPollerIsReportedAndMadeDueForOurs() throws Exception {
        RequestQueue queue = h.queue();
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        assertThat(UpstreamStackAuthDatabase.upstreamClaim(h.db, 10)).isEqualTo(1);
        assertThat(queue.claim("ours#1", 10, Duration.ofSeconds(30))).as("a claim without lease is never due").isEmpty();

        UpstreamSyncSighting sighting = queue.stats().upstreamSync();

        assertThat(sighting.foreignClaims()).isEqualTo(1);
        assertThat(queue.claim("ours#2", 10, Duration.ofSeconds(30))).extracting(RequestQueue.Claim::tenancyId)
                .containsExactly(tenancy);
    }

    @Test
    void aRunningPollerShowsTheSightingInItsStatusAndDeliversUpstreamsRequest() throws Exception {
        Poller poller = h.start(h.settings());
        UUID tenancy = UUID.randomUUID();
        UpstreamStackAuthDatabase.upstreamEnqueue(h.db, tenancy);
        h.db.execute("NOTIFY " + RequestQueue.CHANNEL);

        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            assertThat(poller.status().upstreamSync()).isNotNull();
            assertThat(h.queued()).isZero();
        });
        assertThat(poller.status().upstreamSync().lastSeenAt()).isNotNull();
    }
}
