-- Operator pause of one tenancy (admin API of the sync engine). While a row exists the engine does no target work
-- for that tenancy and answers PAUSED (no retry): its changes keep being stamped and wait; resume deletes the row
-- and enqueues the tenancy so it catches up without a new change. Written only by the sync engine's admin API.
CREATE TABLE IF NOT EXISTS "ExternalDbSyncTenancyPause" (
    "tenancyId" UUID         NOT NULL,
    "pausedAt"  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "reason"    TEXT,
    CONSTRAINT "ExternalDbSyncTenancyPause_pkey" PRIMARY KEY ("tenancyId")
);
