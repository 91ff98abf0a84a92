-- Sync engine state in the internal database: a mirror of every target's progress (so status and dashboards
-- never open external databases) and the dead-letter list of poison rows. Written only by the sync engine.

-- One row per (tenancy, target, mapping): the cursor last applied, rows applied in total, and health.
CREATE TABLE IF NOT EXISTS "SyncEngineProgress" (
    "tenancyId"     UUID         NOT NULL,
    "targetId"      TEXT         NOT NULL,
    "mappingName"   TEXT         NOT NULL,
    "cursor"        BIGINT       NOT NULL DEFAULT -1,
    "rowsApplied"   BIGINT       NOT NULL DEFAULT 0,
    "lastSuccessAt" TIMESTAMP(3),
    "lastErrorAt"   TIMESTAMP(3),
    "lastError"     TEXT,
    "failingSince"  TIMESTAMP(3),
    "updatedAt"     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "SyncEngineProgress_pkey" PRIMARY KEY ("tenancyId", "targetId", "mappingName")
);
CREATE INDEX IF NOT EXISTS "SyncEngineProgress_failingSince_idx"
    ON "SyncEngineProgress" ("failingSince") WHERE "failingSince" IS NOT NULL;

-- A row a target rejected for data reasons. The cursor moved past it; it is retried when the row changes again
-- (it then gets a newer sequence id) and its entry is removed once it applies.
CREATE TABLE IF NOT EXISTS "SyncEnginePoisonRow" (
    "tenancyId"   UUID         NOT NULL,
    "targetId"    TEXT         NOT NULL,
    "mappingName" TEXT         NOT NULL,
    "rowKey"      JSONB        NOT NULL,
    "sequenceId"  BIGINT       NOT NULL,
    "error"       TEXT         NOT NULL,
    "firstSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt"  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "SyncEnginePoisonRow_pkey" PRIMARY KEY ("tenancyId", "targetId", "mappingName", "rowKey")
);
