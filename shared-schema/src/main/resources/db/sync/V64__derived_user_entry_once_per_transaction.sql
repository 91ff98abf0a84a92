-- A primary channel written in the transaction that wrote its user adds no second "ProjectUser" entry (issue 17).
-- Sign-up inserts the user and its primary email in one transaction, and a bulk import does the same per batch. V60
-- wrote the user's own entry and then, for the channel, a derived entry of the same key: two entries that become
-- visible at the same commit, where one stamp covers both (the engine reads the live user, primary email included,
-- at a snapshot after the stamp, which the sequencer draws after this commit). The second entry cost the writer an
-- insert into the log's heap and its three indexes, and the sequencer a stamp or a compaction.
--
-- "Written by this transaction" is the entry's xmin being the top-level transaction id: such an entry commits or
-- rolls back with the channel itself, whatever savepoint the channel is written in. An entry written inside a
-- savepoint carries the subtransaction's id and is not matched (that savepoint could roll back alone), nor is any
-- entry of another transaction: an unstamped entry that another transaction committed may be stamped before this one
-- commits, and the engine could then read the user without this channel. Those keep the derived entry, as before.
--
-- The key lookup goes through the hash index on "primaryKey" (fenced by OFFSET 0, so that the "sequenceId" filter
-- cannot steer it onto the partial indexes, whose statistics lag a bulk load), and it is a scalar subquery, so it runs
-- per derived row and is never turned into a join over the whole log. enable_seqscan is off for the function for the
-- same reason the sequencer turns it off: a plan cached while the log was small must not scan it once it is large.
--
-- A deleted channel still writes its owner's entry: a user deleted with its channels (the cascade) writes the channel
-- entries before the user's own, so there is nothing to match, and a derived entry is all that is kept of the change.
CREATE OR REPLACE FUNCTION sync_change_contact_channel_rows() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey")
    SELECT r."tenancyId", 'ContactChannel',
           jsonb_build_object('tenancyId', r."tenancyId", 'projectUserId', r."projectUserId", 'id', r."id")
    FROM changed_rows AS r
    UNION ALL
    SELECT owner."tenancyId", 'ProjectUser', owner."key"
    FROM (SELECT r."tenancyId",
                 jsonb_build_object('tenancyId', r."tenancyId", 'projectUserId', r."projectUserId") AS "key"
          FROM changed_rows AS r
          WHERE r."isPrimary" = 'TRUE') AS owner
    WHERE TG_OP = 'DELETE'
       OR (SELECT 1
           FROM (SELECT k."sequenceId", k.xmin FROM "SyncChange" AS k
                 WHERE k."primaryKey" = owner."key" AND k."tenancyId" = owner."tenancyId"
                   AND k."tableName" = 'ProjectUser'
                 OFFSET 0) AS own
           WHERE own."sequenceId" IS NULL AND own.xmin = pg_current_xact_id()::xid
           LIMIT 1) IS NULL;
    RETURN NULL;
END $$;

-- CREATE OR REPLACE FUNCTION resets a function's attributes (see V62): owner's rights and the pinned search path again.
DO $do$
BEGIN
    EXECUTE format('ALTER FUNCTION sync_change_contact_channel_rows() SECURITY DEFINER '
                   'SET search_path = %I, pg_temp SET enable_seqscan = off', current_schema());
END $do$;
