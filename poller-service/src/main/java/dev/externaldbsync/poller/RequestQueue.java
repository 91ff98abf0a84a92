package dev.externaldbsync.poller;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;

import javax.sql.DataSource;

import dev.externaldbsync.contract.status.UpstreamSyncSighting;

/**
 * The durable queue of sync requests: every state change of an {@code "OutgoingRequest"} row the poller makes. Plain
 * Java over a {@link DataSource} and a {@link Clock}, so tests can run several instances against one database.
 * <p>
 * Row states (see {@code V20__poller_queue_state.sql}): <em>pending</em> ({@code "startedFulfillingAt"} NULL),
 * <em>in flight</em> (claimed, {@code "claimedBy"} set, live lease), <em>backing off</em> (claimed, {@code "claimedBy"}
 * NULL, {@code "leaseExpiresAt" = "nextAttemptAt"}), <em>due</em> (claimed, lease expired: dead poller, released,
 * requeued or retry time reached) and <em>parked</em> ({@code "parkedAt"} set). No statement returns a claimed row to
 * pending form, so it can never collide with the one-pending-row-per-tenancy unique index; only a crash that undoes
 * a claim before its commit was flushed does (see {@link #COMPLETE}).
 * <p>
 * Guarantees:
 * <ul>
 * <li>A tenancy has at most one claimed, unparked request with a live lease, across all replicas: claims are
 * serialised by a transaction-scoped advisory lock (they take milliseconds), so the "no other claimed request for
 * this tenancy" check cannot race with another claim. A pending request for a tenancy that has a claimed one (in
 * flight or backing off) waits until that one is deleted, so requests of one tenancy are delivered in order.
 * <li>Claims skip rows locked by others ({@code FOR UPDATE SKIP LOCKED}): the sequencer row-locks a pending request it
 * is adding stamps to until it commits, so a claimed request always covers every stamp enqueued for it.
 * <li>A request is deleted only by {@link #complete} (by request id, never by tenancy: a newer pending request for the
 * same tenancy must survive). Every other outcome keeps the row, so a crash at any point loses nothing.
 * <li>Writes by the claim owner ({@link #complete}, {@link #fail}, {@link #park}, {@link #extendLeases}) are
 * conditional on its claim token, so a poller whose lease expired and was reclaimed cannot disturb the new owner.
 * <li>Every write that waits for row locks takes them in request-id order (a locking subquery ordered by {@code
 * "id"}, or statements sent in that order), so two of them can never deadlock. The sets overlap: a heartbeat
 * extends every live claim of the poller while a delivery's completion deletes some of them, and a scan in
 * physical order (a bitmap or sequential scan, which the planner picks once the queue is big) locks them in no
 * particular order. Claims never wait ({@code SKIP LOCKED}) and so need no order.
 * </ul>
 * All times come from the injected clock and are stored as UTC wall-clock {@code timestamp(3)} values, like the rest
 * of the Stack Auth schema. Thread-safe: holds no mutable state; every method uses its own connection.
 */
public final class RequestQueue {

    /** Key of the advisory lock that serialises claims across replicas: "edbs-pol" in ASCII. */
    static final long CLAIM_LOCK_KEY = 0x656462732d706f6cL;

    /** The channel {@code sync_enqueue_tenancies} notifies. */
    public static final String CHANNEL = "external_db_sync_requests";

    /** Errors stored on rows are cut to this length (they are diagnostics, not logs). */
    static final int MAX_ERROR_LENGTH = 2000;

    /** One claimed request. {@code token} identifies the claim (owner and claim number), not just the poller. */
    public record Claim(UUID id, UUID tenancyId, Instant createdAt, int attemptCount, String token) {
    }

    /** The outcome of one delivery attempt of one request, for {@link #fail}. */
    /** A request re-queued without an attempt, due again after {@code delay}. */
    public record Deferral(Claim claim, String error, Duration delay) {
    }

    public record Failure(Claim claim, String error) {
    }

    /** A parked request, as the admin API shows it. */
    public record ParkedRequest(UUID id, UUID tenancyId, Instant createdAt, Instant parkedAt, int attemptCount,
            String lastError) {
    }

    /** Queue counts at one instant. Ages and instants are null when there is nothing to measure. */
    public record Stats(long pending, long inFlight, long backingOff, long parked, Instant oldestPendingCreatedAt,
            Instant nextDueAt, UpstreamSyncSighting upstreamSync) {
    }

    /** What {@link #fail} did. */
    public record FailResult(int backingOff, int parked) {
    }

    /**
     * Retry delays: exponential in the attempt number, capped, with jitter. Attempt {@code n} (1-based) waits
     * {@code cap = min(max, base * 2^(n-1))} scaled by a random factor in {@code [1 - jitter, 1]}.
     * <p>
     * Why not "full jitter" ({@code [0, cap]}): a delay near zero after a failure is exactly the busy retry the
     * backoff exists to prevent, and it lets later delays be shorter than earlier ones. With {@code jitter <= 0.5}
     * delays never shrink from one attempt to the next until the cap, while replicas still spread out.
     */
    public record Backoff(Duration base, Duration max, double jitter) {

        public Backoff {
            if (base.isNegative() || base.isZero() || max.compareTo(base) < 0) {
                throw new IllegalArgumentException("backoff needs 0 < base <= max; got " + base + ", " + max);
            }
            if (jitter < 0 || jitter > 1) {
                throw new IllegalArgumentException("backoff jitter must be within [0, 1]; got " + jitter);
            }
        }

        /** The delay after the {@code attempt}-th consecutive failure (1-based). */
        public Duration delay(int attempt) {
            long baseMillis = base.toMillis();
            int shift = Math.min(Math.max(attempt, 1) - 1, 30);
            long cap = Math.min(max.toMillis(), baseMillis << shift);
            if (cap < 0) {
                cap = max.toMillis();
            }
            double factor = 1.0 - jitter * ThreadLocalRandom.current().nextDouble();
            return Duration.ofMillis(Math.max(1, Math.round(cap * factor)));
        }
    }

    private final DataSource dataSource;
    private final Clock clock;

    /** Stack Auth's in-app sync still writing to this queue (issue 19); checked with every stats refresh. */
    private final UpstreamSyncWatch upstreamWatch = new UpstreamSyncWatch();

    public RequestQueue(DataSource dataSource, Clock clock) {
        this.dataSource = dataSource;
        this.clock = clock;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Claim

    /**
     * The claim transaction's first statement: planner settings (LOCAL: they end with the transaction), {@code
     * synchronous_commit} off, and the claim lock. Pin the plan: walk the candidate indexes in order and stop after
     * {@code limit} rows. Statistics lag right after a burst of enqueues (the planner then guesses one pending row),
     * and the plan it picks on that guess, "fetch every pending row and sort", grows with the backlog; the pinned
     * plan stays flat. No sequential scans either: the plans a session caches (the claim's generic plan and {@code
     * sync_tenancy_has_claim}'s) while the queue is tiny stay seq scans after a burst until autovacuum analyzes, and
     * then every candidate of a claim reads the whole queue (2,000 candidates: 2,000 scans, the test counts them).
     * A claim a crash loses only makes its requests due again (delivered twice at worst, which the
     * engine's cursors absorb), so it need not wait for its WAL flush.
     */
    static final String CLAIM_SESSION_SETUP = """
            SELECT set_config('enable_sort', 'off', true), set_config('enable_incremental_sort', 'off', true),
                   set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true),
                   set_config('synchronous_commit', 'off', true),
                   pg_advisory_xact_lock(""" + CLAIM_LOCK_KEY + ")";

    /**
     * The claim itself. Parameters: now twice, the limit three times, now, the token, the lease's end, the limit and
     * the lease's end again.
     * <ul>
     * <li>{@code due}: claimed rows whose lease expired (dead owner, released, requeued, or retry time reached),
     * oldest lease first, whose tenancy has no other claimed row with a live lease (a requeued parked request must not
     * overtake a live one).</li>
     * <li>{@code pending}: pending rows, oldest first, whose tenancy has no claimed, unparked request (V20's pending
     * index in order; {@code sync_tenancy_has_claim} is one lookup in its claimed-tenancy index).</li>
     * <li>Both lock what they return with {@code SKIP LOCKED}; rows locked but not chosen unlock at commit.</li>
     * <li>{@code chosen}: oldest first over both, one per tenancy (two due rows of one tenancy: the older goes now,
     * the other waits until it is done), at most the limit.</li>
     * <li>{@code marked} names its rows by {@code "id" = ANY(ARRAY(…))}, not by a join, so that the planner cannot
     * pick a hash join over the whole queue; rows due again keep their {@code "startedFulfillingAt"} and attempt
     * count.</li>
     * <li>{@code next_due}: when the claim took less than the limit (the loop will sleep), when the next claimed row
     * falls due, as {@link #nextDueAt()} would say after it: the earliest lease of the rows this claim did not take
     * (at the statement's snapshot) or the lease just given, whichever is earlier. One row, even when nothing was
     * chosen.</li>
     * </ul>
     */
    static final String CLAIM = """
            WITH due AS MATERIALIZED (
                SELECT r."id", r."tenancyId", r."createdAt", r."attemptCount"
                FROM "OutgoingRequest" r
                WHERE r."startedFulfillingAt" IS NOT NULL AND r."parkedAt" IS NULL AND r."leaseExpiresAt" <= ?
                  AND r."tenancyId" IS NOT NULL
                  AND NOT sync_tenancy_has_claim(r."tenancyId", r."id", ?)
                ORDER BY r."leaseExpiresAt", r."createdAt"
                LIMIT ?
                FOR UPDATE OF r SKIP LOCKED),
            pending AS MATERIALIZED (
                SELECT r."id", r."tenancyId", r."createdAt", r."attemptCount"
                FROM "OutgoingRequest" r
                WHERE r."startedFulfillingAt" IS NULL AND r."parkedAt" IS NULL AND r."tenancyId" IS NOT NULL
                  AND NOT sync_tenancy_has_claim(r."tenancyId", NULL, '-infinity')
                ORDER BY r."createdAt", r."id"
                LIMIT ?
                FOR UPDATE OF r SKIP LOCKED),
            one_per_tenancy AS (
                SELECT DISTINCT ON ("tenancyId") "id", "tenancyId", "createdAt", "attemptCount"
                FROM (SELECT * FROM due UNION ALL SELECT * FROM pending) AS candidates
                ORDER BY "tenancyId", "createdAt", "id"),
            chosen AS MATERIALIZED (
                SELECT * FROM one_per_tenancy ORDER BY "createdAt", "id" LIMIT ?),
            marked AS (
                UPDATE "OutgoingRequest"
                SET "startedFulfillingAt" = coalesce("startedFulfillingAt", ?), "claimedBy" = ?, "leaseExpiresAt" = ?
                WHERE "id" = ANY (ARRAY(SELECT "id" FROM chosen))
                RETURNING 1),
            next_due AS (
                SELECT CASE WHEN (SELECT count(*) FROM chosen) < ? THEN LEAST(
                    (SELECT min(r."leaseExpiresAt") FROM "OutgoingRequest" r
                     WHERE r."startedFulfillingAt" IS NOT NULL AND r."parkedAt" IS NULL
                       AND r."id" <> ALL (ARRAY(SELECT "id" FROM chosen))),
                    CASE WHEN EXISTS (SELECT 1 FROM chosen) THEN ?::timestamp END) END AS at)
            SELECT c."id", c."tenancyId", c."createdAt", c."attemptCount", n.at
            FROM next_due AS n LEFT JOIN chosen AS c ON true
            ORDER BY c."createdAt", c."id\"""";

    /**
     * What one claim took and, when it took less than its limit, when the next claimed row falls due (null: none,
     * or it took the limit).
     */
    public record Claimed(List<Claim> claims, Instant nextDueAt) {
    }

    /**
     * Claims up to {@code limit} requests, at most one per tenancy, oldest first, for {@code lease}. Rows that are
     * due again come with their earlier attempt count. One round trip: both statements go out in autocommit before
     * one Sync, so the server runs them as one implicit transaction (the lock is held until it commits) and answers
     * once.
     *
     * @param token identifies this claim in {@code "claimedBy"} (poller instance and claim number)
     */
    public List<Claim> claim(String token, int limit, Duration lease) throws SQLException {
        return claimAndLookAhead(token, limit, lease).claims();
    }

    /** {@link #claim}, and when it took less than {@code limit}, {@link #nextDueAt()} in the same round trip. */
    public Claimed claimAndLookAhead(String token, int limit, Duration lease) throws SQLException {
        if (limit <= 0) {
            return new Claimed(List.of(), null);
        }
        Instant now = now();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement(CLAIM_SESSION_SETUP + ";\n" + CLAIM)) {
                bindClaim(ps, now, token, limit, lease);
                ps.execute();
                if (!ps.getMoreResults()) {
                    throw new SQLException("the claim statement returned no result");
                }
                List<Claim> chosen = new ArrayList<>();
                Instant nextDue = null;
                try (ResultSet rs = ps.getResultSet()) {
                    while (rs.next()) {
                        nextDue = instant(rs.getObject(5, LocalDateTime.class));
                        UUID id = rs.getObject(1, UUID.class);
                        if (id != null) {
                            chosen.add(new Claim(id, rs.getObject(2, UUID.class),
                                    instant(rs.getObject(3, LocalDateTime.class)), rs.getInt(4), token));
                        }
                    }
                }
                return new Claimed(List.copyOf(chosen), nextDue);
            }
        }
    }

    /** Binds {@link #CLAIM}'s parameters, in the order its Javadoc gives. */
    static void bindClaim(PreparedStatement ps, Instant now, String token, int limit, Duration lease)
            throws SQLException {
        int i = 1;
        ps.setObject(i++, ts(now));
        ps.setObject(i++, ts(now));
        ps.setInt(i++, limit);
        ps.setInt(i++, limit);
        ps.setInt(i++, limit);
        ps.setObject(i++, ts(now));
        ps.setString(i++, token);
        ps.setObject(i++, ts(now.plus(lease)));
        ps.setInt(i++, limit);
        ps.setObject(i, ts(now.plus(lease)));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Outcomes of a delivery

    /**
     * Deletes delivered requests, in one round trip, while the claim that delivered them still holds them. A claim
     * does not wait for its WAL flush, so a server crash can undo it and leave the row pending again; the sequencer's
     * next enqueue for the tenancy then lands on that row, for stamps the delivered run never read, and another claim
     * may take it before the old delivery answers. Such a row is left to its new claim (or to the next one). A
     * delivery whose lease expired and was taken over leaves its row to the new owner too, which delivers it once more
     * at worst. A completion a crash loses only leaves the request to be delivered again, so its transaction does not
     * wait for its WAL flush either.
     */
    static final String COMPLETE = """
            SELECT set_config('synchronous_commit', 'off', true);
            WITH locked AS MATERIALIZED (
                SELECT r."id" FROM "OutgoingRequest" AS r
                JOIN unnest(?::uuid[], ?::text[]) AS c("id", "token") ON c."id" = r."id"
                WHERE r."startedFulfillingAt" IS NOT NULL AND r."claimedBy" = c."token"
                ORDER BY r."id" FOR UPDATE OF r)
            DELETE FROM "OutgoingRequest" WHERE "id" = ANY (ARRAY(SELECT "id" FROM locked))""";

    /** Deletes delivered requests their claims still hold. Returns how many rows were deleted. */
    public int complete(Collection<Claim> claims) throws SQLException {
        if (claims.isEmpty()) {
            return 0;
        }
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(COMPLETE)) {
            // Autocommit: both statements before one Sync are one implicit transaction, so the setting is the
            // delete's and ends with it.
            c.setAutoCommit(true);
            List<Claim> ordered = List.copyOf(claims);
            ps.setArray(1, uuidArray(c, ordered.stream().map(Claim::id).toList()));
            ps.setArray(2, c.createArrayOf("text", ordered.stream().map(Claim::token).toArray()));
            ps.execute();
            if (ps.getMoreResults()) {
                throw new SQLException("the delete returned rows");
            }
            return ps.getUpdateCount();
        }
    }

    private static final String FAIL = """
            UPDATE "OutgoingRequest"
            SET "attemptCount" = ?, "lastError" = ?, "claimedBy" = NULL,
                "nextAttemptAt" = ?, "leaseExpiresAt" = ?, "parkedAt" = ?
            WHERE "id" = ? AND "claimedBy" = ?""";

    /**
     * Records a failed attempt per request: the attempt count grows, the error is kept; the request backs off (stays
     * claimed, due again at {@code now + backoff.delay(attempt)}) or, at {@code maxAttempts}, is parked. Rows no
     * longer held by the claim's token are left alone.
     */
    public FailResult fail(Collection<Failure> failures, Backoff backoff, int maxAttempts) throws SQLException {
        if (failures.isEmpty()) {
            return new FailResult(0, 0);
        }
        Instant now = now();
        int backingOff = 0;
        int parked = 0;
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement(FAIL)) {
                for (Failure failure : inIdOrder(failures, Failure::claim)) {
                    int attempt = failure.claim().attemptCount() + 1;
                    boolean park = attempt >= maxAttempts;
                    Instant next = park ? null : now.plus(backoff.delay(attempt));
                    ps.setInt(1, attempt);
                    ps.setString(2, truncate(failure.error()));
                    ps.setObject(3, ts(next));
                    ps.setObject(4, park ? ts(now) : ts(next));
                    ps.setObject(5, park ? ts(now) : null);
                    ps.setObject(6, failure.claim().id());
                    ps.setString(7, failure.claim().token());
                    ps.addBatch();
                    if (park) {
                        parked++;
                    } else {
                        backingOff++;
                    }
                }
                ps.executeBatch();
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
        }
        return new FailResult(backingOff, parked);
    }

    private static final String RETRY_LATER = """
            UPDATE "OutgoingRequest"
            SET "lastError" = ?, "claimedBy" = NULL, "nextAttemptAt" = ?, "leaseExpiresAt" = ?
            WHERE "id" = ? AND "claimedBy" = ?""";

    /**
     * Re-queues requests that did not fail (the engine did not finish them in time): each due again after its delay,
     * the attempt count unchanged, so they are never parked for it. Rows no longer held by the claim's token are
     * left alone. Returns how many were re-queued.
     */
    public int retryLater(Collection<Deferral> requests) throws SQLException {
        if (requests.isEmpty()) {
            return 0;
        }
        Instant now = now();
        int requeued = 0;
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(RETRY_LATER)) {
            for (Deferral request : inIdOrder(requests, Deferral::claim)) {
                Instant next = now.plus(request.delay());
                ps.setString(1, truncate(request.error()));
                ps.setObject(2, ts(next));
                ps.setObject(3, ts(next));
                ps.setObject(4, request.claim().id());
                ps.setString(5, request.claim().token());
                ps.addBatch();
            }
            for (int n : ps.executeBatch()) {
                requeued += Math.max(0, n);
            }
        }
        return requeued;
    }

    private static final String PARK = """
            UPDATE "OutgoingRequest"
            SET "attemptCount" = "attemptCount" + 1, "lastError" = ?, "claimedBy" = NULL, "nextAttemptAt" = NULL,
                "leaseExpiresAt" = ?, "parkedAt" = ?
            WHERE "id" = ANY (ARRAY(
                SELECT "id" FROM "OutgoingRequest" WHERE "id" = ANY (?) AND "claimedBy" = ?
                ORDER BY "id" FOR NO KEY UPDATE))""";

    /** Parks requests at once (the engine said retrying cannot help). Returns how many were parked. */
    public int park(Collection<Claim> claims, String error) throws SQLException {
        if (claims.isEmpty()) {
            return 0;
        }
        Instant now = now();
        int parked = 0;
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(PARK)) {
            // One claim call may have been split into several requests, but they share its token.
            for (String token : claims.stream().map(Claim::token).distinct().toList()) {
                ps.setString(1, truncate(error));
                ps.setObject(2, ts(now));
                ps.setObject(3, ts(now));
                ps.setArray(4, uuidArray(c, claims.stream().filter(cl -> cl.token().equals(token))
                        .map(Claim::id).toList()));
                ps.setString(5, token);
                parked += ps.executeUpdate();
            }
        }
        return parked;
    }

    /**
     * Extends the leases of the given claims (heartbeat of a long delivery). Returns how many rows were extended. A
     * claim always has a lease, and saying so lets the claimed-rows index find the claims instead of a scan of the
     * whole queue (a million pending rows in a fan-out), here and in {@link #release}.
     */
    public int extendLeases(Collection<String> tokens, Duration lease) throws SQLException {
        if (tokens.isEmpty()) {
            return 0;
        }
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("""
                UPDATE "OutgoingRequest" SET "leaseExpiresAt" = ?
                WHERE "id" = ANY (ARRAY(
                    SELECT "id" FROM "OutgoingRequest"
                    WHERE "claimedBy" = ANY (?) AND "parkedAt" IS NULL AND "leaseExpiresAt" IS NOT NULL
                    ORDER BY "id" FOR NO KEY UPDATE))""")) {
            ps.setObject(1, ts(now().plus(lease)));
            ps.setArray(2, c.createArrayOf("text", tokens.toArray()));
            return ps.executeUpdate();
        }
    }

    /**
     * Gives claims back without counting an attempt (graceful shutdown): they are due at once, for any replica.
     * Returns how many rows were released.
     */
    public int release(Collection<String> tokens) throws SQLException {
        if (tokens.isEmpty()) {
            return 0;
        }
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("""
                UPDATE "OutgoingRequest" SET "leaseExpiresAt" = ?, "claimedBy" = NULL
                WHERE "id" = ANY (ARRAY(
                    SELECT "id" FROM "OutgoingRequest"
                    WHERE "claimedBy" = ANY (?) AND "parkedAt" IS NULL AND "leaseExpiresAt" IS NOT NULL
                    ORDER BY "id" FOR NO KEY UPDATE))""")) {
            ps.setObject(1, ts(now()));
            ps.setArray(2, c.createArrayOf("text", tokens.toArray()));
            return ps.executeUpdate();
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Operator actions

    private static final String REQUEUE = """
            WITH requeued AS (
                UPDATE "OutgoingRequest"
                SET "parkedAt" = NULL, "attemptCount" = 0, "nextAttemptAt" = NULL, "claimedBy" = NULL,
                    "leaseExpiresAt" = ?
                WHERE "id" = ANY (ARRAY(
                    SELECT "id" FROM "OutgoingRequest" WHERE "parkedAt" IS NOT NULL %s
                    ORDER BY "id" FOR NO KEY UPDATE))
                RETURNING 1)
            SELECT count(*), pg_notify('external_db_sync_requests', '') FROM requeued""";

    /**
     * Makes a parked request deliverable again at once: attempts reset, due now. It stays in claimed form (so it
     * never collides with a pending request of its tenancy) and waits if its tenancy has another live claim.
     * Notifies every replica. Returns false when no parked request has this id.
     */
    public boolean requeue(UUID id) throws SQLException {
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement(REQUEUE.formatted("AND \"id\" = ?"))) {
            ps.setObject(1, ts(now()));
            ps.setObject(2, id);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1) > 0;
            }
        }
    }

    /** {@link #requeue} for every parked request; returns how many. */
    public long requeueAllParked() throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(REQUEUE.formatted(""))) {
            ps.setObject(1, ts(now()));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** One page of parked requests in id order, after {@code after} (exclusive; null = from the start). */
    public List<ParkedRequest> parked(UUID after, int limit) throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("""
                SELECT "id", "tenancyId", "createdAt", "parkedAt", "attemptCount", "lastError"
                FROM "OutgoingRequest"
                WHERE "parkedAt" IS NOT NULL AND (?::uuid IS NULL OR "id" > ?::uuid)
                ORDER BY "id"
                LIMIT ?""")) {
            ps.setObject(1, after);
            ps.setObject(2, after);
            ps.setInt(3, limit);
            List<ParkedRequest> page = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    page.add(new ParkedRequest(rs.getObject(1, UUID.class), rs.getObject(2, UUID.class),
                            instant(rs.getObject(3, LocalDateTime.class)), instant(rs.getObject(4, LocalDateTime.class)),
                            rs.getInt(5), rs.getString(6)));
                }
            }
            return page;
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Observation

    /**
     * The {@code limit} tenancies whose requests have waited longest, pending or claimed (not parked), oldest first:
     * what the dashboard asks the engine to count rows behind for. Two index-ordered ranges of at most {@code limit}
     * rows each.
     */
    public List<UUID> longestWaitingTenancies(int limit) throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("""
                SELECT id FROM (
                    (SELECT "tenancyId" AS id, "createdAt" AS created FROM "OutgoingRequest"
                     WHERE "startedFulfillingAt" IS NULL ORDER BY "createdAt", "id" LIMIT ?)
                    UNION ALL
                    (SELECT "tenancyId", "createdAt" FROM "OutgoingRequest"
                     WHERE "leaseExpiresAt" IS NOT NULL AND "parkedAt" IS NULL
                     ORDER BY "leaseExpiresAt", "createdAt" LIMIT ?)) AS r
                WHERE id IS NOT NULL GROUP BY id ORDER BY min(created) LIMIT ?""")) {
            ps.setInt(1, limit);
            ps.setInt(2, limit);
            ps.setInt(3, limit);
            List<UUID> ids = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getObject(1, UUID.class));
                }
            }
            return ids;
        }
    }

    /**
     * Queue counts. Each part reads an index (pending by V1's index, claimed and parked by V20's partial ones), so a
     * backlog of a million pending rows costs an index-only count, not a table scan per refresh.
     */
    public Stats stats() throws SQLException {
        Instant now = now();
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("""
                SELECT (SELECT count(*) FROM "OutgoingRequest" WHERE "startedFulfillingAt" IS NULL),
                       (SELECT min("createdAt") FROM "OutgoingRequest" WHERE "startedFulfillingAt" IS NULL),
                       c.in_flight, c.backing_off, c.next_due,
                       (SELECT count(*) FROM "OutgoingRequest" WHERE "parkedAt" IS NOT NULL)
                FROM (SELECT count(*) FILTER (WHERE "claimedBy" IS NOT NULL AND "leaseExpiresAt" > ?) AS in_flight,
                             count(*) FILTER (WHERE "claimedBy" IS NULL AND "leaseExpiresAt" > ?) AS backing_off,
                             min("leaseExpiresAt") AS next_due
                      FROM "OutgoingRequest"
                      WHERE "startedFulfillingAt" IS NOT NULL AND "parkedAt" IS NULL) c""")) {
            ps.setObject(1, ts(now));
            ps.setObject(2, ts(now));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return new Stats(rs.getLong(1), rs.getLong(3), rs.getLong(4), rs.getLong(6),
                        instant(rs.getObject(2, LocalDateTime.class)), instant(rs.getObject(5, LocalDateTime.class)),
                        upstreamWatch.check(c, now));
            }
        }
    }

    /** When the next claimed row falls due (lease expiry or retry time), or null if none is claimed. */
    public Instant nextDueAt() throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("""
                SELECT min("leaseExpiresAt") FROM "OutgoingRequest"
                WHERE "startedFulfillingAt" IS NOT NULL AND "parkedAt" IS NULL""");
                ResultSet rs = ps.executeQuery()) {
            rs.next();
            return instant(rs.getObject(1, LocalDateTime.class));
        }
    }

    // ---------------------------------------------------------------------------------------------------------------

    private Instant now() {
        return clock.instant().truncatedTo(ChronoUnit.MILLIS);
    }

    private static LocalDateTime ts(Instant instant) {
        return instant == null ? null : LocalDateTime.ofInstant(instant, ZoneOffset.UTC);
    }

    private static Instant instant(LocalDateTime value) {
        return value == null ? null : value.toInstant(ZoneOffset.UTC);
    }

    /**
     * {@code items} sorted by request id the way PostgreSQL orders {@code uuid} (bytes, unsigned), for statements
     * sent one by one: {@link UUID#compareTo} compares signed halves and would disagree for ids with the top bit set.
     */
    private static <T> List<T> inIdOrder(Collection<T> items, Function<T, Claim> claim) {
        List<T> sorted = new ArrayList<>(items);
        sorted.sort((a, b) -> compareAsPostgres(claim.apply(a).id(), claim.apply(b).id()));
        return sorted;
    }

    static int compareAsPostgres(UUID a, UUID b) {
        int high = Long.compareUnsigned(a.getMostSignificantBits(), b.getMostSignificantBits());
        return high != 0 ? high : Long.compareUnsigned(a.getLeastSignificantBits(), b.getLeastSignificantBits());
    }

    private static Array uuidArray(Connection c, List<UUID> ids) throws SQLException {
        return c.createArrayOf("uuid", ids.toArray());
    }

    static String truncate(String error) {
        if (error == null) {
            return null;
        }
        return error.length() <= MAX_ERROR_LENGTH ? error : error.substring(0, MAX_ERROR_LENGTH) + "…";
    }
}
