-- Poller queue state on "OutgoingRequest" (poller-service, RequestQueue). Every change is IF NOT EXISTS-safe so the
-- file can be applied to an existing Stack Auth database whose queue already holds rows.
--
-- Row states (the partial unique index on pending rows is untouched: a claimed row never leaves claimed form):
--   pending      "startedFulfillingAt" IS NULL
--   in flight    claimed, "claimedBy" set, "leaseExpiresAt" in the future (extended by the owner's heartbeat)
--   backing off  claimed, "claimedBy" NULL, "leaseExpiresAt" = "nextAttemptAt" (a retry is a lease expiry)
--   due again    claimed, not parked, "leaseExpiresAt" in the past (dead poller, released, requeued, retry due)
--   parked       "parkedAt" set: kept for an operator, never claimed until requeued
ALTER TABLE "OutgoingRequest" ADD COLUMN IF NOT EXISTS "attemptCount"   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "OutgoingRequest" ADD COLUMN IF NOT EXISTS "nextAttemptAt"  TIMESTAMP(3);
ALTER TABLE "OutgoingRequest" ADD COLUMN IF NOT EXISTS "leaseExpiresAt" TIMESTAMP(3);
ALTER TABLE "OutgoingRequest" ADD COLUMN IF NOT EXISTS "claimedBy"      TEXT;
ALTER TABLE "OutgoingRequest" ADD COLUMN IF NOT EXISTS "lastError"      TEXT;
ALTER TABLE "OutgoingRequest" ADD COLUMN IF NOT EXISTS "parkedAt"       TIMESTAMP(3);

-- Rows written by upstream Stack Auth carry the tenancy only inside "qstashOptions"; the poller needs the column.
UPDATE "OutgoingRequest"
SET "tenancyId" = ("qstashOptions" -> 'body' ->> 'tenancyId')::uuid
WHERE "tenancyId" IS NULL
  AND ("qstashOptions" -> 'body' ->> 'tenancyId') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
-- A row that names no tenancy cannot be delivered; park it visibly instead of leaving it pending forever.
UPDATE "OutgoingRequest"
SET "startedFulfillingAt" = coalesce("startedFulfillingAt", now()), "parkedAt" = now(),
    "lastError" = 'request names no tenancy id'
WHERE "tenancyId" IS NULL AND "parkedAt" IS NULL;
-- Rows an upstream poller had claimed carry no lease: make them due at once (a dead claim must never be stuck).
UPDATE "OutgoingRequest"
SET "leaseExpiresAt" = "startedFulfillingAt"
WHERE "startedFulfillingAt" IS NOT NULL AND "leaseExpiresAt" IS NULL AND "parkedAt" IS NULL;

-- Pending rows in claim order (oldest first, id breaks ties: one enqueue call stamps all its rows with the same
-- "createdAt"), so a claim reads the first few index entries instead of sorting the whole backlog.
CREATE INDEX IF NOT EXISTS "OutgoingRequest_pending_createdAt_id_idx"
    ON "OutgoingRequest" ("createdAt", "id")
    WHERE "startedFulfillingAt" IS NULL;
-- Claimed, unparked rows (in flight, backing off, due again). Serves "does this tenancy already
-- have a claimed request?" (the rule that never sends one tenancy twice at once) and "is its claim still live?".
CREATE INDEX IF NOT EXISTS "OutgoingRequest_claimed_tenancyId_idx"
    ON "OutgoingRequest" ("tenancyId", "leaseExpiresAt")
    WHERE "startedFulfillingAt" IS NOT NULL AND "parkedAt" IS NULL;
-- Same rows by lease (only claimed rows have one): finds expired claims and the next time one falls due (the
-- loop's wake-up). The predicate names "leaseExpiresAt" so that sync_tenancy_has_claim (below), which tests the lease
-- through coalesce(), can never use this index (see there).
CREATE INDEX IF NOT EXISTS "OutgoingRequest_claimed_leaseExpiresAt_idx"
    ON "OutgoingRequest" ("leaseExpiresAt", "createdAt")
    WHERE "leaseExpiresAt" IS NOT NULL AND "parkedAt" IS NULL;
-- Parked rows, paged by id for the admin API and counted for status.
CREATE INDEX IF NOT EXISTS "OutgoingRequest_parked_id_idx"
    ON "OutgoingRequest" ("id")
    WHERE "parkedAt" IS NOT NULL;

-- Does the tenancy have a claimed, unparked request (other than except_id) whose lease runs past live_after? The
-- claim asks this for each candidate row, and it must stay one lookup in "OutgoingRequest_claimed_tenancyId_idx"
-- however stale the statistics are. Measured with statistics that had not caught up with a burst (they said "no
-- claimed rows" while 100,000 were backing off): as a correlated NOT EXISTS the planner scanned every claimed row per
-- candidate (9 to 28 s per claim), and with a plain "leaseExpiresAt" > live_after it walked the lease index the same
-- way. So: a function (the tenancy is a parameter, never a join), and coalesce() so the lease index is unusable.
CREATE OR REPLACE FUNCTION sync_tenancy_has_claim(tenancy UUID, except_id UUID, live_after TIMESTAMP(3))
    RETURNS BOOLEAN
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM "OutgoingRequest"
                   WHERE "tenancyId" = tenancy AND "id" IS DISTINCT FROM except_id
                     AND "startedFulfillingAt" IS NOT NULL AND "parkedAt" IS NULL
                     AND coalesce("leaseExpiresAt", '-infinity') > live_after);
END $$;
