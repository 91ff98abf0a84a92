-- The sync layer: change capture for users and contact channels, the tombstone log, the request queue and the
-- fusebox. Applies after db/internal on an empty database, and on an operator's existing Stack Auth database
-- (which may already carry upstream's sync columns and tables: everything here is IF NOT EXISTS).
--
-- Locking on big tables: this migration runs in one transaction and only takes short metadata locks.
--  * ADD COLUMN with a constant default is catalog-only since PostgreSQL 11 (no table rewrite), so adding
--    "shouldUpdateSequenceId" to a 1,000,000-row table takes milliseconds. Every existing row reads TRUE,
--    which is exactly the initial backfill: the sequencer stamps them in batches afterwards.
--  * The indexes on those tables are built by V1_1 with CREATE INDEX CONCURRENTLY (writers keep going).
--  * lock_timeout makes the brief ACCESS EXCLUSIVE lock fail fast instead of queueing writers behind a
--    long-running transaction; the migration then rolls back whole and can simply be re-run.
SET LOCAL lock_timeout = '10s';

CREATE SEQUENCE IF NOT EXISTS global_seq_id AS BIGINT START 1 INCREMENT BY 11 NO MINVALUE NO MAXVALUE;

ALTER TABLE "ProjectUser"
    ADD COLUMN IF NOT EXISTS "sequenceId" BIGINT,
    ADD COLUMN IF NOT EXISTS "shouldUpdateSequenceId" BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE "ContactChannel"
    ADD COLUMN IF NOT EXISTS "sequenceId" BIGINT,
    ADD COLUMN IF NOT EXISTS "shouldUpdateSequenceId" BOOLEAN NOT NULL DEFAULT TRUE;

-- Tombstones: one row per deleted source row, written by the capture triggers below.
CREATE TABLE IF NOT EXISTS "DeletedRow" (
    "id"                     UUID         NOT NULL,
    "tenancyId"              UUID         NOT NULL,
    "tableName"              TEXT         NOT NULL,
    "sequenceId"             BIGINT,
    "primaryKey"             JSONB        NOT NULL,
    "data"                   JSONB,
    "deletedAt"              TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedFulfillingAt"    TIMESTAMP(3),
    "shouldUpdateSequenceId" BOOLEAN      NOT NULL DEFAULT TRUE,
    CONSTRAINT "DeletedRow_pkey" PRIMARY KEY ("id")
);

-- The queue of sync requests. "startedFulfillingAt" NULL = pending, set = claimed. "tenancyId" is ours
-- (upstream keeps it only inside "qstashOptions"): the poller and the status API use it directly.
CREATE TABLE IF NOT EXISTS "OutgoingRequest" (
    "id"                  UUID         NOT NULL,
    "createdAt"           TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deduplicationKey"    TEXT,
    "qstashOptions"       JSONB        NOT NULL,
    "startedFulfillingAt" TIMESTAMP(3),
    CONSTRAINT "OutgoingRequest_pkey" PRIMARY KEY ("id")
);
ALTER TABLE "OutgoingRequest" ADD COLUMN IF NOT EXISTS "tenancyId" UUID;
-- Upstream's first version had a full UNIQUE constraint; one pending row per key is the rule now.
ALTER TABLE "OutgoingRequest" DROP CONSTRAINT IF EXISTS "OutgoingRequest_deduplicationKey_key";
CREATE UNIQUE INDEX IF NOT EXISTS "OutgoingRequest_deduplicationKey_pending_key"
    ON "OutgoingRequest" ("deduplicationKey") WHERE "startedFulfillingAt" IS NULL;
CREATE INDEX IF NOT EXISTS "OutgoingRequest_startedFulfillingAt_createdAt_idx"
    ON "OutgoingRequest" ("startedFulfillingAt", "createdAt");
CREATE INDEX IF NOT EXISTS "OutgoingRequest_startedFulfillingAt_deduplicationKey_idx"
    ON "OutgoingRequest" ("startedFulfillingAt", "deduplicationKey");

-- Fusebox: a singleton row; no row means both loops are enabled.
CREATE TABLE IF NOT EXISTS "ExternalDbSyncMetadata" (
    "id"               TEXT          NOT NULL DEFAULT gen_random_uuid(),
    "singleton"        "BooleanTrue" NOT NULL DEFAULT 'TRUE',
    "sequencerEnabled" BOOLEAN       NOT NULL DEFAULT true,
    "pollerEnabled"    BOOLEAN       NOT NULL DEFAULT true,
    "createdAt"        TIMESTAMP(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"        TIMESTAMP(3)  NOT NULL,
    CONSTRAINT "ExternalDbSyncMetadata_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX IF NOT EXISTS "ExternalDbSyncMetadata_singleton_key" ON "ExternalDbSyncMetadata" ("singleton");

-- ---------------------------------------------------------------------------------------------------------
-- Enqueue: the one place that writes sync requests (the sequencer and the config trigger both call it).
-- A tenancy that already has a pending request gets no second one; instead that pending row is touched, which
-- row-locks it until the calling transaction commits. The poller claims with FOR UPDATE SKIP LOCKED, so it
-- cannot claim that request before the caller's stamps are committed and visible: a claimed request always
-- covers every stamp that was enqueued for it. (With DO NOTHING, a claim could slip in between and the sync
-- would run on a snapshot without the new stamps, leaving them unsynced until the tenancy's next change.)
CREATE OR REPLACE FUNCTION sync_enqueue_tenancies(tenancy_ids UUID[]) RETURNS INTEGER
    LANGUAGE plpgsql AS $$
DECLARE
    touched INTEGER;
BEGIN
    INSERT INTO "OutgoingRequest" ("id", "createdAt", "deduplicationKey", "qstashOptions", "tenancyId")
    SELECT gen_random_uuid(), now() AT TIME ZONE 'UTC', 'sentinel-sync-key-' || t,
           jsonb_build_object('url', '/api/v1/sync', 'body', jsonb_build_object('tenancyId', t)),
           t
    FROM (SELECT DISTINCT u AS t FROM unnest(tenancy_ids) AS u WHERE u IS NOT NULL ORDER BY 1) AS s
    ON CONFLICT ("deduplicationKey") WHERE "startedFulfillingAt" IS NULL
        DO UPDATE SET "deduplicationKey" = EXCLUDED."deduplicationKey";
    GET DIAGNOSTICS touched = ROW_COUNT;
    IF touched > 0 THEN
        PERFORM pg_notify('external_db_sync_requests', '');
    END IF;
    RETURN touched;
END $$;

-- ---------------------------------------------------------------------------------------------------------
-- Capture triggers. Writers need no change: an insert or update marks the row, a delete writes a tombstone.

-- Marks a row as changed. On insert it also drops a copied "sequenceId", which would otherwise collide.
CREATE OR REPLACE FUNCTION sync_mark_changed() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
BEGIN
    NEW."shouldUpdateSequenceId" := TRUE;
    IF TG_OP = 'INSERT' THEN
        NEW."sequenceId" := NULL;
    END IF;
    RETURN NEW;
END $$;

-- Writes one tombstone per deleted row (statement level: one INSERT per DELETE statement, however many rows).
-- TG_ARGV[0] is the tombstone's "tableName", TG_ARGV[1..] the key columns copied into "primaryKey" (Stack's
-- names; uuid values become JSON strings). "data" is the full row snapshot minus secrets that must not
-- outlive their row.
CREATE OR REPLACE FUNCTION sync_capture_delete() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "DeletedRow" ("id", "tenancyId", "tableName", "primaryKey", "data", "deletedAt",
                              "shouldUpdateSequenceId")
    SELECT gen_random_uuid(), (r ->> 'tenancyId')::uuid, TG_ARGV[0],
           (SELECT jsonb_object_agg(k, r -> k) FROM unnest(TG_ARGV[1:]) AS k),
           r - 'totpSecret' - 'refreshToken',
           now(), TRUE
    FROM (SELECT to_jsonb(o) AS r FROM old_rows AS o) AS deleted;
    RETURN NULL;
END $$;

-- Wakes the sequencer (LISTEN external_db_sync_changes). NOTIFY is deduplicated per transaction, so this costs
-- one queue entry per writing transaction. The sequencer's own stamping does not wake itself. An operator can
-- turn notifications off per database (ALTER DATABASE … SET external_db_sync.notify = 'off'); the sequencer
-- then relies on its fallback poll.
CREATE OR REPLACE FUNCTION sync_notify_change() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('external_db_sync.sequencer', true), '') <> 'on'
       AND coalesce(current_setting('external_db_sync.notify', true), '') <> 'off' THEN
        PERFORM pg_notify('external_db_sync_changes', '');
    END IF;
    RETURN NULL;
END $$;

-- "users"."primary_email(_verified)" derive from the user's primary email channel: a change that touches a
-- primary channel marks the owning user (and the old owner, should a channel move).
-- The UPDATE deliberately has no "AND NOT shouldUpdateSequenceId" filter: if the sequencer is stamping that user
-- right now (mark still set in our snapshot), the filter would skip the row without waiting, the stamp would commit
-- with the mark cleared, and the user would never be stamped again with its new email. Without the filter the UPDATE
-- waits for the stamping transaction's row lock and re-marks the user after it.
CREATE OR REPLACE FUNCTION sync_mark_channel_owner() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE "ProjectUser" SET "shouldUpdateSequenceId" = TRUE
        WHERE "tenancyId" = OLD."tenancyId" AND "projectUserId" = OLD."projectUserId";
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (NEW."tenancyId", NEW."projectUserId")
                                                IS DISTINCT FROM (OLD."tenancyId", OLD."projectUserId")) THEN
        UPDATE "ProjectUser" SET "shouldUpdateSequenceId" = TRUE
        WHERE "tenancyId" = NEW."tenancyId" AND "projectUserId" = NEW."projectUserId";
    END IF;
    RETURN NULL;
END $$;

-- The WHEN clauses keep the common paths free of function calls: the sequencer's stamping UPDATE changes
-- "sequenceId" (so it never re-marks), a row that is already marked needs nothing, and an UPDATE that changes
-- nothing is not a change.
CREATE OR REPLACE TRIGGER "ProjectUser_sync_mark_insert" BEFORE INSERT ON "ProjectUser" FOR EACH ROW
    WHEN (NOT NEW."shouldUpdateSequenceId" OR NEW."sequenceId" IS NOT NULL)
    EXECUTE FUNCTION sync_mark_changed();
CREATE OR REPLACE TRIGGER "ProjectUser_sync_mark_update" BEFORE UPDATE ON "ProjectUser" FOR EACH ROW
    WHEN (NOT NEW."shouldUpdateSequenceId" AND OLD."sequenceId" IS NOT DISTINCT FROM NEW."sequenceId"
          AND OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION sync_mark_changed();
CREATE OR REPLACE TRIGGER "ProjectUser_sync_tombstone" AFTER DELETE ON "ProjectUser"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION sync_capture_delete('ProjectUser', 'tenancyId', 'projectUserId');
CREATE OR REPLACE TRIGGER "ProjectUser_sync_notify" AFTER INSERT OR UPDATE OR DELETE ON "ProjectUser"
    FOR EACH STATEMENT EXECUTE FUNCTION sync_notify_change();

CREATE OR REPLACE TRIGGER "ContactChannel_sync_mark_insert" BEFORE INSERT ON "ContactChannel" FOR EACH ROW
    WHEN (NOT NEW."shouldUpdateSequenceId" OR NEW."sequenceId" IS NOT NULL)
    EXECUTE FUNCTION sync_mark_changed();
CREATE OR REPLACE TRIGGER "ContactChannel_sync_mark_update" BEFORE UPDATE ON "ContactChannel" FOR EACH ROW
    WHEN (NOT NEW."shouldUpdateSequenceId" AND OLD."sequenceId" IS NOT DISTINCT FROM NEW."sequenceId"
          AND OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION sync_mark_changed();
CREATE OR REPLACE TRIGGER "ContactChannel_sync_tombstone" AFTER DELETE ON "ContactChannel"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION sync_capture_delete('ContactChannel', 'tenancyId', 'projectUserId', 'id');
CREATE OR REPLACE TRIGGER "ContactChannel_sync_notify" AFTER INSERT OR UPDATE OR DELETE ON "ContactChannel"
    FOR EACH STATEMENT EXECUTE FUNCTION sync_notify_change();
CREATE OR REPLACE TRIGGER "ContactChannel_sync_mark_owner_insert" AFTER INSERT ON "ContactChannel" FOR EACH ROW
    WHEN (NEW."isPrimary" = 'TRUE')
    EXECUTE FUNCTION sync_mark_channel_owner();
CREATE OR REPLACE TRIGGER "ContactChannel_sync_mark_owner_update" AFTER UPDATE ON "ContactChannel" FOR EACH ROW
    WHEN ((OLD."isPrimary" = 'TRUE' OR NEW."isPrimary" = 'TRUE')
          AND (OLD."tenancyId", OLD."projectUserId", OLD."type", OLD."isPrimary", OLD."isVerified", OLD."value")
              IS DISTINCT FROM
              (NEW."tenancyId", NEW."projectUserId", NEW."type", NEW."isPrimary", NEW."isVerified", NEW."value"))
    EXECUTE FUNCTION sync_mark_channel_owner();
CREATE OR REPLACE TRIGGER "ContactChannel_sync_mark_owner_delete" AFTER DELETE ON "ContactChannel" FOR EACH ROW
    WHEN (OLD."isPrimary" = 'TRUE')
    EXECUTE FUNCTION sync_mark_channel_owner();

CREATE OR REPLACE TRIGGER "DeletedRow_sync_notify" AFTER INSERT ON "DeletedRow"
    FOR EACH STATEMENT EXECUTE FUNCTION sync_notify_change();

-- A change to a project's dbSync config (a target added, changed or removed) must sync without any data change:
-- a new target starts from an empty cursor and is backfilled.
CREATE OR REPLACE FUNCTION sync_db_sync_config(config JSONB) RETURNS JSONB
    LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_object_agg(key, value) FROM jsonb_each(config)
    WHERE key = 'dbSync' OR key LIKE 'dbSync.%'
$$;

CREATE OR REPLACE FUNCTION sync_enqueue_on_config_change() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR sync_db_sync_config(NEW."config") IS DISTINCT FROM sync_db_sync_config(OLD."config") THEN
        PERFORM sync_enqueue_tenancies(ARRAY(
            SELECT "id" FROM "Tenancy" WHERE "projectId" = NEW."projectId" AND "branchId" = NEW."branchId"));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER "EnvironmentConfigOverride_sync_enqueue" AFTER INSERT OR UPDATE OF "config"
    ON "EnvironmentConfigOverride" FOR EACH ROW
    EXECUTE FUNCTION sync_enqueue_on_config_change();
