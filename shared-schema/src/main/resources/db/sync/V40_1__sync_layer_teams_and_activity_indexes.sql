-- Sync indexes for the tables of V40, built CONCURRENTLY (see V1_1 for why).
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "Team_sequenceId_key" ON "Team" ("sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "Team_tenancyId_sequenceId_idx" ON "Team" ("tenancyId", "sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "Team_shouldUpdateSequenceId_idx" ON "Team" ("tenancyId") WHERE "shouldUpdateSequenceId";

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "TeamMember_sequenceId_key" ON "TeamMember" ("sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "TeamMember_tenancyId_sequenceId_idx" ON "TeamMember" ("tenancyId", "sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "TeamMember_shouldUpdateSequenceId_idx"
    ON "TeamMember" ("tenancyId") WHERE "shouldUpdateSequenceId";

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "TeamMemberDirectPermission_sequenceId_key"
    ON "TeamMemberDirectPermission" ("sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "TeamMemberDirectPermission_tenancyId_sequenceId_idx"
    ON "TeamMemberDirectPermission" ("tenancyId", "sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "TeamMemberDirectPermission_shouldUpdateSequenceId_idx"
    ON "TeamMemberDirectPermission" ("tenancyId") WHERE "shouldUpdateSequenceId";

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "VerificationCode_sequenceId_key" ON "VerificationCode" ("sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "VerificationCode_projectId_branchId_sequenceId_idx"
    ON "VerificationCode" ("projectId", "branchId", "sequenceId") WHERE "type" = 'TEAM_INVITATION';
CREATE INDEX CONCURRENTLY IF NOT EXISTS "VerificationCode_shouldUpdateSequenceId_type_idx"
    ON "VerificationCode" ("projectId", "branchId") WHERE "shouldUpdateSequenceId" AND "type" = 'TEAM_INVITATION';

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "EmailOutbox_sequenceId_key" ON "EmailOutbox" ("sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "EmailOutbox_tenancyId_sequenceId_idx" ON "EmailOutbox" ("tenancyId", "sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "EmailOutbox_shouldUpdateSequenceId_idx"
    ON "EmailOutbox" ("tenancyId") WHERE "shouldUpdateSequenceId";

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "ProjectUserDirectPermission_sequenceId_key"
    ON "ProjectUserDirectPermission" ("sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "ProjectUserDirectPermission_tenancyId_sequenceId_idx"
    ON "ProjectUserDirectPermission" ("tenancyId", "sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "ProjectUserDirectPermission_shouldUpdateSequenceId_idx"
    ON "ProjectUserDirectPermission" ("tenancyId") WHERE "shouldUpdateSequenceId";

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "UserNotificationPreference_sequenceId_key"
    ON "UserNotificationPreference" ("sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "UserNotificationPreference_tenancyId_sequenceId_idx"
    ON "UserNotificationPreference" ("tenancyId", "sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "UserNotificationPreference_shouldUpdateSequenceId_idx"
    ON "UserNotificationPreference" ("tenancyId") WHERE "shouldUpdateSequenceId";

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "ProjectUserRefreshToken_sequenceId_key"
    ON "ProjectUserRefreshToken" ("sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "ProjectUserRefreshToken_tenancyId_sequenceId_idx"
    ON "ProjectUserRefreshToken" ("tenancyId", "sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "ProjectUserRefreshToken_shouldUpdateSequenceId_idx"
    ON "ProjectUserRefreshToken" ("tenancyId") WHERE "shouldUpdateSequenceId";

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "ProjectUserOAuthAccount_sequenceId_key"
    ON "ProjectUserOAuthAccount" ("sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "ProjectUserOAuthAccount_tenancyId_sequenceId_idx"
    ON "ProjectUserOAuthAccount" ("tenancyId", "sequenceId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "ProjectUserOAuthAccount_shouldUpdateSequenceId_idx"
    ON "ProjectUserOAuthAccount" ("tenancyId") WHERE "shouldUpdateSequenceId";
