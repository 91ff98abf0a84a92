-- Retention of the change log (issue 17): without it "SyncChange" keeps one entry per changed key for ever (compaction
-- only drops a key's older entries), so the log of a busy tenancy grows with its history, not with what its targets
-- still need. The sync engine (its ChangeRetention class, the one writer of this table and the one place the engine
-- deletes entries) prunes a tenancy's stamped entries that every configured target's cursor has passed.
--
-- The floor is kept per (tenancy, "tableName"), not per tenancy: each mapping reads only the entries of its own table,
-- so its cursor moves only when that table changes. A tenancy whose teams never change keeps its teams cursor where
-- it is while its users' cursor runs ahead; one floor per tenancy would either stop at the idle cursor (nothing is
-- ever pruned) or rise above it (the idle mapping would look pruned under and be backfilled again and again).
--
-- "prunedThrough": stamped entries of this tenancy and table at or below it may have been deleted (the newest entry of
-- the table is always kept). A cursor below it may have missed entries and is backfilled from the live rows instead
-- of read from the log. It only rises. No row = nothing pruned (0).
CREATE TABLE IF NOT EXISTS "SyncChangeRetention" (
    "tenancyId"     UUID         NOT NULL,
    "tableName"     TEXT         NOT NULL,
    "prunedThrough" BIGINT       NOT NULL,
    "updatedAt"     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "SyncChangeRetention_pkey" PRIMARY KEY ("tenancyId", "tableName")
);
