package dev.externaldbsync.poller;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;

import org.jboss.logging.Logger;

import dev.externaldbsync.contract.status.UpstreamSyncSighting;

/**
 * Notices Stack Auth's own in-app sync still running next to these services (issue 19, README "Cutover"). Its
 * cron-driven sequencer enqueues rows in {@code "OutgoingRequest"} without the {@code "tenancyId"} column (it does
 * not know it), and its poller claims rows by setting only {@code "startedFulfillingAt"}, never a lease. No service
 * of ours writes either shape: every enqueue goes through {@code sync_enqueue_tenancies} (tenancy set) and every
 * claim, release and failure sets {@code "leaseExpiresAt"} in the same statement; the migration gave upstream's
 * leftover rows a tenancy or parked them, and leases. So a row of either shape, not parked, was written by upstream
 * after the switch: logged as a warning and shown in the status ({@link UpstreamSyncSighting}), and repaired so
 * nothing is lost (its tenancy copied from {@code "qstashOptions"}; a claim without lease made due, so one of our
 * pollers delivers it even if upstream's poller drops it). One count per refresh on V50's partial index, which is empty unless
 * upstream is running. Thread-safe.
 */
public final class UpstreamSyncWatch {

    private static final Logger LOG = Logger.getLogger(UpstreamSyncWatch.class);

    static final String MESSAGE = "Stack Auth's in-app external-db-sync is still running against this database "
            + "(requests or claims in \"OutgoingRequest\" that no service of ours made): stop its cron-driven "
            + "sequencer and poller (README, Cutover); these requests were taken over";

    private static final String COUNT = """
            SELECT count(*) FILTER (WHERE "tenancyId" IS NULL),
                   count(*) FILTER (WHERE "startedFulfillingAt" IS NOT NULL AND "leaseExpiresAt" IS NULL)
            FROM "OutgoingRequest"
            WHERE "parkedAt" IS NULL
              AND ("tenancyId" IS NULL OR ("startedFulfillingAt" IS NOT NULL AND "leaseExpiresAt" IS NULL))""";

    private static final String ADOPT_TENANCY = """
            UPDATE "OutgoingRequest"
            SET "tenancyId" = ("qstashOptions" -> 'body' ->> 'tenancyId')::uuid
            WHERE "tenancyId" IS NULL AND "parkedAt" IS NULL
              AND ("qstashOptions" -> 'body' ->> 'tenancyId')
                  ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'""";

    private static final String MAKE_DUE = """
            UPDATE "OutgoingRequest" SET "leaseExpiresAt" = "startedFulfillingAt"
            WHERE "startedFulfillingAt" IS NOT NULL AND "leaseExpiresAt" IS NULL AND "parkedAt" IS NULL""";

    private static final String PARK_NAMELESS = """
            UPDATE "OutgoingRequest"
            SET "startedFulfillingAt" = coalesce("startedFulfillingAt", now()), "parkedAt" = now(),
                "lastError" = 'request names no tenancy id'
            WHERE "tenancyId" IS NULL AND "parkedAt" IS NULL""";

    private final AtomicLong foreignRequests = new AtomicLong();
    private final AtomicLong foreignClaims = new AtomicLong();
    private volatile Instant lastSeenAt;

    /** Counts (and repairs) upstream's rows; returns the sighting so far, or null if upstream was never seen. */
    UpstreamSyncSighting check(Connection c, Instant now) throws SQLException {
        long requests;
        long claims;
        try (PreparedStatement ps = c.prepareStatement(COUNT); ResultSet rs = ps.executeQuery()) {
            rs.next();
            requests = rs.getLong(1);
            claims = rs.getLong(2);
        }
        if (requests > 0 || claims > 0) {
            int adopted;
            int due;
            try (PreparedStatement ps = c.prepareStatement(ADOPT_TENANCY)) {
                adopted = ps.executeUpdate();
            }
            try (PreparedStatement ps = c.prepareStatement(MAKE_DUE)) {
                due = ps.executeUpdate();
            }
            // A row that names no tenancy cannot be delivered; parked, it is visible and counted once.
            try (PreparedStatement ps = c.prepareStatement(PARK_NAMELESS)) {
                ps.executeUpdate();
            }
            foreignRequests.addAndGet(requests);
            foreignClaims.addAndGet(claims);
            lastSeenAt = now;
            LOG.warnf("%s: %d requests without a tenancy column (%d taken over), %d claims without a lease "
                    + "(%d made due)", MESSAGE, requests, adopted, claims, due);
        }
        Instant seen = lastSeenAt;
        return seen == null ? null : new UpstreamSyncSighting(foreignRequests.get(), foreignClaims.get(), seen, MESSAGE);
    }
}
