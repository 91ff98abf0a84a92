-- Cheaper capture triggers on the writers' common paths, measured with `load/bench --phases trigger` (pgbench,
-- Stack-shaped writers, with / without the sync layer). Behaviour is unchanged; only work that cannot matter is
-- skipped, and every derived-row mark still WAITS for a concurrent stamp's row lock (see V1's sync_mark_channel_owner):
--
-- * Channel → owner: a sign-up inserts the user and its primary email in one transaction, and the owner mark used to
--   UPDATE the user row it had just inserted (a second row version, its statement trigger, another pg_notify). Now the
--   UPDATE is skipped when the owner's current row version was written by this very transaction and is marked: no
--   other transaction can stamp (or even lock) a row version before the transaction that wrote it commits, so the
--   mark is certain to be seen after our commit, with our channel change in the same snapshot. A version written by
--   a savepoint's subtransaction carries another xid and takes the UPDATE path, as before.
-- * Team → invitations: creating or renaming a team ran an UPDATE on "VerificationCode" even when the team has no
--   invitation (the usual case), and that UPDATE fired the table's statement-level notify trigger. Now an index probe
--   (the same GIN predicate) decides first. Safe: an invitation the probe cannot see is uncommitted (its own insert or
--   update marks it) or does not exist; one it can see is marked by the UPDATE, which waits for a stamp's lock.
SET LOCAL lock_timeout = '10s';

-- One function, no nested call: each PL/pgSQL call costs a writer several microseconds.
CREATE OR REPLACE FUNCTION sync_mark_channel_owner() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND NOT EXISTS (
            SELECT 1 FROM "ProjectUser"
            WHERE "tenancyId" = OLD."tenancyId" AND "projectUserId" = OLD."projectUserId"
              AND "shouldUpdateSequenceId" AND xmin = pg_current_xact_id()::xid) THEN
        -- No "AND NOT shouldUpdateSequenceId" filter: it would skip a row being stamped right now without waiting.
        UPDATE "ProjectUser" SET "shouldUpdateSequenceId" = TRUE
        WHERE "tenancyId" = OLD."tenancyId" AND "projectUserId" = OLD."projectUserId";
    END IF;
    IF (TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (NEW."tenancyId", NEW."projectUserId")
                                                IS DISTINCT FROM (OLD."tenancyId", OLD."projectUserId")))
       AND NOT EXISTS (
            SELECT 1 FROM "ProjectUser"
            WHERE "tenancyId" = NEW."tenancyId" AND "projectUserId" = NEW."projectUserId"
              AND "shouldUpdateSequenceId" AND xmin = pg_current_xact_id()::xid) THEN
        UPDATE "ProjectUser" SET "shouldUpdateSequenceId" = TRUE
        WHERE "tenancyId" = NEW."tenancyId" AND "projectUserId" = NEW."projectUserId";
    END IF;
    RETURN NULL;
END $$;

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
    IF EXISTS (SELECT 1 FROM "VerificationCode"
               WHERE "projectId" = team."mirroredProjectId" AND "branchId" = team."mirroredBranchId"
                 AND "type" = 'TEAM_INVITATION' AND "data" @> jsonb_build_object('team_id', team."teamId"::text)) THEN
        UPDATE "VerificationCode" SET "shouldUpdateSequenceId" = TRUE
        WHERE "projectId" = team."mirroredProjectId" AND "branchId" = team."mirroredBranchId"
          AND "type" = 'TEAM_INVITATION' AND "data" @> jsonb_build_object('team_id', team."teamId"::text);
    END IF;
    RETURN NULL;
END $$;
