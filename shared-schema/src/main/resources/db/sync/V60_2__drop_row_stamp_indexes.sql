-- The sequence-id and flag indexes of the source tables (V1_1, V40_1; upstream's own migrations create the same
-- names): since V60 nothing reads a source row's "sequenceId" or "shouldUpdateSequenceId", and every writer paid for
-- them on every insert (a NULL "sequenceId" is still an index entry), three index inserts per row of
-- "ProjectUser" alone. Dropped CONCURRENTLY, so writers are never blocked (Flyway runs this file outside a transaction;
-- every statement must stay CONCURRENTLY; IF EXISTS keeps re-runs and databases without them safe). To go back to
-- upstream's in-app sync, re-create them from its migrations (schema-reference B.2 lists them).
DROP INDEX CONCURRENTLY IF EXISTS "ProjectUser_sequenceId_key";
DROP INDEX CONCURRENTLY IF EXISTS "ProjectUser_tenancyId_sequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "ProjectUser_shouldUpdateSequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "ContactChannel_sequenceId_key";
DROP INDEX CONCURRENTLY IF EXISTS "ContactChannel_tenancyId_sequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "ContactChannel_shouldUpdateSequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "Team_sequenceId_key";
DROP INDEX CONCURRENTLY IF EXISTS "Team_tenancyId_sequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "Team_shouldUpdateSequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "TeamMember_sequenceId_key";
DROP INDEX CONCURRENTLY IF EXISTS "TeamMember_tenancyId_sequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "TeamMember_shouldUpdateSequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "TeamMemberDirectPermission_sequenceId_key";
DROP INDEX CONCURRENTLY IF EXISTS "TeamMemberDirectPermission_tenancyId_sequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "TeamMemberDirectPermission_shouldUpdateSequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "VerificationCode_sequenceId_key";
DROP INDEX CONCURRENTLY IF EXISTS "VerificationCode_projectId_branchId_sequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "VerificationCode_shouldUpdateSequenceId_type_idx";
DROP INDEX CONCURRENTLY IF EXISTS "EmailOutbox_sequenceId_key";
DROP INDEX CONCURRENTLY IF EXISTS "EmailOutbox_tenancyId_sequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "EmailOutbox_shouldUpdateSequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "ProjectUserDirectPermission_sequenceId_key";
DROP INDEX CONCURRENTLY IF EXISTS "ProjectUserDirectPermission_tenancyId_sequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "ProjectUserDirectPermission_shouldUpdateSequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "UserNotificationPreference_sequenceId_key";
DROP INDEX CONCURRENTLY IF EXISTS "UserNotificationPreference_tenancyId_sequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "UserNotificationPreference_shouldUpdateSequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "ProjectUserRefreshToken_sequenceId_key";
DROP INDEX CONCURRENTLY IF EXISTS "ProjectUserRefreshToken_tenancyId_sequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "ProjectUserRefreshToken_shouldUpdateSequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "ProjectUserOAuthAccount_sequenceId_key";
DROP INDEX CONCURRENTLY IF EXISTS "ProjectUserOAuthAccount_tenancyId_sequenceId_idx";
DROP INDEX CONCURRENTLY IF EXISTS "ProjectUserOAuthAccount_shouldUpdateSequenceId_idx";
