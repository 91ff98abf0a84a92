-- Per-target backoff (issue 16): a target that fails or times out repeatedly is retried on its own schedule, so its
-- runs are skipped without a worker until "retryAt" instead of holding one until a timeout on every request. Kept on
-- the progress mirror's rows of the (tenancy, target), where its other health ("failingSince", "lastError") already
-- is: the engine sets both columns on every mapping row of the target together and clears them on a success.
ALTER TABLE "SyncEngineProgress" ADD COLUMN IF NOT EXISTS "targetFailures" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "SyncEngineProgress" ADD COLUMN IF NOT EXISTS "retryAt" TIMESTAMP(3);
-- Status counts backed-off (tenancy, target)s with DISTINCT over this partial index, stopped at a cap; it holds only
-- backed-off rows, so it is empty when all is well.
CREATE INDEX IF NOT EXISTS "SyncEngineProgress_backoff_target_idx"
    ON "SyncEngineProgress" ("tenancyId", "targetId") WHERE "retryAt" IS NOT NULL;
