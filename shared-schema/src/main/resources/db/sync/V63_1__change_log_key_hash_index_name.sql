-- The hash index of V63 takes the name of the btree it replaced, so that what refers to "SyncChange_key_idx" by name
-- (plans checked in tests, documentation) stays true. A rename locks only the index (SHARE UPDATE EXCLUSIVE), never
-- the table's writers; IF EXISTS keeps a re-run safe.
SET LOCAL lock_timeout = '5s';
ALTER INDEX IF EXISTS "SyncChange_key_hash_idx" RENAME TO "SyncChange_key_idx";
