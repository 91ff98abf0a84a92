-- Stack-Auth-compatible base tables for teams, memberships, permissions, invitations (verification codes), emails,
-- notification preferences, sessions (refresh tokens) and connected accounts (schema-reference A.8–A.16).
-- Foreign keys and their ON DELETE actions follow Stack Auth: a user's memberships, permissions, preferences and
-- connected accounts cascade with it; refresh tokens and verification codes have no foreign key at all.

CREATE TYPE "VerificationCodeType" AS ENUM ('ONE_TIME_PASSWORD', 'CONTACT_CHANNEL_VERIFICATION', 'PASSWORD_RESET',
    'TEAM_INVITATION', 'MFA_ATTEMPT', 'PASSKEY_REGISTRATION_CHALLENGE', 'PASSKEY_AUTHENTICATION_CHALLENGE',
    'INTEGRATION_PROJECT_TRANSFER', 'PURCHASE_URL');
CREATE TYPE "EmailOutboxStatus" AS ENUM ('PAUSED', 'PREPARING', 'RENDERING', 'RENDER_ERROR', 'SCHEDULED', 'QUEUED',
    'SENDING', 'SERVER_ERROR', 'SENT', 'SKIPPED', 'DELIVERY_DELAYED', 'BOUNCED', 'OPENED', 'CLICKED', 'MARKED_AS_SPAM');
CREATE TYPE "EmailOutboxSimpleStatus" AS ENUM ('IN_PROGRESS', 'ERROR', 'OK');
CREATE TYPE "EmailOutboxSkippedReason" AS ENUM ('USER_UNSUBSCRIBED', 'USER_ACCOUNT_DELETED',
    'USER_HAS_NO_PRIMARY_EMAIL', 'NO_EMAIL_PROVIDED', 'LIKELY_NOT_DELIVERABLE', 'MANUALLY_CANCELLED');
CREATE TYPE "EmailOutboxCreatedWith" AS ENUM ('DRAFT', 'PROGRAMMATIC_CALL');

CREATE TABLE "Team" (
    "tenancyId"              UUID         NOT NULL,
    "teamId"                 UUID         NOT NULL,
    "mirroredProjectId"      TEXT         NOT NULL,
    "mirroredBranchId"       TEXT         NOT NULL,
    "createdAt"              TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"              TIMESTAMP(3) NOT NULL,
    "displayName"            TEXT         NOT NULL,
    "profileImageUrl"        TEXT,
    "clientMetadata"         JSONB,
    "clientReadOnlyMetadata" JSONB,
    "serverMetadata"         JSONB,
    CONSTRAINT "Team_pkey" PRIMARY KEY ("tenancyId", "teamId")
);
CREATE UNIQUE INDEX "Team_mirroredProjectId_mirroredBranchId_teamId_key"
    ON "Team" ("mirroredProjectId", "mirroredBranchId", "teamId");

CREATE TABLE "TeamMember" (
    "tenancyId"       UUID          NOT NULL,
    "projectUserId"   UUID          NOT NULL,
    "teamId"          UUID          NOT NULL,
    "createdAt"       TIMESTAMP(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"       TIMESTAMP(3)  NOT NULL,
    "isSelected"      "BooleanTrue",
    "displayName"     TEXT,
    "profileImageUrl" TEXT,
    CONSTRAINT "TeamMember_pkey" PRIMARY KEY ("tenancyId", "projectUserId", "teamId"),
    CONSTRAINT "TeamMember_tenancyId_projectUserId_fkey" FOREIGN KEY ("tenancyId", "projectUserId")
        REFERENCES "ProjectUser" ("tenancyId", "projectUserId") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "TeamMember_tenancyId_teamId_fkey" FOREIGN KEY ("tenancyId", "teamId")
        REFERENCES "Team" ("tenancyId", "teamId") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "TeamMember_tenancyId_projectUserId_isSelected_key"
    ON "TeamMember" ("tenancyId", "projectUserId", "isSelected");
CREATE INDEX "TeamMember_projectUserId_isSelected_idx" ON "TeamMember" ("tenancyId", "projectUserId", "isSelected");

CREATE TABLE "TeamMemberDirectPermission" (
    "id"            UUID         NOT NULL,
    "tenancyId"     UUID         NOT NULL,
    "projectUserId" UUID         NOT NULL,
    "teamId"        UUID         NOT NULL,
    "permissionId"  TEXT         NOT NULL,
    "createdAt"     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"     TIMESTAMP(3) NOT NULL,
    CONSTRAINT "TeamMemberDirectPermission_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "TeamMemberDirectPermission_tenancyId_projectUserId_teamId_fkey"
        FOREIGN KEY ("tenancyId", "projectUserId", "teamId")
        REFERENCES "TeamMember" ("tenancyId", "projectUserId", "teamId") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "TeamMemberDirectPermission_tenancyId_projectUserId_teamId_p_key"
    ON "TeamMemberDirectPermission" ("tenancyId", "projectUserId", "teamId", "permissionId");

CREATE TABLE "ProjectUserDirectPermission" (
    "id"            UUID         NOT NULL,
    "tenancyId"     UUID         NOT NULL,
    "projectUserId" UUID         NOT NULL,
    "permissionId"  TEXT         NOT NULL,
    "createdAt"     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"     TIMESTAMP(3) NOT NULL,
    CONSTRAINT "ProjectUserDirectPermission_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "ProjectUserDirectPermission_tenancyId_projectUserId_fkey" FOREIGN KEY ("tenancyId", "projectUserId")
        REFERENCES "ProjectUser" ("tenancyId", "projectUserId") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "ProjectUserDirectPermission_tenancyId_projectUserId_permiss_key"
    ON "ProjectUserDirectPermission" ("tenancyId", "projectUserId", "permissionId");

CREATE TABLE "VerificationCode" (
    "projectId"    TEXT                   NOT NULL,
    "branchId"     TEXT                   NOT NULL,
    "id"           UUID                   NOT NULL,
    "createdAt"    TIMESTAMP(3)           NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"    TIMESTAMP(3)           NOT NULL,
    "type"         "VerificationCodeType" NOT NULL,
    "code"         TEXT                   NOT NULL,
    "expiresAt"    TIMESTAMP(3)           NOT NULL,
    "usedAt"       TIMESTAMP(3),
    "redirectUrl"  TEXT,
    "data"         JSONB                  NOT NULL,
    "method"       JSONB                  NOT NULL DEFAULT 'null'::jsonb,
    "attemptCount" INTEGER                NOT NULL DEFAULT 0,
    CONSTRAINT "VerificationCode_pkey" PRIMARY KEY ("projectId", "branchId", "id")
);
CREATE UNIQUE INDEX "VerificationCode_projectId_branchId_code_key" ON "VerificationCode" ("projectId", "branchId", "code");
CREATE INDEX "VerificationCode_data_idx" ON "VerificationCode" USING GIN ("data" jsonb_path_ops);

CREATE TABLE "EmailOutbox" (
    "tenancyId"                       UUID                       NOT NULL,
    "id"                              UUID                       NOT NULL,
    "createdAt"                       TIMESTAMP(3)               NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"                       TIMESTAMP(3)               NOT NULL,
    "tsxSource"                       TEXT                       NOT NULL,
    "themeId"                         TEXT,
    "isHighPriority"                  BOOLEAN                    NOT NULL,
    "to"                              JSONB                      NOT NULL,
    "extraRenderVariables"            JSONB                      NOT NULL,
    "overrideSubject"                 TEXT,
    "overrideNotificationCategoryId"  TEXT,
    "shouldSkipDeliverabilityCheck"   BOOLEAN                    NOT NULL,
    "createdWith"                     "EmailOutboxCreatedWith"   NOT NULL,
    "emailDraftId"                    TEXT,
    "emailProgrammaticCallTemplateId" TEXT,
    "isPaused"                        BOOLEAN                    NOT NULL DEFAULT false,
    "renderedByWorkerId"              UUID,
    "startedRenderingAt"              TIMESTAMP(3),
    "finishedRenderingAt"             TIMESTAMP(3),
    "renderErrorExternalMessage"      TEXT,
    "renderErrorExternalDetails"      JSONB,
    "renderErrorInternalMessage"      TEXT,
    "renderErrorInternalDetails"      JSONB,
    "renderedHtml"                    TEXT,
    "renderedText"                    TEXT,
    "renderedSubject"                 TEXT,
    "renderedIsTransactional"         BOOLEAN,
    "renderedNotificationCategoryId"  TEXT,
    "scheduledAt"                     TIMESTAMP(3)               NOT NULL,
    "isQueued"                        BOOLEAN                    NOT NULL DEFAULT false,
    "startedSendingAt"                TIMESTAMP(3),
    "finishedSendingAt"               TIMESTAMP(3),
    "sendRetries"                     INTEGER                    NOT NULL DEFAULT 0,
    "nextSendRetryAt"                 TIMESTAMP(3),
    "sendAttemptErrors"               JSONB,
    "sendServerErrorExternalMessage"  TEXT,
    "sendServerErrorExternalDetails"  JSONB,
    "sendServerErrorInternalMessage"  TEXT,
    "sendServerErrorInternalDetails"  JSONB,
    "skippedReason"                   "EmailOutboxSkippedReason",
    "skippedDetails"                  JSONB,
    "canHaveDeliveryInfo"             BOOLEAN,
    "deliveredAt"                     TIMESTAMP(3),
    "deliveryDelayedAt"               TIMESTAMP(3),
    "bouncedAt"                       TIMESTAMP(3),
    "openedAt"                        TIMESTAMP(3),
    "clickedAt"                       TIMESTAMP(3),
    "unsubscribedAt"                  TIMESTAMP(3),
    "markedAsSpamAt"                  TIMESTAMP(3),
    "status" "EmailOutboxStatus" NOT NULL GENERATED ALWAYS AS (
        CASE
            WHEN "isPaused" THEN 'PAUSED'::"EmailOutboxStatus"
            WHEN "skippedReason" IS NOT NULL THEN 'SKIPPED'::"EmailOutboxStatus"
            WHEN "startedRenderingAt" IS NULL THEN 'PREPARING'::"EmailOutboxStatus"
            WHEN "finishedRenderingAt" IS NULL THEN 'RENDERING'::"EmailOutboxStatus"
            WHEN "renderErrorExternalMessage" IS NOT NULL THEN 'RENDER_ERROR'::"EmailOutboxStatus"
            WHEN "startedSendingAt" IS NULL AND NOT "isQueued" THEN 'SCHEDULED'::"EmailOutboxStatus"
            WHEN "startedSendingAt" IS NULL THEN 'QUEUED'::"EmailOutboxStatus"
            WHEN "finishedSendingAt" IS NULL THEN 'SENDING'::"EmailOutboxStatus"
            WHEN "canHaveDeliveryInfo" IS TRUE AND "deliveredAt" IS NULL THEN 'SENDING'::"EmailOutboxStatus"
            WHEN "sendServerErrorExternalMessage" IS NOT NULL THEN 'SERVER_ERROR'::"EmailOutboxStatus"
            WHEN "canHaveDeliveryInfo" IS FALSE THEN 'SENT'::"EmailOutboxStatus"
            WHEN "markedAsSpamAt" IS NOT NULL THEN 'MARKED_AS_SPAM'::"EmailOutboxStatus"
            WHEN "clickedAt" IS NOT NULL THEN 'CLICKED'::"EmailOutboxStatus"
            WHEN "openedAt" IS NOT NULL THEN 'OPENED'::"EmailOutboxStatus"
            WHEN "bouncedAt" IS NOT NULL THEN 'BOUNCED'::"EmailOutboxStatus"
            WHEN "deliveryDelayedAt" IS NOT NULL THEN 'DELIVERY_DELAYED'::"EmailOutboxStatus"
            ELSE 'SENT'::"EmailOutboxStatus"
        END) STORED,
    "simpleStatus" "EmailOutboxSimpleStatus" NOT NULL GENERATED ALWAYS AS (
        CASE
            WHEN "skippedReason" IS NOT NULL THEN 'OK'::"EmailOutboxSimpleStatus"
            WHEN "renderErrorExternalMessage" IS NOT NULL OR "sendServerErrorExternalMessage" IS NOT NULL
                 OR "bouncedAt" IS NOT NULL THEN 'ERROR'::"EmailOutboxSimpleStatus"
            WHEN "finishedSendingAt" IS NOT NULL AND ("canHaveDeliveryInfo" IS FALSE OR "deliveredAt" IS NOT NULL)
                THEN 'OK'::"EmailOutboxSimpleStatus"
            WHEN "finishedSendingAt" IS NULL OR ("canHaveDeliveryInfo" IS TRUE AND "deliveredAt" IS NULL)
                THEN 'IN_PROGRESS'::"EmailOutboxSimpleStatus"
            ELSE 'OK'::"EmailOutboxSimpleStatus"
        END) STORED,
    "priority" INTEGER NOT NULL GENERATED ALWAYS AS (
        (CASE WHEN "isHighPriority" THEN 100 ELSE 0 END)
        + (CASE WHEN "renderedIsTransactional" IS TRUE THEN 10 ELSE 0 END)) STORED,
    "scheduledAtIfNotYetQueued" TIMESTAMP(3) GENERATED ALWAYS AS (
        CASE WHEN "isQueued" THEN NULL ELSE "scheduledAt" END) STORED,
    "sentAt" TIMESTAMP(3) GENERATED ALWAYS AS (
        CASE WHEN "canHaveDeliveryInfo" IS TRUE THEN "deliveredAt"
             WHEN "canHaveDeliveryInfo" IS FALSE THEN "finishedSendingAt" END) STORED,
    CONSTRAINT "EmailOutbox_pkey" PRIMARY KEY ("tenancyId", "id"),
    CONSTRAINT "EmailOutbox_tenancyId_fkey" FOREIGN KEY ("tenancyId") REFERENCES "Tenancy" ("id")
        ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "EmailOutbox_draft_check" CHECK (("createdWith" = 'DRAFT') = ("emailDraftId" IS NOT NULL)),
    CONSTRAINT "EmailOutbox_programmatic_call_check"
        CHECK ("emailProgrammaticCallTemplateId" IS NULL OR "createdWith" = 'PROGRAMMATIC_CALL'),
    CONSTRAINT "EmailOutbox_render_worker_check" CHECK (("renderedByWorkerId" IS NULL) = ("startedRenderingAt" IS NULL)),
    CONSTRAINT "EmailOutbox_finished_rendering_check"
        CHECK ("finishedRenderingAt" IS NULL OR "startedRenderingAt" IS NOT NULL),
    CONSTRAINT "EmailOutbox_finished_sending_check" CHECK ("finishedSendingAt" IS NULL OR "startedSendingAt" IS NOT NULL),
    CONSTRAINT "EmailOutbox_render_result_check" CHECK (
        ("finishedRenderingAt" IS NULL AND "renderedHtml" IS NULL AND "renderedText" IS NULL AND "renderedSubject" IS NULL
            AND "renderedIsTransactional" IS NULL AND "renderedNotificationCategoryId" IS NULL
            AND "renderErrorExternalMessage" IS NULL AND "renderErrorExternalDetails" IS NULL
            AND "renderErrorInternalMessage" IS NULL AND "renderErrorInternalDetails" IS NULL)
        OR ("finishedRenderingAt" IS NOT NULL
            AND ("renderedHtml" IS NOT NULL OR "renderedText" IS NOT NULL OR "renderedSubject" IS NOT NULL
                 OR "renderedIsTransactional" IS NOT NULL OR "renderedNotificationCategoryId" IS NOT NULL)
            AND "renderErrorExternalMessage" IS NULL AND "renderErrorExternalDetails" IS NULL
            AND "renderErrorInternalMessage" IS NULL AND "renderErrorInternalDetails" IS NULL)
        OR ("finishedRenderingAt" IS NOT NULL
            AND "renderedHtml" IS NULL AND "renderedText" IS NULL AND "renderedSubject" IS NULL
            AND "renderedIsTransactional" IS NULL AND "renderedNotificationCategoryId" IS NULL
            AND "renderErrorExternalMessage" IS NOT NULL AND "renderErrorExternalDetails" IS NOT NULL
            AND "renderErrorInternalMessage" IS NOT NULL AND "renderErrorInternalDetails" IS NOT NULL)),
    CONSTRAINT "EmailOutbox_send_result_check" CHECK ("finishedSendingAt" IS NOT NULL OR (
        "sendServerErrorExternalMessage" IS NULL AND "sendServerErrorExternalDetails" IS NULL
        AND "sendServerErrorInternalMessage" IS NULL AND "sendServerErrorInternalDetails" IS NULL
        AND "canHaveDeliveryInfo" IS NULL AND "deliveredAt" IS NULL AND "deliveryDelayedAt" IS NULL
        AND "bouncedAt" IS NULL AND "openedAt" IS NULL AND "clickedAt" IS NULL AND "unsubscribedAt" IS NULL
        AND "markedAsSpamAt" IS NULL)),
    CONSTRAINT "EmailOutbox_server_error_all_or_none_check" CHECK (
        ("sendServerErrorExternalMessage" IS NULL) = ("sendServerErrorExternalDetails" IS NULL)
        AND ("sendServerErrorExternalMessage" IS NULL) = ("sendServerErrorInternalMessage" IS NULL)
        AND ("sendServerErrorExternalMessage" IS NULL) = ("sendServerErrorInternalDetails" IS NULL)),
    CONSTRAINT "EmailOutbox_delivery_info_check" CHECK (("canHaveDeliveryInfo" IS NULL) = ("finishedSendingAt" IS NULL)),
    CONSTRAINT "EmailOutbox_no_delivery_info_check" CHECK ("canHaveDeliveryInfo" IS DISTINCT FROM false OR (
        "deliveredAt" IS NULL AND "deliveryDelayedAt" IS NULL AND "bouncedAt" IS NULL)),
    CONSTRAINT "EmailOutbox_single_delivery_outcome_check" CHECK (
        (("deliveredAt" IS NOT NULL)::int + ("deliveryDelayedAt" IS NOT NULL)::int + ("bouncedAt" IS NOT NULL)::int) <= 1),
    CONSTRAINT "EmailOutbox_click_needs_open_check" CHECK ("clickedAt" IS NULL OR "openedAt" IS NOT NULL),
    CONSTRAINT "EmailOutbox_skipped_details_check" CHECK (("skippedReason" IS NULL) = ("skippedDetails" IS NULL)),
    CONSTRAINT "EmailOutbox_retry_check" CHECK (
        ("nextSendRetryAt" IS NULL AND "sendAttemptErrors" IS NULL) OR "sendRetries" > 0),
    CONSTRAINT "EmailOutbox_retry_finished_check" CHECK ("finishedSendingAt" IS NULL OR "nextSendRetryAt" IS NULL)
);
CREATE INDEX "EmailOutbox_status_tenancy_idx" ON "EmailOutbox" ("tenancyId", "status");
CREATE INDEX "EmailOutbox_simple_status_tenancy_idx" ON "EmailOutbox" ("tenancyId", "simpleStatus");

CREATE TABLE "UserNotificationPreference" (
    "id"                     UUID    NOT NULL,
    "tenancyId"              UUID    NOT NULL,
    "projectUserId"          UUID    NOT NULL,
    "notificationCategoryId" UUID    NOT NULL,
    "enabled"                BOOLEAN NOT NULL,
    CONSTRAINT "UserNotificationPreference_pkey" PRIMARY KEY ("tenancyId", "id"),
    CONSTRAINT "UserNotificationPreference_tenancyId_projectUserId_fkey" FOREIGN KEY ("tenancyId", "projectUserId")
        REFERENCES "ProjectUser" ("tenancyId", "projectUserId") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "UserNotificationPreference_tenancyId_projectUserId_notifica_key"
    ON "UserNotificationPreference" ("tenancyId", "projectUserId", "notificationCategoryId");

CREATE TABLE "ProjectUserRefreshToken" (
    "id"                 UUID         NOT NULL,
    "tenancyId"          UUID         NOT NULL,
    "projectUserId"      UUID         NOT NULL,
    "createdAt"          TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"          TIMESTAMP(3) NOT NULL,
    "lastActiveAt"       TIMESTAMP(3) NOT NULL DEFAULT now(),
    "lastActiveAtIpInfo" JSONB,
    "refreshToken"       TEXT         NOT NULL,
    "expiresAt"          TIMESTAMP(3),
    "isImpersonation"    BOOLEAN      NOT NULL DEFAULT false,
    CONSTRAINT "ProjectUserRefreshToken_pkey" PRIMARY KEY ("tenancyId", "id")
);
CREATE UNIQUE INDEX "ProjectUserRefreshToken_refreshToken_key" ON "ProjectUserRefreshToken" ("refreshToken");

CREATE TABLE "ProjectUserOAuthAccount" (
    "id"                     UUID         NOT NULL,
    "tenancyId"              UUID         NOT NULL,
    "projectUserId"          UUID,
    "configOAuthProviderId"  TEXT         NOT NULL,
    "providerAccountId"      TEXT         NOT NULL,
    "email"                  TEXT,
    "createdAt"              TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"              TIMESTAMP(3) NOT NULL,
    "allowConnectedAccounts" BOOLEAN      NOT NULL DEFAULT true,
    "allowSignIn"            BOOLEAN      NOT NULL DEFAULT true,
    CONSTRAINT "ProjectUserOAuthAccount_pkey" PRIMARY KEY ("tenancyId", "id"),
    CONSTRAINT "ProjectUserOAuthAccount_tenancyId_projectUserId_fkey" FOREIGN KEY ("tenancyId", "projectUserId")
        REFERENCES "ProjectUser" ("tenancyId", "projectUserId") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "ProjectUserOAuthAccount_tenancyId_configOAuthProviderId_pro_key"
    ON "ProjectUserOAuthAccount" ("tenancyId", "configOAuthProviderId", "projectUserId", "providerAccountId");
CREATE INDEX "ProjectUserOAuthAccount_tenancyId_projectUserId_idx"
    ON "ProjectUserOAuthAccount" ("tenancyId", "projectUserId");
