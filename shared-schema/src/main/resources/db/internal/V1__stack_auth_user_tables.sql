-- Stack-Auth-compatible base tables for users and contact channels (schema-reference Part A).
-- Names, types, nullability, defaults, keys and foreign keys match Stack Auth's Prisma schema, so that SQL
-- written for a Stack Auth database runs unchanged here. These tables exist in this product only for
-- standalone use, development and tests: against an operator's Stack Auth database only db/sync is applied.
-- Prisma's @default(uuid()) and @updatedAt are client-side: id-like columns and "updatedAt" have no DB default.

CREATE TYPE "BooleanTrue" AS ENUM ('TRUE');
CREATE TYPE "ContactChannelType" AS ENUM ('EMAIL');

CREATE TABLE "Project" (
    "id"                  TEXT         NOT NULL,
    "createdAt"           TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"           TIMESTAMP(3) NOT NULL,
    "displayName"         TEXT         NOT NULL,
    "description"         TEXT         NOT NULL DEFAULT '',
    "isProductionMode"    BOOLEAN      NOT NULL,
    "projectConfigOverride" JSONB,
    "logoUrl"             TEXT,
    "logoFullUrl"         TEXT,
    "logoDarkModeUrl"     TEXT,
    "logoFullDarkModeUrl" TEXT,
    "ownerTeamId"         UUID,
    "stripeAccountId"     TEXT,
    "onboardingStatus"    TEXT         NOT NULL DEFAULT 'completed',
    CONSTRAINT "Project_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "Project_onboardingStatus_valid" CHECK ("onboardingStatus" IN (
        'config_choice', 'apps_selection', 'auth_setup', 'domain_setup', 'email_theme_setup',
        'payments_setup', 'welcome', 'completed'))
);
CREATE INDEX "Project_ownerTeamId_idx" ON "Project" ("ownerTeamId");

CREATE TABLE "Tenancy" (
    "id"                          UUID          NOT NULL,
    "createdAt"                   TIMESTAMP(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"                   TIMESTAMP(3)  NOT NULL,
    "projectId"                   TEXT          NOT NULL,
    "branchId"                    TEXT          NOT NULL,
    "organizationId"              UUID,
    "hasNoOrganization"           "BooleanTrue",
    "emailCapacityBoostExpiresAt" TIMESTAMP(3),
    CONSTRAINT "Tenancy_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "Tenancy_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project" ("id")
        ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "Tenancy_projectId_branchId_organizationId_key"
    ON "Tenancy" ("projectId", "branchId", "organizationId");
CREATE UNIQUE INDEX "Tenancy_projectId_branchId_hasNoOrganization_key"
    ON "Tenancy" ("projectId", "branchId", "hasNoOrganization");

CREATE TABLE "EnvironmentConfigOverride" (
    "projectId" TEXT         NOT NULL,
    "branchId"  TEXT         NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "config"    JSONB        NOT NULL,
    CONSTRAINT "EnvironmentConfigOverride_pkey" PRIMARY KEY ("projectId", "branchId"),
    CONSTRAINT "EnvironmentConfigOverride_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project" ("id")
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE "ProjectUser" (
    "tenancyId"                       UUID         NOT NULL,
    "projectUserId"                   UUID         NOT NULL,
    "mirroredProjectId"               TEXT         NOT NULL,
    "mirroredBranchId"                TEXT         NOT NULL,
    "projectId"                       TEXT,
    "createdAt"                       TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"                       TIMESTAMP(3) NOT NULL,
    "lastActiveAt"                    TIMESTAMP(3) NOT NULL DEFAULT now(),
    "displayName"                     TEXT,
    "profileImageUrl"                 TEXT,
    "serverMetadata"                  JSONB,
    "clientMetadata"                  JSONB,
    "clientReadOnlyMetadata"          JSONB,
    "isAnonymous"                     BOOLEAN      NOT NULL DEFAULT false,
    "requiresTotpMfa"                 BOOLEAN      NOT NULL DEFAULT false,
    "totpSecret"                      BYTEA,
    "restrictedByAdmin"               BOOLEAN      NOT NULL DEFAULT false,
    "restrictedByAdminReason"         TEXT,
    "restrictedByAdminPrivateDetails" TEXT,
    "signedUpAt"                      TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "signUpIp"                        TEXT,
    "signUpIpTrusted"                 BOOLEAN,
    "signUpEmailNormalized"           TEXT,
    "signUpEmailBase"                 TEXT,
    "signUpCountryCode"               TEXT,
    "signUpRiskScoreBot"              SMALLINT     NOT NULL DEFAULT 0,
    "signUpRiskScoreFreeTrialAbuse"   SMALLINT     NOT NULL DEFAULT 0,
    CONSTRAINT "ProjectUser_pkey" PRIMARY KEY ("tenancyId", "projectUserId"),
    CONSTRAINT "ProjectUser_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project" ("id")
        ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "ProjectUser_restricted_by_admin_consistency" CHECK (
        "restrictedByAdmin" = true
        OR ("restrictedByAdmin" = false AND "restrictedByAdminReason" IS NULL
            AND "restrictedByAdminPrivateDetails" IS NULL)),
    CONSTRAINT "ProjectUser_signUpRiskScoreBot_range" CHECK ("signUpRiskScoreBot" BETWEEN 0 AND 100),
    CONSTRAINT "ProjectUser_signUpRiskScoreFreeTrialAbuse_range"
        CHECK ("signUpRiskScoreFreeTrialAbuse" BETWEEN 0 AND 100),
    CONSTRAINT "ProjectUser_signedUpAt_not_null" CHECK ("signedUpAt" IS NOT NULL)
);
CREATE UNIQUE INDEX "ProjectUser_mirroredProjectId_mirroredBranchId_projectUserI_key"
    ON "ProjectUser" ("mirroredProjectId", "mirroredBranchId", "projectUserId");
CREATE INDEX "ProjectUser_displayName_asc" ON "ProjectUser" ("tenancyId", "displayName" ASC);
CREATE INDEX "ProjectUser_displayName_desc" ON "ProjectUser" ("tenancyId", "displayName" DESC);
CREATE INDEX "ProjectUser_createdAt_asc" ON "ProjectUser" ("tenancyId", "createdAt" ASC);
CREATE INDEX "ProjectUser_createdAt_desc" ON "ProjectUser" ("tenancyId", "createdAt" DESC);
CREATE INDEX "ProjectUser_tenancyId_isAnonymous_signedUpAt_idx"
    ON "ProjectUser" ("tenancyId", "isAnonymous", "signedUpAt");
CREATE INDEX "ProjectUser_tenancyId_isAnonymous_signUpIp_signedUpAt_idx"
    ON "ProjectUser" ("tenancyId", "isAnonymous", "signUpIp", "signedUpAt");
CREATE INDEX "ProjectUser_tenancyId_isAnonymous_signUpEmailNormalized_idx"
    ON "ProjectUser" ("tenancyId", "isAnonymous", "signUpEmailNormalized", "signedUpAt");
CREATE INDEX "ProjectUser_tenancyId_isAnonymous_signUpEmailBase_idx"
    ON "ProjectUser" ("tenancyId", "isAnonymous", "signUpEmailBase", "signedUpAt");

CREATE TABLE "ContactChannel" (
    "tenancyId"     UUID                 NOT NULL,
    "projectUserId" UUID                 NOT NULL,
    "id"            UUID                 NOT NULL,
    "createdAt"     TIMESTAMP(3)         NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"     TIMESTAMP(3)         NOT NULL,
    "type"          "ContactChannelType" NOT NULL,
    "isPrimary"     "BooleanTrue",
    "isVerified"    BOOLEAN              NOT NULL,
    "value"         TEXT                 NOT NULL,
    "usedForAuth"   "BooleanTrue",
    CONSTRAINT "ContactChannel_pkey" PRIMARY KEY ("tenancyId", "projectUserId", "id"),
    CONSTRAINT "ContactChannel_tenancyId_projectUserId_fkey" FOREIGN KEY ("tenancyId", "projectUserId")
        REFERENCES "ProjectUser" ("tenancyId", "projectUserId") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "ContactChannel_tenancyId_projectUserId_type_isPrimary_key"
    ON "ContactChannel" ("tenancyId", "projectUserId", "type", "isPrimary");
CREATE UNIQUE INDEX "ContactChannel_tenancyId_projectUserId_type_value_key"
    ON "ContactChannel" ("tenancyId", "projectUserId", "type", "value");
CREATE UNIQUE INDEX "ContactChannel_tenancyId_type_value_usedForAuth_key"
    ON "ContactChannel" ("tenancyId", "type", "value", "usedForAuth");

CREATE TABLE "AuthMethod" (
    "tenancyId"     UUID         NOT NULL,
    "id"            UUID         NOT NULL,
    "projectUserId" UUID         NOT NULL,
    "createdAt"     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"     TIMESTAMP(3) NOT NULL,
    CONSTRAINT "AuthMethod_pkey" PRIMARY KEY ("tenancyId", "id"),
    CONSTRAINT "AuthMethod_tenancyId_projectUserId_fkey" FOREIGN KEY ("tenancyId", "projectUserId")
        REFERENCES "ProjectUser" ("tenancyId", "projectUserId") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "AuthMethod_tenancyId_projectUserId_idx" ON "AuthMethod" ("tenancyId", "projectUserId");

CREATE TABLE "PasswordAuthMethod" (
    "tenancyId"     UUID         NOT NULL,
    "authMethodId"  UUID         NOT NULL,
    "projectUserId" UUID         NOT NULL,
    "createdAt"     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"     TIMESTAMP(3) NOT NULL,
    "passwordHash"  TEXT         NOT NULL,
    CONSTRAINT "PasswordAuthMethod_pkey" PRIMARY KEY ("tenancyId", "authMethodId"),
    CONSTRAINT "PasswordAuthMethod_tenancyId_authMethodId_fkey" FOREIGN KEY ("tenancyId", "authMethodId")
        REFERENCES "AuthMethod" ("tenancyId", "id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "PasswordAuthMethod_tenancyId_projectUserId_fkey" FOREIGN KEY ("tenancyId", "projectUserId")
        REFERENCES "ProjectUser" ("tenancyId", "projectUserId") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "PasswordAuthMethod_tenancyId_projectUserId_key"
    ON "PasswordAuthMethod" ("tenancyId", "projectUserId");
