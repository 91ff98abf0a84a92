package dev.externaldbsync.schema;

import java.util.List;
import java.util.Map;

/**
 * The eleven source tables as the change log names them (contract of issue 17): each table's entry name, the key
 * columns of its entries, and a minimal row (its NOT NULL columns) for tests that drop the tables' foreign keys.
 * Placeholders in {@link #INSERTS}: {@code ${t}} the tenancy id, {@code ${p}} its project id (both bound as text).
 */
final class SourceTables {

    static final List<String> NAMES = List.of("ProjectUser", "ContactChannel", "Team", "TeamMember",
            "TeamMemberDirectPermission", "VerificationCode", "EmailOutbox", "ProjectUserDirectPermission",
            "UserNotificationPreference", "ProjectUserRefreshToken", "ProjectUserOAuthAccount");

    static final Map<String, List<String>> ENTRY_KEYS = Map.ofEntries(
            Map.entry("ProjectUser", List.of("tenancyId", "projectUserId")),
            Map.entry("ContactChannel", List.of("tenancyId", "projectUserId", "id")),
            Map.entry("Team", List.of("tenancyId", "teamId")),
            Map.entry("TeamMember", List.of("tenancyId", "projectUserId", "teamId")),
            Map.entry("TeamMemberDirectPermission", List.of("tenancyId", "projectUserId", "teamId", "permissionId")),
            Map.entry("VerificationCode", List.of("id")),
            Map.entry("EmailOutbox", List.of("id")),
            Map.entry("ProjectUserDirectPermission", List.of("tenancyId", "projectUserId", "permissionId")),
            Map.entry("UserNotificationPreference", List.of("tenancyId", "id")),
            Map.entry("ProjectUserRefreshToken", List.of("tenancyId", "id")),
            Map.entry("ProjectUserOAuthAccount", List.of("tenancyId", "id")));

    static final Map<String, String> INSERTS = Map.ofEntries(
            Map.entry("ProjectUser", """
                    INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId",
                                               "updatedAt")
                    VALUES (${t}::uuid, gen_random_uuid(), ${p}, 'main', now())"""),
            Map.entry("ContactChannel", """
                    INSERT INTO "ContactChannel" ("tenancyId", "projectUserId", "id", "updatedAt", "type", "isVerified",
                                                  "value")
                    VALUES (${t}::uuid, gen_random_uuid(), gen_random_uuid(), now(), 'EMAIL', false, 'x@example.com')"""),
            Map.entry("Team", """
                    INSERT INTO "Team" ("tenancyId", "teamId", "mirroredProjectId", "mirroredBranchId", "updatedAt",
                                        "displayName")
                    VALUES (${t}::uuid, gen_random_uuid(), ${p}, 'main', now(), 'team')"""),
            Map.entry("TeamMember", """
                    INSERT INTO "TeamMember" ("tenancyId", "projectUserId", "teamId", "updatedAt")
                    VALUES (${t}::uuid, gen_random_uuid(), gen_random_uuid(), now())"""),
            Map.entry("TeamMemberDirectPermission", """
                    INSERT INTO "TeamMemberDirectPermission" ("id", "tenancyId", "projectUserId", "teamId",
                                                              "permissionId", "updatedAt")
                    VALUES (gen_random_uuid(), ${t}::uuid, gen_random_uuid(), gen_random_uuid(), 'read', now())"""),
            Map.entry("VerificationCode", """
                    INSERT INTO "VerificationCode" ("projectId", "branchId", "id", "updatedAt", "type", "code",
                                                    "expiresAt", "data", "method")
                    VALUES (${p}, 'main', gen_random_uuid(), now(), 'TEAM_INVITATION', gen_random_uuid()::text,
                            now() + interval '7 days', jsonb_build_object('team_id', gen_random_uuid()::text),
                            '{"email": "i@example.com"}')"""),
            Map.entry("EmailOutbox", """
                    INSERT INTO "EmailOutbox" ("tenancyId", "id", "updatedAt", "tsxSource", "isHighPriority", "to",
                        "extraRenderVariables", "createdWith", "emailProgrammaticCallTemplateId",
                        "shouldSkipDeliverabilityCheck", "scheduledAt")
                    VALUES (${t}::uuid, gen_random_uuid(), now(), '<Email/>', false, '{"type": "user"}', '{}',
                            'PROGRAMMATIC_CALL', 'welcome', false, now())"""),
            Map.entry("ProjectUserDirectPermission", """
                    INSERT INTO "ProjectUserDirectPermission" ("id", "tenancyId", "projectUserId", "permissionId",
                                                               "updatedAt")
                    VALUES (gen_random_uuid(), ${t}::uuid, gen_random_uuid(), 'admin', now())"""),
            Map.entry("UserNotificationPreference", """
                    INSERT INTO "UserNotificationPreference" ("id", "tenancyId", "projectUserId",
                                                              "notificationCategoryId", "enabled")
                    VALUES (gen_random_uuid(), ${t}::uuid, gen_random_uuid(), gen_random_uuid(), true)"""),
            Map.entry("ProjectUserRefreshToken", """
                    INSERT INTO "ProjectUserRefreshToken" ("id", "tenancyId", "projectUserId", "updatedAt",
                                                           "refreshToken", "expiresAt")
                    VALUES (gen_random_uuid(), ${t}::uuid, gen_random_uuid(), now(), gen_random_uuid()::text,
                            now() + interval '30 days')"""),
            Map.entry("ProjectUserOAuthAccount", """
                    INSERT INTO "ProjectUserOAuthAccount" ("id", "tenancyId", "projectUserId", "configOAuthProviderId",
                                                           "providerAccountId", "email", "updatedAt")
                    VALUES (gen_random_uuid(), ${t}::uuid, gen_random_uuid(), 'github', gen_random_uuid()::text,
                            'a@example.com', now())"""));

    /** The change log's name for a table's entries. */
    static String entryTable(String table) {
        return table.equals("VerificationCode") ? "VerificationCode_TEAM_INVITATION" : table;
    }

    private SourceTables() {
    }
}
