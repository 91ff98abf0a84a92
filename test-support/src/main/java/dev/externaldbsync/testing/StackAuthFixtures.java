package dev.externaldbsync.testing;

import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;

/**
 * Writes Stack-Auth-shaped rows with plain SQL, the way a writer application (or an operator's script) would.
 * Supplies the columns Prisma fills client-side ({@code id}s, {@code updatedAt}).
 */
public final class StackAuthFixtures {

    /** A project with its main-branch tenancy. */
    public record Tenancy(UUID id, String projectId, String branchId) {
    }

    private final TestDatabase db;

    public StackAuthFixtures(TestDatabase db) {
        this.db = db;
    }

    public Tenancy createTenancy() {
        String projectId = UUID.randomUUID().toString();
        UUID tenancyId = UUID.randomUUID();
        db.update("""
                INSERT INTO "Project" ("id", "updatedAt", "displayName", "isProductionMode")
                VALUES (?, now(), ?, false)""", projectId, "project " + projectId.substring(0, 8));
        db.update("""
                INSERT INTO "Tenancy" ("id", "updatedAt", "projectId", "branchId", "hasNoOrganization")
                VALUES (?, now(), ?, 'main', 'TRUE')""", tenancyId, projectId);
        return new Tenancy(tenancyId, projectId, "main");
    }

    /** Sets the tenancy's targets (id → connection string), nested form, replacing any earlier config. */
    public void configureTargets(Tenancy tenancy, Map<String, String> connectionStrings) {
        String databases = connectionStrings.entrySet().stream()
                .map(e -> "\"" + e.getKey() + "\": {\"type\": \"postgres\", \"connectionString\": \""
                        + e.getValue().replace("\"", "\\\"") + "\"}")
                .collect(Collectors.joining(", ", "{", "}"));
        setConfig(tenancy, "{\"dbSync\": {\"externalDatabases\": " + databases + "}}");
    }

    /** Writes the raw environment config JSON of the tenancy's project and branch. */
    public void setConfig(Tenancy tenancy, String configJson) {
        db.update("""
                INSERT INTO "EnvironmentConfigOverride" ("projectId", "branchId", "updatedAt", "config")
                VALUES (?, ?, now(), ?::jsonb)
                ON CONFLICT ("projectId", "branchId") DO UPDATE SET "config" = EXCLUDED."config", "updatedAt" = now()""",
                tenancy.projectId(), tenancy.branchId(), configJson);
    }

    /** A user with one primary, verified, auth-enabled email channel; returns the user id. */
    public UUID createUser(Tenancy tenancy, String displayName, String primaryEmail) {
        UUID userId = UUID.randomUUID();
        db.update("""
                INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                           "updatedAt", "displayName", "clientMetadata")
                VALUES (?, ?, ?, ?, now(), ?, '{"plan": "free"}'::jsonb)""",
                tenancy.id(), userId, tenancy.projectId(), tenancy.branchId(), displayName);
        if (primaryEmail != null) {
            addEmail(tenancy, userId, primaryEmail, true);
        }
        return userId;
    }

    /** Adds an email channel; returns its id. */
    public UUID addEmail(Tenancy tenancy, UUID userId, String email, boolean primary) {
        UUID channelId = UUID.randomUUID();
        db.update("""
                INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isPrimary",
                                              "isVerified", "value", "usedForAuth")
                VALUES (?, ?, ?, now(), 'EMAIL', ?::"BooleanTrue", true, ?, ?::"BooleanTrue")""",
                tenancy.id(), userId, channelId, primary ? "TRUE" : null, email, primary ? "TRUE" : null);
        return channelId;
    }

    public void renameUser(Tenancy tenancy, UUID userId, String displayName) {
        db.update("""
                UPDATE "ProjectUser" SET "displayName" = ?, "updatedAt" = now()
                WHERE "tenancyId" = ? AND "projectUserId" = ?""", displayName, tenancy.id(), userId);
    }

    public void deleteUser(Tenancy tenancy, UUID userId) {
        db.update("DELETE FROM \"ProjectUser\" WHERE \"tenancyId\" = ? AND \"projectUserId\" = ?", tenancy.id(), userId);
    }

    public UUID createTeam(Tenancy tenancy, String displayName) {
        UUID teamId = UUID.randomUUID();
        db.update("""
                INSERT INTO "Team" ("tenancyId", "teamId", "mirroredProjectId", "mirroredBranchId", "updatedAt",
                                    "displayName", "clientMetadata")
                VALUES (?, ?, ?, ?, now(), ?, '{"tier": "gold"}'::jsonb)""",
                tenancy.id(), teamId, tenancy.projectId(), tenancy.branchId(), displayName);
        return teamId;
    }

    public void renameTeam(Tenancy tenancy, UUID teamId, String displayName) {
        db.update("""
                UPDATE "Team" SET "displayName" = ?, "updatedAt" = now() WHERE "tenancyId" = ? AND "teamId" = ?""",
                displayName, tenancy.id(), teamId);
    }

    public void deleteTeam(Tenancy tenancy, UUID teamId) {
        db.update("DELETE FROM \"Team\" WHERE \"tenancyId\" = ? AND \"teamId\" = ?", tenancy.id(), teamId);
    }

    public void addMember(Tenancy tenancy, UUID teamId, UUID userId, String memberDisplayName) {
        db.update("""
                INSERT INTO "TeamMember" ("tenancyId", "projectUserId", "teamId", "updatedAt", "displayName")
                VALUES (?, ?, ?, now(), ?)""", tenancy.id(), userId, teamId, memberDisplayName);
    }

    public void removeMember(Tenancy tenancy, UUID teamId, UUID userId) {
        db.update("""
                DELETE FROM "TeamMember" WHERE "tenancyId" = ? AND "projectUserId" = ? AND "teamId" = ?""",
                tenancy.id(), userId, teamId);
    }

    public void grantTeamPermission(Tenancy tenancy, UUID teamId, UUID userId, String permissionId) {
        db.update("""
                INSERT INTO "TeamMemberDirectPermission" ("id", "tenancyId", "projectUserId", "teamId", "permissionId",
                                                          "updatedAt")
                VALUES (gen_random_uuid(), ?, ?, ?, ?, now())""", tenancy.id(), userId, teamId, permissionId);
    }

    public void revokeTeamPermission(Tenancy tenancy, UUID teamId, UUID userId, String permissionId) {
        db.update("""
                DELETE FROM "TeamMemberDirectPermission"
                WHERE "tenancyId" = ? AND "projectUserId" = ? AND "teamId" = ? AND "permissionId" = ?""",
                tenancy.id(), userId, teamId, permissionId);
    }

    public void grantProjectPermission(Tenancy tenancy, UUID userId, String permissionId) {
        db.update("""
                INSERT INTO "ProjectUserDirectPermission" ("id", "tenancyId", "projectUserId", "permissionId", "updatedAt")
                VALUES (gen_random_uuid(), ?, ?, ?, now())""", tenancy.id(), userId, permissionId);
    }

    public void revokeProjectPermission(Tenancy tenancy, UUID userId, String permissionId) {
        db.update("""
                DELETE FROM "ProjectUserDirectPermission" WHERE "tenancyId" = ? AND "projectUserId" = ? AND "permissionId" = ?""",
                tenancy.id(), userId, permissionId);
    }

    /** A team invitation: a TEAM_INVITATION verification code; returns its id. */
    public UUID inviteToTeam(Tenancy tenancy, UUID teamId, String email) {
        UUID id = UUID.randomUUID();
        db.update("""
                INSERT INTO "VerificationCode" ("projectId", "branchId", "id", "updatedAt", "type", "code", "expiresAt",
                                                "data", "method")
                VALUES (?, ?, ?, now(), 'TEAM_INVITATION', ?, now() + interval '7 days',
                        jsonb_build_object('team_id', ?::text), jsonb_build_object('email', ?::text))""",
                tenancy.projectId(), tenancy.branchId(), id, "code-" + id, teamId.toString(), email);
        return id;
    }

    /** A code of another type (a one-time password), which is never synced. */
    public UUID createOneTimePassword(Tenancy tenancy) {
        UUID id = UUID.randomUUID();
        db.update("""
                INSERT INTO "VerificationCode" ("projectId", "branchId", "id", "updatedAt", "type", "code", "expiresAt", "data")
                VALUES (?, ?, ?, now(), 'ONE_TIME_PASSWORD', ?, now() + interval '10 minutes', '{}'::jsonb)""",
                tenancy.projectId(), tenancy.branchId(), id, "otp-" + id);
        return id;
    }

    public void deleteVerificationCode(Tenancy tenancy, UUID id) {
        db.update("""
                DELETE FROM "VerificationCode" WHERE "projectId" = ? AND "branchId" = ? AND "id" = ?""",
                tenancy.projectId(), tenancy.branchId(), id);
    }

    /** A minimal programmatic email (status PREPARING); returns its id. */
    public UUID createEmail(Tenancy tenancy, String templateId) {
        UUID id = UUID.randomUUID();
        db.update("""
                INSERT INTO "EmailOutbox" ("tenancyId", "id", "updatedAt", "tsxSource", "isHighPriority", "to",
                    "extraRenderVariables", "createdWith", "emailProgrammaticCallTemplateId",
                    "shouldSkipDeliverabilityCheck", "scheduledAt")
                VALUES (?, ?, now(), '<Email/>', false, '{"type": "user"}'::jsonb, '{}'::jsonb, 'PROGRAMMATIC_CALL', ?,
                        false, now())""", tenancy.id(), id, templateId);
        return id;
    }

    public UUID setNotificationPreference(Tenancy tenancy, UUID userId, UUID categoryId, boolean enabled) {
        UUID id = UUID.randomUUID();
        db.update("""
                INSERT INTO "UserNotificationPreference" ("id", "tenancyId", "projectUserId", "notificationCategoryId", "enabled")
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT ("tenancyId", "projectUserId", "notificationCategoryId") DO UPDATE SET "enabled" = EXCLUDED."enabled"
                """, id, tenancy.id(), userId, categoryId, enabled);
        return (UUID) db.queryValue("""
                SELECT "id" FROM "UserNotificationPreference"
                WHERE "tenancyId" = ? AND "projectUserId" = ? AND "notificationCategoryId" = ?""",
                tenancy.id(), userId, categoryId);
    }

    public UUID createRefreshToken(Tenancy tenancy, UUID userId) {
        UUID id = UUID.randomUUID();
        db.update("""
                INSERT INTO "ProjectUserRefreshToken" ("id", "tenancyId", "projectUserId", "updatedAt", "refreshToken",
                                                       "expiresAt")
                VALUES (?, ?, ?, now(), ?, now() + interval '30 days')""",
                id, tenancy.id(), userId, "secret-refresh-token-" + id);
        return id;
    }

    /** Deletes a user's sessions, as Stack Auth does alongside deleting the user (refresh tokens have no FK). */
    public void deleteSessionsOf(Tenancy tenancy, UUID userId) {
        db.update("DELETE FROM \"ProjectUserRefreshToken\" WHERE \"tenancyId\" = ? AND \"projectUserId\" = ?",
                tenancy.id(), userId);
    }

    public UUID connectAccount(Tenancy tenancy, UUID userId, String provider, String email) {
        UUID id = UUID.randomUUID();
        db.update("""
                INSERT INTO "ProjectUserOAuthAccount" ("id", "tenancyId", "projectUserId", "configOAuthProviderId",
                                                       "providerAccountId", "email", "updatedAt")
                VALUES (?, ?, ?, ?, ?, ?, now())""", id, tenancy.id(), userId, provider, "acct-" + id, email);
        return id;
    }
}
