-- Sync indexes on the sequenced tables, built CONCURRENTLY so that writers are not blocked while a table of
-- millions of rows is indexed (Flyway runs this file outside a transaction; every statement must stay
-- CONCURRENTLY, and IF NOT EXISTS keeps re-runs and upstream databases safe).
-- The flag index is partial: it holds only rows waiting for a sequence id, so once the backlog is stamped it
-- stays tiny and the sequencer's "what is marked, per tenancy" lookups never scan the table.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "ProjectUser_sequenceId_key" ON "ProjectUser" ("sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "ProjectUser_tenancyId_sequenceId_idx" ON "ProjectUser" ("tenancyId", "sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "ProjectUser_shouldUpdateSequenceId_idx"
    ON "ProjectUser" ("tenancyId") WHERE "shouldUpdateSequenceId";

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "ContactChannel_sequenceId_key" ON "ContactChannel" ("sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "ContactChannel_tenancyId_sequenceId_idx"
    ON "ContactChannel" ("tenancyId", "sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "ContactChannel_shouldUpdateSequenceId_idx"
    ON "ContactChannel" ("tenancyId") WHERE "shouldUpdateSequenceId";

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "DeletedRow_sequenceId_key" ON "DeletedRow" ("sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "DeletedRow_tenancyId_tableName_sequenceId_idx"
    ON "DeletedRow" ("tenancyId", "tableName", "sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "DeletedRow_shouldUpdateSequenceId_idx"
    ON "DeletedRow" ("tenancyId") WHERE "shouldUpdateSequenceId";
