-- Every existing row and tombstone becomes one change-log entry, so that nothing changes for a cursor already in a
-- target: a row the old sequencer stamped (and that has not changed since) keeps its "sequenceId" as its entry's
-- stamp; a row still marked (or never stamped: a Stack Auth database that never ran a sync) gets an unstamped entry,
-- which the sequencer stamps like any new change. A key both live and tombstoned gets both entries; the engine's read
-- joins the live row, so the pair converges like any delete and re-create.
--
-- Its own transaction, after V60 has swapped the triggers: the INSERTs only read the source tables (ACCESS SHARE), so
-- writers keep going while a big database is converted; a write after V60 already has its own entry, and at worst a
-- key gets two entries, which the sequencer compacts when it stamps the newer one. A sequencer of the previous version
-- still running during a rollout may stamp a row after this snapshot: its entry here is unstamped and gets a newer
-- stamp, which only re-applies the row.
INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
SELECT "tenancyId", 'ProjectUser', jsonb_build_object('tenancyId', "tenancyId", 'projectUserId', "projectUserId"),
       CASE WHEN NOT "shouldUpdateSequenceId" THEN "sequenceId" END
FROM "ProjectUser";

INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
SELECT "tenancyId", 'ContactChannel',
       jsonb_build_object('tenancyId', "tenancyId", 'projectUserId', "projectUserId", 'id', "id"),
       CASE WHEN NOT "shouldUpdateSequenceId" THEN "sequenceId" END
FROM "ContactChannel";

INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
SELECT "tenancyId", 'Team', jsonb_build_object('tenancyId', "tenancyId", 'teamId', "teamId"),
       CASE WHEN NOT "shouldUpdateSequenceId" THEN "sequenceId" END
FROM "Team";

INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
SELECT "tenancyId", 'TeamMember',
       jsonb_build_object('tenancyId', "tenancyId", 'projectUserId', "projectUserId", 'teamId', "teamId"),
       CASE WHEN NOT "shouldUpdateSequenceId" THEN "sequenceId" END
FROM "TeamMember";

INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
SELECT "tenancyId", 'TeamMemberDirectPermission',
       jsonb_build_object('tenancyId', "tenancyId", 'projectUserId', "projectUserId", 'teamId', "teamId",
                          'permissionId', "permissionId"),
       CASE WHEN NOT "shouldUpdateSequenceId" THEN "sequenceId" END
FROM "TeamMemberDirectPermission";

INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
SELECT tn."id", 'VerificationCode_TEAM_INVITATION', jsonb_build_object('id', v."id"),
       CASE WHEN NOT v."shouldUpdateSequenceId" THEN v."sequenceId" END
FROM "VerificationCode" v
JOIN "Tenancy" tn ON tn."projectId" = v."projectId" AND tn."branchId" = v."branchId"
WHERE v."type" = 'TEAM_INVITATION';

INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
SELECT "tenancyId", 'EmailOutbox', jsonb_build_object('id', "id"),
       CASE WHEN NOT "shouldUpdateSequenceId" THEN "sequenceId" END
FROM "EmailOutbox";

INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
SELECT "tenancyId", 'ProjectUserDirectPermission',
       jsonb_build_object('tenancyId', "tenancyId", 'projectUserId', "projectUserId", 'permissionId', "permissionId"),
       CASE WHEN NOT "shouldUpdateSequenceId" THEN "sequenceId" END
FROM "ProjectUserDirectPermission";

INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
SELECT "tenancyId", 'UserNotificationPreference', jsonb_build_object('tenancyId', "tenancyId", 'id', "id"),
       CASE WHEN NOT "shouldUpdateSequenceId" THEN "sequenceId" END
FROM "UserNotificationPreference";

INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
SELECT "tenancyId", 'ProjectUserRefreshToken', jsonb_build_object('tenancyId', "tenancyId", 'id', "id"),
       CASE WHEN NOT "shouldUpdateSequenceId" THEN "sequenceId" END
FROM "ProjectUserRefreshToken";

INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
SELECT "tenancyId", 'ProjectUserOAuthAccount', jsonb_build_object('tenancyId', "tenancyId", 'id', "id"),
       CASE WHEN NOT "shouldUpdateSequenceId" THEN "sequenceId" END
FROM "ProjectUserOAuthAccount";

-- One entry per tombstoned key: its newest stamp, or unstamped when any of its tombstones still waits for one. Only the
-- names a mapping reads; upstream may have written others.
INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey", "sequenceId")
SELECT "tenancyId", "tableName", "primaryKey",
       CASE WHEN bool_or("sequenceId" IS NULL OR "shouldUpdateSequenceId") THEN NULL ELSE max("sequenceId") END
FROM "DeletedRow"
WHERE "tableName" IN ('ProjectUser', 'ContactChannel', 'Team', 'TeamMember', 'TeamMemberDirectPermission',
                      'VerificationCode_TEAM_INVITATION', 'EmailOutbox', 'ProjectUserDirectPermission',
                      'UserNotificationPreference', 'ProjectUserRefreshToken', 'ProjectUserOAuthAccount')
GROUP BY "tenancyId", "tableName", "primaryKey";
