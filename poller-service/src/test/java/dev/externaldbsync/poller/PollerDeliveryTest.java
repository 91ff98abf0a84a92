package dev.externaldbsync.poller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

import org.jboss.logmanager.ExtLogRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.contract.Outcome;
import dev.externaldbsync.contract.RequestSigner;
import dev.externaldbsync.contract.SyncResponse;
import dev.externaldbsync.contract.TargetResult;
import dev.externaldbsync.contract.TenancyResult;
import dev.externaldbsync.testing.UpstreamStackAuthDatabase;

/** Delivery, retries, parking, leases and shutdown of real poller replicas against a real receiver and Postgres. */
class PollerDeliveryTest {

    private static PollerHarness h;

    @BeforeAll
    static void setUp() throws Exception {
        h = new PollerHarness("poller_delivery");
    }

    @AfterEach
    void reset() throws Exception {
        h.reset();
    }

    @AfterAll
    static void tearDown() {
        h.close();
    }

    @Test
    void pendingRequestIsDeliveredWithAValidSignatureAndDeleted() {
        UUID tenancy = UUID.randomUUID();
        assertThat(h.enqueue(tenancy)).isEqualTo(1);
        Poller poller = h.start(h.settings());

        await().atMost(Duration.ofSeconds(10)).until(() -> h.queued() == 0);
        List<SyncReceiver.Delivery> deliveries = h.receiver.deliveries();
        assertThat(deliveries).hasSize(1);
        assertThat(deliveries.get(0).verification()).isEqualTo(RequestSigner.Verification.VALID);
        assertThat(deliveries.get(0).tenancyIds()).containsExactly(tenancy);
        assertThat(deliveries.get(0).status()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(5)).until(() -> poller.status().deliveriesPerSecond() > 0);
    }

    @Test
    void theEngineUrlAPollerLogsAtStartShowsNoPassword() {
        List<String> logged = new CopyOnWriteArrayList<>();
        Handler handler = new Handler() {
            @Override
            public void publish(LogRecord record) {
                logged.add(record instanceof ExtLogRecord ext ? ext.getFormattedMessage()
                        : new SimpleFormatter().formatMessage(record));
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Logger logger = Logger.getLogger(Poller.class.getName());
        logger.addHandler(handler);
        try {
            h.start(PollerSettings.forTests(URI.create("http://sync:hunter2@127.0.0.1:1"), "test-poller-logged"));
        } finally {
            logger.removeHandler(handler);
        }
        assertThat(logged).anySatisfy(m -> assertThat(m).contains("test-poller-logged delivering to http://sync:***@"))
                .noneSatisfy(m -> assertThat(m).contains("hunter2"));
    }

    @Test
    void notificationWakesAnIdlePollerLongBeforeItsFallbackPoll() {
        h.start(h.settings().withFallbackPoll(Duration.ofSeconds(30)));
        await().atMost(Duration.ofSeconds(5)).until(() -> h.db.queryLong("""
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND query = 'LISTEN external_db_sync_requests'""") == 1);
        UUID tenancy = UUID.randomUUID();
        Instant enqueued = Instant.now();
        h.enqueue(tenancy);

        await().atMost(Duration.ofSeconds(3)).until(() -> h.queued() == 0);
        assertThat(Duration.between(enqueued, h.receiver.deliveriesOf(tenancy).get(0).receivedAt()))
                .isLessThan(Duration.ofSeconds(2));
    }

    @Test
    void twoServerErrorsThenSuccessIsDeliveredOnTheThirdAttemptWithGrowingDelays() {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        AtomicReference<List<Object>> rowAtSecondAttempt = new AtomicReference<>();
        h.receiver.script((n, request) -> {
            if (n == 2) {
                rowAtSecondAttempt.set(h.db.queryRows("""
                        SELECT "attemptCount", "lastError" FROM "OutgoingRequest" WHERE "tenancyId" = ?""", tenancy)
                        .get(0));
            }
            return n <= 2 ? SyncReceiver.Reply.status(500) : SyncReceiver.allSynced(request);
        });
        // Jitter 0.25: attempt 1 waits 225..300 ms, attempt 2 waits 450..600 ms.
        h.start(h.settings().withBackoff(
                new RequestQueue.Backoff(Duration.ofMillis(300), Duration.ofSeconds(5), 0.25)));

        await().atMost(Duration.ofSeconds(10)).until(() -> h.queued() == 0);
        List<SyncReceiver.Delivery> attempts = h.receiver.deliveriesOf(tenancy);
        assertThat(attempts).extracting(SyncReceiver.Delivery::status).containsExactly(500, 500, 200);
        Duration first = Duration.between(attempts.get(0).answeredAt(), attempts.get(1).receivedAt());
        Duration second = Duration.between(attempts.get(1).answeredAt(), attempts.get(2).receivedAt());
        // Only lower bounds hold on a loaded machine (a late wake-up stretches any wait). They prove the growth:
        // the second wait is at least 430 ms, longer than the first could have been scheduled (300 ms at most).
        assertThat(first).isGreaterThanOrEqualTo(Duration.ofMillis(200));
        assertThat(second).isGreaterThanOrEqualTo(Duration.ofMillis(430));
        assertThat(rowAtSecondAttempt.get().get(0)).isEqualTo(1);
        assertThat((String) rowAtSecondAttempt.get().get(1)).startsWith("HTTP 500");
    }

    @Test
    void alwaysFailingRequestIsParkedAfterMaxAttemptsAndDeliveredOnceRequeued() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        UUID id = h.requestIdOf(tenancy);
        h.receiver.script((n, r) -> SyncReceiver.Reply.status(503));
        Poller poller = h.start(h.settings().withMaxAttempts(3)
                .withBackoff(new RequestQueue.Backoff(Duration.ofMillis(50), Duration.ofMillis(200), 0.5)));

        await().atMost(Duration.ofSeconds(10)).until(() -> h.db.queryValue(
                "SELECT \"parkedAt\" FROM \"OutgoingRequest\" WHERE \"id\" = ?", id) != null);
        List<Object> row = h.db.queryRows("""
                SELECT "attemptCount", "lastError", "claimedBy" FROM "OutgoingRequest" WHERE "id" = ?""", id).get(0);
        assertThat(row.get(0)).isEqualTo(3);
        assertThat((String) row.get(1)).startsWith("HTTP 503");
        assertThat(row.get(2)).isNull();
        // Parked means parked: no further attempts.
        await().during(Duration.ofMillis(700)).atMost(Duration.ofSeconds(2))
                .until(() -> h.receiver.requestCount() == 3);
        await().atMost(Duration.ofSeconds(3)).until(() -> poller.status().parked() == 1);

        h.receiver.script((n, r) -> SyncReceiver.allSynced(r));
        assertThat(h.queue().requeue(id)).isTrue();
        assertThat(h.queue().requeue(id)).as("no longer parked").isFalse();
        await().atMost(Duration.ofSeconds(5)).until(() -> h.queued() == 0);
        assertThat(h.receiver.deliveriesOf(tenancy)).extracting(SyncReceiver.Delivery::status)
                .containsExactly(503, 503, 503, 200);
    }

    @Test
    void badRequestIsParkedAtOnce() {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        h.receiver.script((n, r) -> SyncReceiver.Reply.status(400));
        h.start(h.settings());

        await().atMost(Duration.ofSeconds(5)).until(() -> h.db.queryValue(
                "SELECT \"parkedAt\" FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy) != null);
        assertThat(h.db.queryValue("SELECT \"lastError\" FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy))
                .asString().startsWith("HTTP 400");
        assertThat(h.receiver.requestCount()).isEqualTo(1);
    }

    @Test
    void perTenancyRetryAndMissingResultsBackOffWhileSyncedTenanciesAreDeleted() {
        UUID synced = UUID.randomUUID();
        UUID busy = UUID.randomUUID();
        UUID missing = UUID.randomUUID();
        h.enqueue(synced, busy, missing);
        h.receiver.script((n, request) -> {
            if (n > 1) {
                return SyncReceiver.allSynced(request);
            }
            return SyncReceiver.Reply.ok(new SyncResponse(List.of(
                    new TenancyResult(synced, Outcome.SYNCED, false, List.of(), null),
                    new TenancyResult(busy, Outcome.FAILED, true,
                            List.of(new TargetResult("main", Outcome.FAILED, true, null, "target unreachable")),
                            null))));
        });
        h.start(h.settings().withBackoff(new RequestQueue.Backoff(Duration.ofMillis(400), Duration.ofSeconds(1), 0)));

        await().atMost(Duration.ofSeconds(5)).until(() -> h.receiver.requestCount() >= 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> h.requestIdOf(synced) == null);
        List<SyncReceiver.Delivery> first = h.receiver.deliveriesOf(synced);
        assertThat(first.get(0).tenancyIds()).containsExactlyInAnyOrder(synced, busy, missing);
        await().atMost(Duration.ofSeconds(5)).until(() -> h.queued() == 0);
        assertThat(h.receiver.deliveriesOf(busy)).hasSize(2);
        assertThat(h.receiver.deliveriesOf(missing)).hasSize(2);
        assertThat(h.receiver.deliveriesOf(synced)).hasSize(1);
    }

    @Test
    void claimLeftBehindByADeadPollerIsDeliveredByAnotherAfterTheLeaseExpires() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        Instant claimedAt = Instant.now();
        assertThat(h.queue().claim("dead-poller#1", 10, Duration.ofSeconds(1))).hasSize(1);
        h.start(h.settings());

        await().atMost(Duration.ofSeconds(10)).until(() -> h.queued() == 0);
        List<SyncReceiver.Delivery> deliveries = h.receiver.deliveriesOf(tenancy);
        assertThat(deliveries).hasSize(1);
        assertThat(deliveries.get(0).receivedAt()).isAfterOrEqualTo(claimedAt.plusMillis(900));
    }

    @Test
    void pollerKilledDuringThePostLeavesAClaimThatAnotherPollerDelivers() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        CountDownLatch hold = new CountDownLatch(1);
        h.receiver.script((n, request) -> {
            if (n == 1) {
                hold.await(20, TimeUnit.SECONDS); // the first replica dies while the engine works on this
                return SyncReceiver.Reply.status(500);
            }
            return SyncReceiver.allSynced(request);
        });
        Poller doomed = h.start(h.settings().withLease(Duration.ofSeconds(1)));
        await().atMost(Duration.ofSeconds(5)).until(() -> h.receiver.requestCount() == 1);
        doomed.kill();
        assertThat(h.db.queryValue("SELECT \"claimedBy\" FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy))
                .asString().startsWith("test-poller-");

        h.start(h.settings());
        await().atMost(Duration.ofSeconds(10)).until(() -> h.queued() == 0);
        hold.countDown();
        assertThat(h.receiver.deliveriesOf(tenancy)).extracting(SyncReceiver.Delivery::status).contains(200);
    }

    @Test
    void anEngineThatAcceptsNoConnectionIsChargedAnAttemptAndPausesTheClaimsLikeARefusedConnection()
            throws Exception {
        try (ServerSocket neverAccepting = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            List<Socket> backlog = fillBacklog(neverAccepting);
            try {
                UUID tenancy = UUID.randomUUID();
                h.enqueue(tenancy);
                URI blackHole = URI.create("http://127.0.0.1:" + neverAccepting.getLocalPort());
                Poller poller = h.start(PollerSettings.forTests(blackHole, "test-poller-black-hole")
                        .withConnectTimeout(Duration.ofMillis(300)));

                await().atMost(Duration.ofSeconds(10)).until(() -> ((Number) h.db.queryValue(
                        "SELECT \"attemptCount\" FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy))
                        .intValue() >= 1);
                assertThat((String) h.db.queryValue(
                        "SELECT \"lastError\" FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy))
                        .startsWith("connect timeout: the sync engine accepted no connection within");
                assertThat(poller.status().engineRetryAt()).as("claims paused").isNotNull();
            } finally {
                for (Socket s : backlog) {
                    s.close();
                }
            }
        }
    }

    @Test
    void anAnswerWhoseBodyStopsHalfwayEndsAsSlowByTheDeadlineAndTheRequestIsDeliveredAgain() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        AtomicInteger stalled = new AtomicInteger();
        try (ServerSocket halfAnswering = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread server = new Thread(() -> answerHeadersThenStall(halfAnswering, stalled), "half-answering-engine");
            server.setDaemon(true);
            server.start();
            URI engine = URI.create("http://127.0.0.1:" + halfAnswering.getLocalPort());
            h.start(PollerSettings.forTests(engine, "test-poller-half-answer")
                    .withRequestTimeout(Duration.ofSeconds(2)).withConnectTimeout(Duration.ofMillis(500)));

            await().atMost(Duration.ofSeconds(15)).until(() -> h.db.queryValue(
                    "SELECT \"lastError\" FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy) != null);
            assertThat((String) h.db.queryValue(
                    "SELECT \"lastError\" FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy))
                    .isEqualTo("timeout: no complete answer from the sync engine within PT2.5S");
            assertThat(((Number) h.db.queryValue(
                    "SELECT \"attemptCount\" FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy))
                    .intValue()).as("slow, not failed").isZero();
            await().atMost(Duration.ofSeconds(15)).until(() -> stalled.get() >= 2);
        }
    }

    /** Reads each request's head, answers 200 with a body it announces and never sends, and keeps the connection. */
    private static void answerHeadersThenStall(ServerSocket listener, AtomicInteger stalled) {
        List<Socket> held = new ArrayList<>();
        try {
            while (!listener.isClosed()) {
                Socket s = listener.accept();
                held.add(s);
                InputStream in = s.getInputStream();
                int matched = 0;
                while (matched < 4) { // up to the blank line that ends the request's head
                    int b = in.read();
                    if (b < 0) {
                        break;
                    }
                    matched = (b == (matched % 2 == 0 ? '\r' : '\n')) ? matched + 1 : (b == '\r' ? 1 : 0);
                }
                s.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + "Content-Length: 1000\r\n\r\n{\"results\":[").getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                stalled.incrementAndGet();
            }
        } catch (IOException e) {
            if (!listener.isClosed()) {
                throw new UncheckedIOException(e);
            }
        }
        for (Socket s : held) {
            try {
                s.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /**
     * Connects to a listener that never accepts until its accept queue is full; from then on the kernel drops every
     * further SYN, so a connection attempt waits until its own timeout.
     */
    private static List<Socket> fillBacklog(ServerSocket listener) throws IOException {
        List<Socket> connected = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            Socket s = new Socket();
            try {
                s.connect(listener.getLocalSocketAddress(), 300);
                connected.add(s);
            } catch (SocketTimeoutException full) {
                s.close();
                return connected;
            }
        }
        for (Socket s : connected) {
            s.close();
        }
        throw new AssertionError("the listener kept accepting connections into its backlog: cannot black-hole it");
    }

    @Test
    void slowDeliveryKeepsItsLeaseSoAnotherReplicaNeverSendsTheTenancyTwice() {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        h.receiver.script((n, request) -> {
            // A backfill that takes three leases long (the engine's work, not a test wait).
            assertThat(new CountDownLatch(1).await(2700, TimeUnit.MILLISECONDS)).isFalse();
            return SyncReceiver.allSynced(request);
        });
        PollerSettings settings = h.settings().withLease(Duration.ofMillis(900));
        h.start(settings);
        h.start(h.settings().withLease(Duration.ofMillis(900)));

        await().atMost(Duration.ofSeconds(10)).until(() -> h.queued() == 0);
        assertThat(h.receiver.requestCount()).isEqualTo(1);
        assertThat(h.receiver.maxConcurrentPerTenancy()).isEqualTo(1);
    }

    @Test
    void aStatisticsRefreshWaitingOnALockedRowDoesNotHoldUpTheHeartbeatThatKeepsALeaseAlive() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        // A request as upstream's sequencer writes it: the statistics refresh takes it over with an UPDATE.
        UpstreamStackAuthDatabase.upstreamEnqueue(h.db, UUID.randomUUID());
        try (Connection holder = h.dataSource.getConnection()) {
            holder.setAutoCommit(false);
            try (Statement st = holder.createStatement()) {
                st.execute("SELECT 1 FROM \"OutgoingRequest\" WHERE \"tenancyId\" IS NULL FOR UPDATE");
            }
            h.receiver.script((n, request) -> {
                // A backfill that takes three leases long (the engine's work, not a test wait).
                assertThat(new CountDownLatch(1).await(2700, TimeUnit.MILLISECONDS)).isFalse();
                return SyncReceiver.allSynced(request);
            });
            h.start(h.settings().withLease(Duration.ofMillis(900)));
            h.start(h.settings().withLease(Duration.ofMillis(900)));
            await().atMost(Duration.ofSeconds(5)).until(() -> h.db.queryLong("""
                    SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock'
                      AND query LIKE '%SET "tenancyId" =%'""") >= 1);

            await().atMost(Duration.ofSeconds(10)).until(() -> h.db.queryLong(
                    "SELECT count(*) FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy) == 0);
            assertThat(h.receiver.deliveriesOf(tenancy)).hasSize(1);
            assertThat(h.receiver.maxConcurrentPerTenancy()).isEqualTo(1);
            holder.rollback();
        }
    }

    @Test
    void newRequestForATenancyInFlightWaitsAndIsDeliveredAfterTheFirstFinishes() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        CountDownLatch firstMayFinish = new CountDownLatch(1);
        h.receiver.script((n, request) -> {
            if (n == 1) {
                firstMayFinish.await(20, TimeUnit.SECONDS);
            }
            return SyncReceiver.allSynced(request);
        });
        h.start(h.settings());
        h.start(h.settings());
        await().atMost(Duration.ofSeconds(5)).until(() -> h.receiver.requestCount() == 1);

        assertThat(h.enqueue(tenancy)).as("a new pending request beside the claimed one").isEqualTo(1);
        assertThat(h.db.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ? AND "startedFulfillingAt" IS NULL""",
                tenancy)).isEqualTo(1);
        await().during(Duration.ofMillis(800)).atMost(Duration.ofSeconds(2))
                .until(() -> h.receiver.requestCount() == 1);

        firstMayFinish.countDown();
        await().atMost(Duration.ofSeconds(5)).until(() -> h.queued() == 0);
        List<SyncReceiver.Delivery> deliveries = h.receiver.deliveriesOf(tenancy);
        assertThat(deliveries).hasSize(2);
        assertThat(deliveries.get(1).receivedAt()).isAfterOrEqualTo(deliveries.get(0).answeredAt());
        assertThat(h.receiver.maxConcurrentPerTenancy()).isEqualTo(1);
    }

    @Test
    void gracefulShutdownReleasesUnfinishedClaimsForAnotherReplicaAtOnce() throws Exception {
        UUID tenancy = UUID.randomUUID();
        h.enqueue(tenancy);
        CountDownLatch hold = new CountDownLatch(1);
        h.receiver.script((n, request) -> {
            if (n == 1) {
                hold.await(20, TimeUnit.SECONDS);
                return SyncReceiver.Reply.status(503);
            }
            return SyncReceiver.allSynced(request);
        });
        // A long lease: only the release can make the request available within this test's deadlines.
        Poller leaving = h.start(h.settings().withLease(Duration.ofSeconds(60))
                .withShutdownGrace(Duration.ofMillis(300)));
        await().atMost(Duration.ofSeconds(5)).until(() -> h.receiver.requestCount() == 1);

        assertThat(leaving.stop()).isEqualTo(1);
        List<Object> row = h.db.queryRows("""
                SELECT "claimedBy", "leaseExpiresAt", "attemptCount" FROM "OutgoingRequest" WHERE "tenancyId" = ?""",
                tenancy).get(0);
        assertThat(row.get(0)).isNull();
        assertThat(((java.sql.Timestamp) row.get(1)).toLocalDateTime())
                .isBeforeOrEqualTo(LocalDateTime.now(ZoneOffset.UTC));
        assertThat(row.get(2)).isEqualTo(0);

        h.start(h.settings());
        await().atMost(Duration.ofSeconds(5)).until(() -> h.queued() == 0);
        hold.countDown();
    }
}
