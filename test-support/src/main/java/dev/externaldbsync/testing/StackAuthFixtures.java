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
}
