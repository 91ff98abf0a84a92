-- Update capture by column list (issue 17). V60's update triggers filtered with a WHEN clause. PostgreSQL compiles a
-- trigger's WHEN expression once per statement, not once per session, so every single-row UPDATE of a source table
-- paid for compiling it (the writers' common case: one user, one team per statement), whether or not a mapped column
-- changed. Now each update trigger is `AFTER UPDATE OF <the columns some mapping reads>`: the executor tests the
-- statement's SET list against the trigger's column bitmap, so an update of only unmapped columns
-- ("ProjectUser"."lastActiveAt", "updatedAt", a code's "attemptCount") fires nothing at all. A statement that names a
-- mapped column but leaves its value unchanged does fire, and the function compares the same columns first and returns
-- without writing; PL/pgSQL keeps that comparison compiled for the session.
--
-- The column list and the function's first comparison are the same list, checked against the mappings' SQL by
-- CaptureColumnsTest. A generated column in a list fires the trigger when a column it is generated from is set
-- ("EmailOutbox"."status" from "isQueued"). What PostgreSQL does not count is a column assigned by a BEFORE UPDATE
-- trigger: neither Stack Auth's schema nor this sync layer has one that assigns a mapped column (the explicit-mark
-- trigger of V60 only clears "shouldUpdateSequenceId", and captures the row itself); a deployment that adds such a
-- trigger must name the column in its UPDATE or set "shouldUpdateSequenceId" (README, "Capture that writers barely notice").
--
-- Locking, as in V60: the eleven source tables at once, first, failing fast rather than queueing the writers.
SET LOCAL lock_timeout = '5s';
LOCK TABLE "ProjectUser", "ContactChannel", "Team", "TeamMember", "TeamMemberDirectPermission", "EmailOutbox",
    "ProjectUserDirectPermission", "UserNotificationPreference", "ProjectUserRefreshToken", "ProjectUserOAuthAccount",
    "VerificationCode" IN ACCESS EXCLUSIVE MODE;

-- Tables whose rows carry their tenancy and map to one target table each: the same lists as V60's.
DO $do$
DECLARE
    spec RECORD;
    key_json_new TEXT;
    key_json_old TEXT;
    key_tuple_new TEXT;
    key_tuple_old TEXT;
    watched_old TEXT;
    watched_new TEXT;
    watched_list TEXT;
BEGIN
    FOR spec IN SELECT * FROM (VALUES
            ('ProjectUser', ARRAY['tenancyId', 'projectUserId'],
             ARRAY['displayName', 'profileImageUrl', 'signedUpAt', 'createdAt', 'clientMetadata',
                   'clientReadOnlyMetadata', 'serverMetadata', 'isAnonymous']),
            ('TeamMember', ARRAY['tenancyId', 'projectUserId', 'teamId'],
             ARRAY['displayName', 'profileImageUrl', 'createdAt']),
            ('TeamMemberDirectPermission', ARRAY['tenancyId', 'projectUserId', 'teamId', 'permissionId'],
             ARRAY['createdAt']),
            ('EmailOutbox', ARRAY['id'],
             ARRAY['tenancyId', 'status', 'simpleStatus', 'createdWith', 'emailDraftId',
                   'emailProgrammaticCallTemplateId', 'themeId', 'isHighPriority', 'renderedIsTransactional',
                   'renderedSubject', 'renderedNotificationCategoryId', 'startedRenderingAt', 'finishedRenderingAt',
                   'renderErrorExternalMessage', 'scheduledAt', 'createdAt', 'startedSendingAt', 'finishedSendingAt',
                   'sendServerErrorExternalMessage', 'sentAt', 'deliveredAt', 'openedAt', 'clickedAt',
                   'unsubscribedAt', 'markedAsSpamAt', 'bouncedAt', 'deliveryDelayedAt', 'canHaveDeliveryInfo',
                   'skippedReason', 'skippedDetails', 'sendRetries', 'isPaused']),
            ('ProjectUserDirectPermission', ARRAY['tenancyId', 'projectUserId', 'permissionId'],
             ARRAY['createdAt']),
            ('UserNotificationPreference', ARRAY['tenancyId', 'id'],
             ARRAY['projectUserId', 'notificationCategoryId', 'enabled']),
            ('ProjectUserRefreshToken', ARRAY['tenancyId', 'id'],
             ARRAY['projectUserId', 'createdAt', 'lastActiveAt', 'isImpersonation', 'expiresAt']),
            ('ProjectUserOAuthAccount', ARRAY['tenancyId', 'id'],
             ARRAY['projectUserId', 'configOAuthProviderId', 'providerAccountId', 'email', 'createdAt']))
            AS s(table_name, key_columns, read_columns)
    LOOP
        SELECT string_agg(format('%L, NEW.%I', k, k), ', '),
               string_agg(format('%L, OLD.%I', k, k), ', '),
               string_agg(format('NEW.%I', k), ', '),
               string_agg(format('OLD.%I', k), ', ')
        INTO key_json_new, key_json_old, key_tuple_new, key_tuple_old
        FROM unnest(spec.key_columns) AS k;
        SELECT string_agg(format('OLD.%I', c), ', '), string_agg(format('NEW.%I', c), ', '),
               string_agg(format('%I', c), ', ')
        INTO watched_old, watched_new, watched_list
        FROM unnest(spec.key_columns || spec.read_columns) AS c;

        EXECUTE format($f$
            CREATE OR REPLACE FUNCTION %I() RETURNS TRIGGER LANGUAGE plpgsql AS $b$
            BEGIN
                IF (%s) IS NOT DISTINCT FROM (%s) THEN
                    RETURN NULL;
                END IF;
                INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey")
                VALUES (NEW."tenancyId", %L, jsonb_build_object(%s));
                IF (%s, OLD."tenancyId") IS DISTINCT FROM (%s, NEW."tenancyId") THEN
                    INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey")
                    VALUES (OLD."tenancyId", %L, jsonb_build_object(%s));
                END IF;
                RETURN NULL;
            END $b$$f$, 'sync_change_' || spec.table_name || '_update', watched_old, watched_new,
            spec.table_name, key_json_new, key_tuple_old, key_tuple_new, spec.table_name, key_json_old);
        EXECUTE format($f$
            CREATE OR REPLACE TRIGGER %I AFTER UPDATE OF %s ON %I FOR EACH ROW EXECUTE FUNCTION %I()$f$,
            spec.table_name || '_sync_change_update', watched_list, spec.table_name,
            'sync_change_' || spec.table_name || '_update');
    END LOOP;
END $do$;

-- "ContactChannel": V60's function already starts with the full comparison (its own entry) and nests the owner's
-- derived entry inside a narrower one, so only the trigger changes.
CREATE OR REPLACE TRIGGER "ContactChannel_sync_change_update"
    AFTER UPDATE OF "tenancyId", "projectUserId", "id", "type", "value", "isPrimary", "isVerified", "usedForAuth",
                    "createdAt"
    ON "ContactChannel" FOR EACH ROW EXECUTE FUNCTION sync_change_contact_channel_update();

-- "VerificationCode": the type guard that was part of the WHEN clause moves into the function's first comparison, so
-- that a one-time password's update returns before any query.
CREATE OR REPLACE FUNCTION sync_change_invitation_update() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (OLD."type" = 'TEAM_INVITATION' OR NEW."type" = 'TEAM_INVITATION')
       OR (OLD."projectId", OLD."branchId", OLD."id", OLD."type", OLD."data", OLD."method", OLD."expiresAt",
           OLD."createdAt")
          IS NOT DISTINCT FROM
          (NEW."projectId", NEW."branchId", NEW."id", NEW."type", NEW."data", NEW."method", NEW."expiresAt",
           NEW."createdAt") THEN
        RETURN NULL;
    END IF;
    INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey")
    SELECT DISTINCT tn."id", 'VerificationCode_TEAM_INVITATION', jsonb_build_object('id', c."id")
    FROM (VALUES (OLD."projectId", OLD."branchId", OLD."id", OLD."type"),
                 (NEW."projectId", NEW."branchId", NEW."id", NEW."type")) AS c("projectId", "branchId", "id", "type")
    JOIN "Tenancy" AS tn ON tn."projectId" = c."projectId" AND tn."branchId" = c."branchId"
    WHERE c."type" = 'TEAM_INVITATION';
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER "VerificationCode_sync_change_update"
    AFTER UPDATE OF "projectId", "branchId", "id", "type", "data", "method", "expiresAt", "createdAt"
    ON "VerificationCode" FOR EACH ROW EXECUTE FUNCTION sync_change_invitation_update();

-- "Team": the comparison the WHEN clause made becomes the function's first; the invitations' narrower one follows.
CREATE OR REPLACE FUNCTION sync_change_team_update() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD."tenancyId", OLD."teamId", OLD."mirroredProjectId", OLD."mirroredBranchId", OLD."displayName",
        OLD."profileImageUrl", OLD."createdAt", OLD."clientMetadata", OLD."clientReadOnlyMetadata", OLD."serverMetadata")
       IS NOT DISTINCT FROM
       (NEW."tenancyId", NEW."teamId", NEW."mirroredProjectId", NEW."mirroredBranchId", NEW."displayName",
        NEW."profileImageUrl", NEW."createdAt", NEW."clientMetadata", NEW."clientReadOnlyMetadata", NEW."serverMetadata") THEN
        RETURN NULL;
    END IF;
    INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey")
    SELECT DISTINCT t."tenancyId", 'Team', jsonb_build_object('tenancyId', t."tenancyId", 'teamId', t."teamId")
    FROM (VALUES (OLD."tenancyId", OLD."teamId"), (NEW."tenancyId", NEW."teamId")) AS t("tenancyId", "teamId");
    IF (OLD."tenancyId", OLD."mirroredProjectId", OLD."mirroredBranchId", OLD."teamId", OLD."displayName")
       IS DISTINCT FROM (NEW."tenancyId", NEW."mirroredProjectId", NEW."mirroredBranchId", NEW."teamId", NEW."displayName") THEN
        INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey")
        SELECT DISTINCT t."tenancyId", 'VerificationCode_TEAM_INVITATION', jsonb_build_object('id', v."id")
        FROM (VALUES (OLD."tenancyId", OLD."mirroredProjectId", OLD."mirroredBranchId", OLD."teamId"),
                     (NEW."tenancyId", NEW."mirroredProjectId", NEW."mirroredBranchId", NEW."teamId"))
             AS t("tenancyId", "mirroredProjectId", "mirroredBranchId", "teamId")
        JOIN "VerificationCode" AS v
          ON v."projectId" = t."mirroredProjectId" AND v."branchId" = t."mirroredBranchId"
         AND v."type" = 'TEAM_INVITATION' AND v."data" @> jsonb_build_object('team_id', t."teamId"::text);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER "Team_sync_change_update"
    AFTER UPDATE OF "tenancyId", "teamId", "mirroredProjectId", "mirroredBranchId", "displayName", "profileImageUrl",
                    "createdAt", "clientMetadata", "clientReadOnlyMetadata", "serverMetadata"
    ON "Team" FOR EACH ROW EXECUTE FUNCTION sync_change_team_update();

-- CREATE OR REPLACE FUNCTION resets a function's attributes: the replaced functions run as their owner again, with the
-- search path pinned (see V60's "Privileges").
DO $do$
DECLARE
    f REGPROCEDURE;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = current_schema()::regnamespace AND p.proname LIKE 'sync\_change\_%\_update'
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
END $do$;
