-- "SyncChange_key_idx" becomes a hash index on "primaryKey" (issues 17 and 18). Every reader of it looks one key up
-- by equality, and never by range or in key order: the sequencer's compaction (a key's entries, to delete the ones a
-- new stamp makes redundant), the verifier's projection and pending checks (a key's newest stamp, whether it has an
-- unstamped entry). The btree of V60 over ("tenancyId", "tableName", "primaryKey", "sequenceId") made each of those
-- lookups, and each insert into it (every entry a writer appends, and again every stamp, which is never a HOT update),
-- a descent with a jsonb comparison per step: jsonb_cmp detoasts both sides and walks them with iterators, comparing
-- every string value under the database collation. The sequencer spent most of a one-tenancy batch there. A hash index
-- hashes the key once per insert or lookup and compares 4-byte hashes, and it is a fraction of the btree's size (it
-- stores the hash, not the jsonb).
--
-- One column only (hash indexes have one): the tenancy and the table name are checked on the entry. A key carries its
-- tenancy wherever the table has one, and the other keys ({"id": …} of invitations and outbox rows) are uuids, so
-- equal keys of other tenancies or tables are all but absent. Still not partial, for the reason V60 gives: a key lookup
-- must never be served by the stamped index, and a query that says nothing about "sequenceId" (or says "above the
-- cursor or unstamped") cannot be.
--
-- Flyway runs this file outside a transaction (every statement must stay CONCURRENTLY): writers and the sequencer are
-- never blocked while a log of millions of entries is indexed. A failed run can be re-run: the first statement drops
-- a half-built new index. V63_1 gives the new index the old name (a rename cannot share a file with CONCURRENTLY).
DROP INDEX CONCURRENTLY IF EXISTS "SyncChange_key_hash_idx";
CREATE INDEX CONCURRENTLY IF NOT EXISTS "SyncChange_key_hash_idx" ON "SyncChange" USING hash ("primaryKey");
DROP INDEX CONCURRENTLY IF EXISTS "SyncChange_key_idx";
