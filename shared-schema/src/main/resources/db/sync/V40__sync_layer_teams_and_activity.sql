-- Change capture for the nine other synced tables (teams, memberships, permissions, invitations, emails, notification
-- preferences, sessions, connected accounts). Same pattern as V1: columns are catalog-only additions, indexes come
-- CONCURRENTLY in V40_1, triggers mark inserts/updates, tombstone deletes (cascaded ones too: triggers fire for
-- rows a foreign key deletes) and wake the sequencer.
SET LOCAL lock_timeout = '10s';

ALTER TABLE "Team" ADD COLUMN IF NOT EXISTS "sequenceId" BIGINT,
    ADD COLUMN IF NOT EXISTS "shouldUpdateSequenceId" BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE "TeamMember" ADD COLUMN IF NOT EXISTS "sequenceId" BIGINT,
    ADD COLUMN IF NOT EXISTS "shouldUpdateSequenceId" BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE "TeamMemberDirectPermission" ADD COLUMN IF NOT EXISTS "sequenceId" BIGINT,
    ADD COLUMN IF NOT EXISTS "shouldUpdateSequenceId" BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE "VerificationCode" ADD COLUMN IF NOT EXISTS "sequenceId" BIGINT,
    ADD COLUMN IF NOT EXISTS "shouldUpdateSequenceId" BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE "EmailOutbox" ADD COLUMN IF NOT EXISTS "sequenceId" BIGINT,
    ADD COLUMN IF NOT EXISTS "shouldUpdateSequenceId" BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE "ProjectUserDirectPermission" ADD COLUMN IF NOT EXISTS "sequenceId" BIGINT,
    ADD COLUMN IF NOT EXISTS "shouldUpdateSequenceId" BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE "UserNotificationPreference" ADD COLUMN IF NOT EXISTS "sequenceId" BIGINT,
    ADD COLUMN IF NOT EXISTS "shouldUpdateSequenceId" BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE "ProjectUserRefreshToken" ADD COLUMN IF NOT EXISTS "sequenceId" BIGINT,
    ADD COLUMN IF NOT EXISTS "shouldUpdateSequenceId" BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE "ProjectUserOAuthAccount" ADD COLUMN IF NOT EXISTS "sequenceId" BIGINT,
    ADD COLUMN IF NOT EXISTS "shouldUpdateSequenceId" BOOLEAN NOT NULL DEFAULT TRUE;

-- Tables with a "tenancyId" column share V1's functions.
DO $$
DECLARE
    spec RECORD;
BEGIN
    FOR spec IN SELECT * FROM (VALUES
            ('Team',                        ARRAY['tenancyId', 'teamId']),
            ('TeamMember',                  ARRAY['tenancyId', 'projectUserId', 'teamId']),
            ('TeamMemberDirectPermission',  ARRAY['tenancyId', 'projectUserId', 'teamId', 'permissionId']),
            ('EmailOutbox',                 ARRAY['id']),
            ('ProjectUserDirectPermission', ARRAY['tenancyId', 'projectUserId', 'permissionId']),
            ('UserNotificationPreference',  ARRAY['tenancyId', 'id']),
            ('ProjectUserRefreshToken',     ARRAY['tenancyId', 'id']),
            ('ProjectUserOAuthAccount',     ARRAY['tenancyId', 'id'])) AS t(table_name, key_columns)
    LOOP
        EXECUTE format($f$
            CREATE OR REPLACE TRIGGER %I BEFORE INSERT ON %I FOR EACH ROW
                WHEN (NOT NEW."shouldUpdateSequenceId" OR NEW."sequenceId" IS NOT NULL)
                EXECUTE FUNCTION sync_mark_changed()$f$, spec.table_name || '_sync_mark_insert', spec.table_name);
        -- A BEFORE trigger cannot compare whole rows of a table with generated columns ("EmailOutbox"): there,
        -- every update that is not the sequencer's own counts as a change.
        EXECUTE format($f$
            CREATE OR REPLACE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW
                WHEN (NOT NEW."shouldUpdateSequenceId" AND OLD."sequenceId" IS NOT DISTINCT FROM NEW."sequenceId" %s)
                EXECUTE FUNCTION sync_mark_changed()$f$, spec.table_name || '_sync_mark_update', spec.table_name,
            CASE WHEN spec.table_name = 'EmailOutbox' THEN '' ELSE 'AND OLD.* IS DISTINCT FROM NEW.*' END);
        EXECUTE format($f$
            CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
                EXECUTE FUNCTION sync_capture_delete(%s)$f$, spec.table_name || '_sync_tombstone', spec.table_name,
            (SELECT string_agg(quote_literal(a), ', ') FROM unnest(spec.table_name || spec.key_columns) AS a));
        EXECUTE format($f$
            CREATE OR REPLACE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I
                FOR EACH STATEMENT EXECUTE FUNCTION sync_notify_change()$f$, spec.table_name || '_sync_notify',
            spec.table_name);
    END LOOP;
END $$;

-- "VerificationCode" has no "tenancyId": its tenancy is the one of its (projectId, branchId). Only team invitations
-- are synced, so only they are marked; every other code type (one-time passwords, …) is left unmarked and costs
-- the sequencer nothing.
CREATE OR REPLACE FUNCTION sync_mark_invitation() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
BEGIN
    NEW."shouldUpdateSequenceId" := (NEW."type" = 'TEAM_INVITATION');
    IF TG_OP = 'INSERT' THEN
        NEW."sequenceId" := NULL;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION sync_capture_invitation_delete() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "DeletedRow" ("id", "tenancyId", "tableName", "primaryKey", "data", "deletedAt", "shouldUpdateSequenceId")
    SELECT gen_random_uuid(), t."id", 'VerificationCode_TEAM_INVITATION', jsonb_build_object('id', o."id"),
           to_jsonb(o) - 'code', now(), TRUE
    FROM old_rows AS o
    JOIN "Tenancy" AS t ON t."projectId" = o."projectId" AND t."branchId" = o."branchId"
    WHERE o."type" = 'TEAM_INVITATION';
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER "VerificationCode_sync_mark_insert" BEFORE INSERT ON "VerificationCode" FOR EACH ROW
    EXECUTE FUNCTION sync_mark_invitation();
CREATE OR REPLACE TRIGGER "VerificationCode_sync_mark_update" BEFORE UPDATE ON "VerificationCode" FOR EACH ROW
    WHEN (NEW."type" = 'TEAM_INVITATION' AND NOT NEW."shouldUpdateSequenceId"
          AND OLD."sequenceId" IS NOT DISTINCT FROM NEW."sequenceId" AND OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION sync_mark_invitation();
CREATE OR REPLACE TRIGGER "VerificationCode_sync_tombstone" AFTER DELETE ON "VerificationCode"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION sync_capture_invitation_delete();
CREATE OR REPLACE TRIGGER "VerificationCode_sync_notify" AFTER INSERT OR UPDATE OR DELETE ON "VerificationCode"
    FOR EACH STATEMENT EXECUTE FUNCTION sync_notify_change();

-- "team_invitations"."team_display_name" derives from the team, and an invitation whose team is gone is exported as
-- deleted: creating, renaming or deleting a team marks that team's invitations (found through the GIN index on
-- "data"), and only those. No "AND NOT shouldUpdateSequenceId" filter, for the reason given in V1 for
-- sync_mark_channel_owner: an invitation being stamped right now must be re-marked after that stamp commits.
CREATE OR REPLACE FUNCTION sync_mark_team_invitations() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
DECLARE
    team RECORD;
BEGIN
    IF TG_OP = 'DELETE' THEN
        team := OLD;
    ELSE
        team := NEW;
    END IF;
    UPDATE "VerificationCode" SET "shouldUpdateSequenceId" = TRUE
    WHERE "projectId" = team."mirroredProjectId" AND "branchId" = team."mirroredBranchId"
      AND "type" = 'TEAM_INVITATION' AND "data" @> jsonb_build_object('team_id', team."teamId"::text);
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER "Team_sync_mark_invitations" AFTER INSERT OR DELETE ON "Team" FOR EACH ROW
    EXECUTE FUNCTION sync_mark_team_invitations();
CREATE OR REPLACE TRIGGER "Team_sync_mark_invitations_on_rename" AFTER UPDATE ON "Team" FOR EACH ROW
    WHEN (OLD."displayName" IS DISTINCT FROM NEW."displayName")
    EXECUTE FUNCTION sync_mark_team_invitations();
