-- Sync engine status at scale (1,000,000 tenancies = 11,000,000 "SyncEngineProgress" rows): the engine's
-- GET /api/v1/status counts failing (tenancy, target)s with DISTINCT over this partial index, stopped at a cap. It
-- holds only failing rows, so it is empty when all is well and costs nothing to the progress writes of healthy runs
-- (which already update "failingSince", indexed by "SyncEngineProgress_failingSince_idx").
CREATE INDEX IF NOT EXISTS "SyncEngineProgress_failing_target_idx"
    ON "SyncEngineProgress" ("tenancyId", "targetId") WHERE "failingSince" IS NOT NULL;
