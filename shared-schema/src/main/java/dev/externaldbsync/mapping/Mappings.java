package dev.externaldbsync.mapping;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * The registry of mappings, in the order the engine syncs them per target (schema-reference Part D.1), and the
 * target-side bookkeeping every mapping shares: the cursor table and the schema version. Constants only;
 * thread-safe. Adding a mapping means adding a constant here and to {@link #ALL}: the engine loops over the registry.
 */
public final class Mappings {

    private static final String NOT_DELETED = "false AS \"is_deleted\"";

    private static final List<TargetColumn> USER_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("display_name", "text"),
            new TargetColumn("profile_image_url", "text"),
            new TargetColumn("primary_email", "text"),
            new TargetColumn("primary_email_verified", "boolean"),
            new TargetColumn("signed_up_at", "timestamp"),
            new TargetColumn("client_metadata", "jsonb"),
            new TargetColumn("client_read_only_metadata", "jsonb"),
            new TargetColumn("server_metadata", "jsonb"),
            new TargetColumn("is_anonymous", "boolean"));

    /** The target columns of a live {@code users} row, then its {@code sequence_id}; from {@code u} (a "ProjectUser"). */
    private static final String USERS_LIVE = """
            SELECT u."projectUserId" AS "id", u."displayName" AS "display_name",
                   u."profileImageUrl" AS "profile_image_url",
                   pe."value" AS "primary_email", COALESCE(pe."isVerified", false) AS "primary_email_verified",
                   COALESCE(u."signedUpAt", u."createdAt") AS "signed_up_at",
                   COALESCE(u."clientMetadata", '{}'::jsonb) AS "client_metadata",
                   COALESCE(u."clientReadOnlyMetadata", '{}'::jsonb) AS "client_read_only_metadata",
                   COALESCE(u."serverMetadata", '{}'::jsonb) AS "server_metadata",
                   u."isAnonymous" AS "is_anonymous",
                   u."sequenceId" AS "sequence_id", %s
            FROM "ProjectUser" u
            LEFT JOIN LATERAL (
                SELECT c."value", c."isVerified" FROM "ContactChannel" c
                WHERE c."tenancyId" = u."tenancyId" AND c."projectUserId" = u."projectUserId"
                  AND c."type" = 'EMAIL' AND c."isPrimary" = 'TRUE'
                LIMIT 1) pe ON true
            """;

    /** {@code users} ← {@code "ProjectUser"} with its primary email (schema-reference C.2). */
    public static final Mapping USERS = Mapping.of("users", "ProjectUser", "ProjectUser", List.of("id"), USER_COLUMNS,
            live(USERS_LIVE.formatted(NOT_DELETED), "u"),
            tombstones("""
                    (d."primaryKey" ->> 'projectUserId')::uuid, NULL::text, NULL::text, NULL::text, false,
                    d."deletedAt", '{}'::jsonb, '{}'::jsonb, '{}'::jsonb, false""", "ProjectUser", """
                    SELECT 1 FROM "ProjectUser" u
                    WHERE u."tenancyId" = d."tenancyId"
                      AND u."projectUserId" = (d."primaryKey" ->> 'projectUserId')::uuid""")).withCreateTable("""
            CREATE TABLE IF NOT EXISTS "users" (
                "id" uuid PRIMARY KEY NOT NULL,
                "display_name" text,
                "profile_image_url" text,
                "primary_email" text,
                "primary_email_verified" boolean NOT NULL DEFAULT false,
                "signed_up_at" timestamp without time zone NOT NULL,
                "client_metadata" jsonb NOT NULL DEFAULT '{}'::jsonb,
                "client_read_only_metadata" jsonb NOT NULL DEFAULT '{}'::jsonb,
                "server_metadata" jsonb NOT NULL DEFAULT '{}'::jsonb,
                "is_anonymous" boolean NOT NULL DEFAULT false
            )""").withProjection(USERS_LIVE.formatted("u.\"shouldUpdateSequenceId\" AS \"pending\"") + """
            WHERE u."tenancyId" = ?
            ORDER BY u."projectUserId"
            """);

    private static final List<TargetColumn> CHANNEL_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("type", "text"),
            new TargetColumn("value", "text"),
            new TargetColumn("is_primary", "boolean"),
            new TargetColumn("is_verified", "boolean"),
            new TargetColumn("used_for_auth", "boolean"),
            new TargetColumn("created_at", "timestamp"));

    /** The target columns of a live {@code contact_channels} row, then its {@code sequence_id}; from {@code c}. */
    private static final String CHANNELS_LIVE = """
            SELECT c."id" AS "id", c."projectUserId" AS "user_id", c."type"::text AS "type", c."value" AS "value",
                   (c."isPrimary" IS NOT NULL AND c."isPrimary" = 'TRUE') AS "is_primary",
                   c."isVerified" AS "is_verified",
                   (c."usedForAuth" IS NOT NULL AND c."usedForAuth" = 'TRUE') AS "used_for_auth",
                   c."createdAt" AS "created_at",
                   c."sequenceId" AS "sequence_id", %s
            FROM "ContactChannel" c
            """;

    /**
     * {@code contact_channels} ← {@code "ContactChannel"} (schema-reference C.3). The tombstone's "live row exists"
     * check uses the full source key (tenancy, owner, id) so that it is a primary-key probe; channel ids are
     * application-generated UUIDs, so the same id never lives under two owners.
     */
    public static final Mapping CONTACT_CHANNELS = Mapping.of("contact_channels", "ContactChannel", "ContactChannel",
            List.of("id"), CHANNEL_COLUMNS,
            live(CHANNELS_LIVE.formatted(NOT_DELETED), "c"),
            tombstones("""
                    (d."primaryKey" ->> 'id')::uuid, (d."primaryKey" ->> 'projectUserId')::uuid, NULL::text,
                    NULL::text, false, false, false, d."deletedAt\"""", "ContactChannel", """
                    SELECT 1 FROM "ContactChannel" c
                    WHERE c."tenancyId" = d."tenancyId"
                      AND c."projectUserId" = (d."primaryKey" ->> 'projectUserId')::uuid
                      AND c."id" = (d."primaryKey" ->> 'id')::uuid""")).withCreateTable("""
            CREATE TABLE IF NOT EXISTS "contact_channels" (
                "id" uuid PRIMARY KEY NOT NULL,
                "user_id" uuid NOT NULL,
                "type" text NOT NULL,
                "value" text NOT NULL,
                "is_primary" boolean NOT NULL DEFAULT false,
                "is_verified" boolean NOT NULL DEFAULT false,
                "used_for_auth" boolean NOT NULL DEFAULT false,
                "created_at" timestamp without time zone NOT NULL
            )""").withProjection(CHANNELS_LIVE.formatted("c.\"shouldUpdateSequenceId\" AS \"pending\"") + """
            WHERE c."tenancyId" = ?
            ORDER BY c."id"
            """);

    /**
     * A live branch over the {@code ("tenancyId", "sequenceId")} index of alias {@code a} (see the {@link Mapping}
     * class comment: the range and its ORDER BY are what make every plan a range scan).
     */
    private static FetchBranch live(String select, String a) {
        return FetchBranch.live(select, new FetchRange.ByTenancy(a));
    }

    /**
     * A tombstone branch: {@code fillers} (the target columns from {@code d}, a "DeletedRow"), the page range over
     * {@code ("tenancyId", "tableName", "sequenceId")}, and the convergence rule: only when {@code liveKeyExists} (a
     * query correlated to {@code d}, probing a unique index) finds no live row with the same target key.
     */
    private static FetchBranch tombstones(String fillers, String tableName, String liveKeyExists) {
        return new FetchBranch("""
                SELECT %s,
                       d."sequenceId" AS "sequence_id", true AS "is_deleted"
                FROM "DeletedRow" d""".formatted(fillers.strip()), null,
                new FetchRange.ByTombstoneTable("d", tableName), liveKeyExists);
    }

    private static String pending(String alias) {
        return alias + ".\"shouldUpdateSequenceId\" AS \"pending\"";
    }

    // ---- teams ------------------------------------------------------------------------------------------------

    private static final List<TargetColumn> TEAM_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("display_name", "text"),
            new TargetColumn("profile_image_url", "text"),
            new TargetColumn("created_at", "timestamp"),
            new TargetColumn("client_metadata", "jsonb"),
            new TargetColumn("client_read_only_metadata", "jsonb"),
            new TargetColumn("server_metadata", "jsonb"));

    /** The target columns of a live {@code teams} row, then its {@code sequence_id}; from {@code tm} (a "Team"). */
    private static final String TEAMS_LIVE = """
            SELECT tm."teamId" AS "id", tm."displayName" AS "display_name", tm."profileImageUrl" AS "profile_image_url",
                   tm."createdAt" AS "created_at",
                   COALESCE(tm."clientMetadata", '{}'::jsonb) AS "client_metadata",
                   COALESCE(tm."clientReadOnlyMetadata", '{}'::jsonb) AS "client_read_only_metadata",
                   COALESCE(tm."serverMetadata", '{}'::jsonb) AS "server_metadata",
                   tm."sequenceId" AS "sequence_id", %s
            FROM "Team" tm
            """;

    /** {@code teams} ← {@code "Team"} (schema-reference C.4). */
    public static final Mapping TEAMS = Mapping.of("teams", "Team", "Team", List.of("id"), TEAM_COLUMNS,
            live(TEAMS_LIVE.formatted(NOT_DELETED), "tm"),
            tombstones("""
                    (d."primaryKey" ->> 'teamId')::uuid, NULL::text, NULL::text, d."deletedAt",
                    '{}'::jsonb, '{}'::jsonb, '{}'::jsonb""", "Team", """
                    SELECT 1 FROM "Team" tm
                    WHERE tm."tenancyId" = d."tenancyId" AND tm."teamId" = (d."primaryKey" ->> 'teamId')::uuid"""))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "teams" (
                "id" uuid PRIMARY KEY NOT NULL,
                "display_name" text NOT NULL,
                "profile_image_url" text,
                "created_at" timestamp without time zone NOT NULL,
                "client_metadata" jsonb NOT NULL DEFAULT '{}'::jsonb,
                "client_read_only_metadata" jsonb NOT NULL DEFAULT '{}'::jsonb,
                "server_metadata" jsonb NOT NULL DEFAULT '{}'::jsonb
            )""").withProjection(TEAMS_LIVE.formatted(pending("tm")) + """
            WHERE tm."tenancyId" = ?
            ORDER BY tm."teamId"
            """);

    // ---- team_member_profiles ---------------------------------------------------------------------------------

    private static final List<TargetColumn> MEMBER_COLUMNS = List.of(
            new TargetColumn("team_id", "uuid"),
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("display_name", "text"),
            new TargetColumn("profile_image_url", "text"),
            new TargetColumn("created_at", "timestamp"));

    /** The target columns of a live {@code team_member_profiles} row; from {@code m} (a "TeamMember"). */
    private static final String MEMBERS_LIVE = """
            SELECT m."teamId" AS "team_id", m."projectUserId" AS "user_id", m."displayName" AS "display_name",
                   m."profileImageUrl" AS "profile_image_url", m."createdAt" AS "created_at",
                   m."sequenceId" AS "sequence_id", %s
            FROM "TeamMember" m
            """;

    /**
     * {@code team_member_profiles} ← {@code "TeamMember"} (schema-reference C.5): the member's own display name and
     * image overrides, not the user's.
     */
    public static final Mapping TEAM_MEMBER_PROFILES = Mapping.of("team_member_profiles", "TeamMember", "TeamMember",
            List.of("team_id", "user_id"), MEMBER_COLUMNS,
            live(MEMBERS_LIVE.formatted(NOT_DELETED), "m"),
            tombstones("""
                    (d."primaryKey" ->> 'teamId')::uuid, (d."primaryKey" ->> 'projectUserId')::uuid, NULL::text,
                    NULL::text, d."deletedAt\"""", "TeamMember", """
                    SELECT 1 FROM "TeamMember" m
                    WHERE m."tenancyId" = d."tenancyId"
                      AND m."projectUserId" = (d."primaryKey" ->> 'projectUserId')::uuid
                      AND m."teamId" = (d."primaryKey" ->> 'teamId')::uuid"""))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "team_member_profiles" (
                "team_id" uuid NOT NULL,
                "user_id" uuid NOT NULL,
                "display_name" text,
                "profile_image_url" text,
                "created_at" timestamp without time zone NOT NULL,
                PRIMARY KEY ("team_id", "user_id")
            )""").withProjection(MEMBERS_LIVE.formatted(pending("m")) + """
            WHERE m."tenancyId" = ?
            ORDER BY m."teamId", m."projectUserId"
            """);

    // ---- team_permissions -------------------------------------------------------------------------------------

    private static final List<TargetColumn> TEAM_PERMISSION_COLUMNS = List.of(
            new TargetColumn("team_id", "uuid"),
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("permission_id", "text"),
            new TargetColumn("created_at", "timestamp"));

    /** The target columns of a live {@code team_permissions} row; from {@code p} (a "TeamMemberDirectPermission"). */
    private static final String TEAM_PERMISSIONS_LIVE = """
            SELECT p."teamId" AS "team_id", p."projectUserId" AS "user_id", p."permissionId" AS "permission_id",
                   p."createdAt" AS "created_at",
                   p."sequenceId" AS "sequence_id", %s
            FROM "TeamMemberDirectPermission" p
            """;

    /**
     * {@code team_permissions} ← {@code "TeamMemberDirectPermission"} (schema-reference C.6). The target key is the
     * natural key (team, user, permission), not the internal row id, so the convergence rule probes the natural
     * unique index: revoking and re-granting within one window (a new row id) ends present.
     */
    public static final Mapping TEAM_PERMISSIONS = Mapping.of("team_permissions", "TeamMemberDirectPermission",
            "TeamMemberDirectPermission", List.of("team_id", "user_id", "permission_id"), TEAM_PERMISSION_COLUMNS,
            live(TEAM_PERMISSIONS_LIVE.formatted(NOT_DELETED), "p"),
            tombstones("""
                    (d."primaryKey" ->> 'teamId')::uuid, (d."primaryKey" ->> 'projectUserId')::uuid,
                    d."primaryKey" ->> 'permissionId', d."deletedAt\"""", "TeamMemberDirectPermission", """
                    SELECT 1 FROM "TeamMemberDirectPermission" p
                    WHERE p."tenancyId" = d."tenancyId"
                      AND p."projectUserId" = (d."primaryKey" ->> 'projectUserId')::uuid
                      AND p."teamId" = (d."primaryKey" ->> 'teamId')::uuid
                      AND p."permissionId" = d."primaryKey" ->> 'permissionId'"""))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "team_permissions" (
                "team_id" uuid NOT NULL,
                "user_id" uuid NOT NULL,
                "permission_id" text NOT NULL,
                "created_at" timestamp without time zone NOT NULL,
                PRIMARY KEY ("team_id", "user_id", "permission_id")
            )""").withProjection(TEAM_PERMISSIONS_LIVE.formatted(pending("p")) + """
            WHERE p."tenancyId" = ?
            ORDER BY p."teamId", p."projectUserId", p."permissionId"
            """);

    // ---- team_invitations -------------------------------------------------------------------------------------

    private static final List<TargetColumn> INVITATION_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("team_id", "uuid"),
            new TargetColumn("team_display_name", "text"),
            new TargetColumn("recipient_email", "text"),
            new TargetColumn("expires_at_millis", "bigint"),
            new TargetColumn("created_at", "timestamp"));

    /**
     * The target columns of a live {@code team_invitations} row, then its {@code sequence_id}; from {@code v} (a
     * TEAM_INVITATION "VerificationCode") and {@code tm}, its team or null when the team is gone. The team is found by
     * its mirrored project and branch (the code's own; unique index {@code Team_mirroredProjectId_mirroredBranchId_
     * teamId_key}). {@code expiresAt} is a UTC wall-clock value: EXTRACT(EPOCH) of a timestamp without time zone reads
     * it as UTC.
     */
    private static final String INVITATIONS_LIVE = """
            SELECT v."id" AS "id", (v."data" ->> 'team_id')::uuid AS "team_id",
                   COALESCE(tm."displayName", '') AS "team_display_name",
                   v."method" ->> 'email' AS "recipient_email",
                   FLOOR(EXTRACT(EPOCH FROM v."expiresAt") * 1000)::bigint AS "expires_at_millis",
                   v."createdAt" AS "created_at",
                   v."sequenceId" AS "sequence_id", %s
            FROM "VerificationCode" v
            LEFT JOIN "Team" tm ON tm."mirroredProjectId" = v."projectId" AND tm."mirroredBranchId" = v."branchId"
                                AND tm."teamId" = (v."data" ->> 'team_id')::uuid
            """;

    /**
     * {@code team_invitations} ← TEAM_INVITATION rows of {@code "VerificationCode"} with their team's display name
     * (schema-reference C.7).
     * <p>
     * <b>An invitation whose team no longer exists is exported as deleted</b>: the live branch computes
     * {@code is_deleted = (team missing)} (with filler values that are never written), and the projection leaves such
     * invitations out. Upstream LEFT JOINs the team and writes a NULL {@code team_display_name}, which violates the
     * target's NOT NULL and fails the whole target on every sync; here a team's deletion (which re-marks its
     * invitations, see V40) removes them from the target, and an invitation created for a missing team never appears
     * in it. If the team comes back (same id), creating it re-marks the invitations and they reappear.
     * <p>
     * "VerificationCode" has no tenancy column: the live branch ranges over the partial index
     * {@code ("projectId", "branchId", "sequenceId") WHERE type = 'TEAM_INVITATION'}, with the tenancy's project and
     * branch looked up from "Tenancy" in the row comparisons (each a one-row initPlan, so the range is still an index
     * condition). Tombstones carry the tenancy (resolved through "Tenancy" when written). For the convergence rule an
     * invitation "exists" when its code exists.
     */
    public static final Mapping TEAM_INVITATIONS = Mapping.of("team_invitations", "VerificationCode",
            "VerificationCode_TEAM_INVITATION", List.of("id"), INVITATION_COLUMNS,
            FetchBranch.live(INVITATIONS_LIVE.formatted("(tm.\"teamId\" IS NULL) AS \"is_deleted\""),
                    new FetchRange.ByProjectBranch("v")).where("v.\"type\" = 'TEAM_INVITATION'"),
            tombstones("""
                    (d."primaryKey" ->> 'id')::uuid, '00000000-0000-0000-0000-000000000000'::uuid, ''::text, ''::text,
                    0::bigint, d."deletedAt\"""", "VerificationCode_TEAM_INVITATION", """
                    SELECT 1 FROM "Tenancy" tn
                    JOIN "VerificationCode" v ON v."projectId" = tn."projectId" AND v."branchId" = tn."branchId"
                                             AND v."id" = (d."primaryKey" ->> 'id')::uuid
                    WHERE tn."id" = d."tenancyId\""""))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "team_invitations" (
                "id" uuid PRIMARY KEY NOT NULL,
                "team_id" uuid NOT NULL,
                "team_display_name" text NOT NULL,
                "recipient_email" text NOT NULL,
                "expires_at_millis" bigint NOT NULL,
                "created_at" timestamp without time zone NOT NULL
            )""").withProjection(INVITATIONS_LIVE.formatted(pending("v")) + """
            JOIN "Tenancy" tn ON tn."projectId" = v."projectId" AND tn."branchId" = v."branchId"
            WHERE tn."id" = ? AND v."type" = 'TEAM_INVITATION' AND tm."teamId" IS NOT NULL
            ORDER BY v."id"
            """);

    // ---- email_outboxes ---------------------------------------------------------------------------------------

    private static final List<TargetColumn> EMAIL_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("status", "text"),
            new TargetColumn("simple_status", "text"),
            new TargetColumn("created_with", "text"),
            new TargetColumn("email_draft_id", "text"),
            new TargetColumn("email_programmatic_call_template_id", "text"),
            new TargetColumn("theme_id", "text"),
            new TargetColumn("is_high_priority", "boolean"),
            new TargetColumn("rendered_is_transactional", "boolean"),
            new TargetColumn("rendered_subject", "text"),
            new TargetColumn("rendered_notification_category_id", "text"),
            new TargetColumn("started_rendering_at", "timestamp"),
            new TargetColumn("finished_rendering_at", "timestamp"),
            new TargetColumn("render_error", "text"),
            new TargetColumn("scheduled_at", "timestamp"),
            new TargetColumn("created_at", "timestamp"),
            new TargetColumn("started_sending_at", "timestamp"),
            new TargetColumn("finished_sending_at", "timestamp"),
            new TargetColumn("server_error", "text"),
            new TargetColumn("sent_at", "timestamp"),
            new TargetColumn("delivered_at", "timestamp"),
            new TargetColumn("opened_at", "timestamp"),
            new TargetColumn("clicked_at", "timestamp"),
            new TargetColumn("unsubscribed_at", "timestamp"),
            new TargetColumn("marked_as_spam_at", "timestamp"),
            new TargetColumn("bounced_at", "timestamp"),
            new TargetColumn("delivery_delayed_at", "timestamp"),
            new TargetColumn("can_have_delivery_info", "boolean"),
            new TargetColumn("skipped_reason", "text"),
            new TargetColumn("skipped_details", "jsonb"),
            new TargetColumn("send_retries", "integer"),
            new TargetColumn("is_paused", "boolean"));

    /** The target columns of a live {@code email_outboxes} row; from {@code e} (an "EmailOutbox"). */
    private static final String EMAILS_LIVE = """
            SELECT e."id" AS "id", e."status"::text AS "status", e."simpleStatus"::text AS "simple_status",
                   e."createdWith"::text AS "created_with", e."emailDraftId" AS "email_draft_id",
                   e."emailProgrammaticCallTemplateId" AS "email_programmatic_call_template_id",
                   e."themeId" AS "theme_id", e."isHighPriority" AS "is_high_priority",
                   e."renderedIsTransactional" AS "rendered_is_transactional",
                   e."renderedSubject" AS "rendered_subject",
                   e."renderedNotificationCategoryId" AS "rendered_notification_category_id",
                   e."startedRenderingAt" AS "started_rendering_at", e."finishedRenderingAt" AS "finished_rendering_at",
                   e."renderErrorExternalMessage" AS "render_error", e."scheduledAt" AS "scheduled_at",
                   e."createdAt" AS "created_at", e."startedSendingAt" AS "started_sending_at",
                   e."finishedSendingAt" AS "finished_sending_at", e."sendServerErrorExternalMessage" AS "server_error",
                   e."sentAt" AS "sent_at", e."deliveredAt" AS "delivered_at", e."openedAt" AS "opened_at",
                   e."clickedAt" AS "clicked_at", e."unsubscribedAt" AS "unsubscribed_at",
                   e."markedAsSpamAt" AS "marked_as_spam_at", e."bouncedAt" AS "bounced_at",
                   e."deliveryDelayedAt" AS "delivery_delayed_at", e."canHaveDeliveryInfo" AS "can_have_delivery_info",
                   e."skippedReason"::text AS "skipped_reason", e."skippedDetails" AS "skipped_details",
                   e."sendRetries" AS "send_retries", e."isPaused" AS "is_paused",
                   e."sequenceId" AS "sequence_id", %s
            FROM "EmailOutbox" e
            """;

    /**
     * {@code email_outboxes} ← {@code "EmailOutbox"} (schema-reference C.8). Enums are exported as their raw labels
     * ({@code ::text}, e.g. {@code PROGRAMMATIC_CALL}); {@code status}, {@code simple_status} and {@code sent_at} are
     * the source's generated columns, only ever read.
     */
    public static final Mapping EMAIL_OUTBOXES = Mapping.of("email_outboxes", "EmailOutbox", "EmailOutbox",
            List.of("id"), EMAIL_COLUMNS,
            live(EMAILS_LIVE.formatted(NOT_DELETED), "e"),
            tombstones("""
                    (d."primaryKey" ->> 'id')::uuid, ''::text, ''::text, ''::text, NULL::text, NULL::text, NULL::text,
                    false, NULL::boolean, NULL::text, NULL::text, NULL::timestamp, NULL::timestamp, NULL::text,
                    d."deletedAt", d."deletedAt", NULL::timestamp, NULL::timestamp, NULL::text, NULL::timestamp,
                    NULL::timestamp, NULL::timestamp, NULL::timestamp, NULL::timestamp, NULL::timestamp,
                    NULL::timestamp, NULL::timestamp, NULL::boolean, NULL::text, NULL::jsonb, 0, false""",
                    "EmailOutbox", """
                    SELECT 1 FROM "EmailOutbox" e
                    WHERE e."tenancyId" = d."tenancyId" AND e."id" = (d."primaryKey" ->> 'id')::uuid"""))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "email_outboxes" (
                "id" uuid PRIMARY KEY NOT NULL,
                "status" text NOT NULL,
                "simple_status" text NOT NULL,
                "created_with" text NOT NULL,
                "email_draft_id" text,
                "email_programmatic_call_template_id" text,
                "theme_id" text,
                "is_high_priority" boolean NOT NULL DEFAULT false,
                "rendered_is_transactional" boolean,
                "rendered_subject" text,
                "rendered_notification_category_id" text,
                "started_rendering_at" timestamp without time zone,
                "finished_rendering_at" timestamp without time zone,
                "render_error" text,
                "scheduled_at" timestamp without time zone NOT NULL,
                "created_at" timestamp without time zone NOT NULL,
                "started_sending_at" timestamp without time zone,
                "finished_sending_at" timestamp without time zone,
                "server_error" text,
                "sent_at" timestamp without time zone,
                "delivered_at" timestamp without time zone,
                "opened_at" timestamp without time zone,
                "clicked_at" timestamp without time zone,
                "unsubscribed_at" timestamp without time zone,
                "marked_as_spam_at" timestamp without time zone,
                "bounced_at" timestamp without time zone,
                "delivery_delayed_at" timestamp without time zone,
                "can_have_delivery_info" boolean,
                "skipped_reason" text,
                "skipped_details" jsonb,
                "send_retries" integer NOT NULL DEFAULT 0,
                "is_paused" boolean NOT NULL DEFAULT false
            )""").withProjection(EMAILS_LIVE.formatted(pending("e")) + """
            WHERE e."tenancyId" = ?
            ORDER BY e."id"
            """);

    // ---- project_permissions ----------------------------------------------------------------------------------

    private static final List<TargetColumn> PROJECT_PERMISSION_COLUMNS = List.of(
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("permission_id", "text"),
            new TargetColumn("created_at", "timestamp"));

    /** The target columns of a live {@code project_permissions} row; from {@code p} ("ProjectUserDirectPermission"). */
    private static final String PROJECT_PERMISSIONS_LIVE = """
            SELECT p."projectUserId" AS "user_id", p."permissionId" AS "permission_id", p."createdAt" AS "created_at",
                   p."sequenceId" AS "sequence_id", %s
            FROM "ProjectUserDirectPermission" p
            """;

    /**
     * {@code project_permissions} ← {@code "ProjectUserDirectPermission"} (schema-reference C.9); keyed, like
     * {@code team_permissions}, by the natural key, which the convergence rule probes.
     */
    public static final Mapping PROJECT_PERMISSIONS = Mapping.of("project_permissions", "ProjectUserDirectPermission",
            "ProjectUserDirectPermission", List.of("user_id", "permission_id"), PROJECT_PERMISSION_COLUMNS,
            live(PROJECT_PERMISSIONS_LIVE.formatted(NOT_DELETED), "p"),
            tombstones("""
                    (d."primaryKey" ->> 'projectUserId')::uuid, d."primaryKey" ->> 'permissionId', d."deletedAt\"""",
                    "ProjectUserDirectPermission", """
                    SELECT 1 FROM "ProjectUserDirectPermission" p
                    WHERE p."tenancyId" = d."tenancyId"
                      AND p."projectUserId" = (d."primaryKey" ->> 'projectUserId')::uuid
                      AND p."permissionId" = d."primaryKey" ->> 'permissionId'"""))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "project_permissions" (
                "user_id" uuid NOT NULL,
                "permission_id" text NOT NULL,
                "created_at" timestamp without time zone NOT NULL,
                PRIMARY KEY ("user_id", "permission_id")
            )""").withProjection(PROJECT_PERMISSIONS_LIVE.formatted(pending("p")) + """
            WHERE p."tenancyId" = ?
            ORDER BY p."projectUserId", p."permissionId"
            """);

    // ---- notification_preferences -----------------------------------------------------------------------------

    private static final List<TargetColumn> PREFERENCE_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("notification_category_id", "text"),
            new TargetColumn("enabled", "boolean"));

    /** The target columns of a live {@code notification_preferences} row; from {@code n}. */
    private static final String PREFERENCES_LIVE = """
            SELECT n."id" AS "id", n."projectUserId" AS "user_id",
                   n."notificationCategoryId"::text AS "notification_category_id", n."enabled" AS "enabled",
                   n."sequenceId" AS "sequence_id", %s
            FROM "UserNotificationPreference" n
            """;

    /**
     * {@code notification_preferences} ← {@code "UserNotificationPreference"} (schema-reference C.10). The category
     * id is a uuid internally and text in the target: its canonical lower-case form.
     */
    public static final Mapping NOTIFICATION_PREFERENCES = Mapping.of("notification_preferences",
            "UserNotificationPreference", "UserNotificationPreference", List.of("id"), PREFERENCE_COLUMNS,
            live(PREFERENCES_LIVE.formatted(NOT_DELETED), "n"),
            tombstones("""
                    (d."primaryKey" ->> 'id')::uuid, (d."data" ->> 'projectUserId')::uuid,
                    d."data" ->> 'notificationCategoryId', (d."data" ->> 'enabled')::boolean""",
                    "UserNotificationPreference", """
                    SELECT 1 FROM "UserNotificationPreference" n
                    WHERE n."tenancyId" = d."tenancyId" AND n."id" = (d."primaryKey" ->> 'id')::uuid"""))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "notification_preferences" (
                "id" uuid PRIMARY KEY NOT NULL,
                "user_id" uuid NOT NULL,
                "notification_category_id" text NOT NULL,
                "enabled" boolean NOT NULL DEFAULT true
            )""").withProjection(PREFERENCES_LIVE.formatted(pending("n")) + """
            WHERE n."tenancyId" = ?
            ORDER BY n."id"
            """);

    // ---- refresh_tokens ---------------------------------------------------------------------------------------

    private static final List<TargetColumn> REFRESH_TOKEN_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("created_at", "timestamp"),
            new TargetColumn("last_used_at", "timestamp"),
            new TargetColumn("is_impersonation", "boolean"),
            new TargetColumn("expires_at", "timestamp"));

    /** The target columns of a live {@code refresh_tokens} row; from {@code r}. The token itself is never read. */
    private static final String REFRESH_TOKENS_LIVE = """
            SELECT r."id" AS "id", r."projectUserId" AS "user_id", r."createdAt" AS "created_at",
                   r."lastActiveAt" AS "last_used_at", r."isImpersonation" AS "is_impersonation",
                   r."expiresAt" AS "expires_at",
                   r."sequenceId" AS "sequence_id", %s
            FROM "ProjectUserRefreshToken" r
            """;

    /**
     * {@code refresh_tokens} ← {@code "ProjectUserRefreshToken"} (schema-reference C.11). Refresh tokens have no
     * foreign key: a user's sessions leave the target when the writer deletes them alongside the user.
     */
    public static final Mapping REFRESH_TOKENS = Mapping.of("refresh_tokens", "ProjectUserRefreshToken",
            "ProjectUserRefreshToken", List.of("id"), REFRESH_TOKEN_COLUMNS,
            live(REFRESH_TOKENS_LIVE.formatted(NOT_DELETED), "r"),
            tombstones("""
                    (d."primaryKey" ->> 'id')::uuid, (d."data" ->> 'projectUserId')::uuid, d."deletedAt",
                    d."deletedAt", false, NULL::timestamp""", "ProjectUserRefreshToken", """
                    SELECT 1 FROM "ProjectUserRefreshToken" r
                    WHERE r."tenancyId" = d."tenancyId" AND r."id" = (d."primaryKey" ->> 'id')::uuid"""))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "refresh_tokens" (
                "id" uuid PRIMARY KEY NOT NULL,
                "user_id" uuid NOT NULL,
                "created_at" timestamp without time zone NOT NULL,
                "last_used_at" timestamp without time zone NOT NULL,
                "is_impersonation" boolean NOT NULL DEFAULT false,
                "expires_at" timestamp without time zone
            )""").withProjection(REFRESH_TOKENS_LIVE.formatted(pending("r")) + """
            WHERE r."tenancyId" = ?
            ORDER BY r."id"
            """);

    // ---- connected_accounts -----------------------------------------------------------------------------------

    private static final List<TargetColumn> ACCOUNT_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("provider", "text"),
            new TargetColumn("provider_account_id", "text"),
            new TargetColumn("email", "text"),
            new TargetColumn("created_at", "timestamp"));

    /** The target columns of a live {@code connected_accounts} row; from {@code a} ("ProjectUserOAuthAccount"). */
    private static final String ACCOUNTS_LIVE = """
            SELECT a."id" AS "id", a."projectUserId" AS "user_id", a."configOAuthProviderId" AS "provider",
                   a."providerAccountId" AS "provider_account_id", a."email" AS "email", a."createdAt" AS "created_at",
                   a."sequenceId" AS "sequence_id", %s
            FROM "ProjectUserOAuthAccount" a
            """;

    /**
     * {@code connected_accounts} ← {@code "ProjectUserOAuthAccount"} (schema-reference C.12). Accounts not linked to
     * a user ({@code "projectUserId"} NULL) are not exported. <b>Unlike upstream</b>, which filters them out of the
     * live branch and so leaves a stale target row when an exported account is later unlinked, the live branch emits
     * such an account as deleted ({@code is_deleted = "projectUserId" IS NULL}): unlinking removes it from the target
     * and re-linking brings it back.
     */
    public static final Mapping CONNECTED_ACCOUNTS = Mapping.of("connected_accounts", "ProjectUserOAuthAccount",
            "ProjectUserOAuthAccount", List.of("id"), ACCOUNT_COLUMNS,
            live(ACCOUNTS_LIVE.formatted("(a.\"projectUserId\" IS NULL) AS \"is_deleted\""), "a"),
            tombstones("""
                    (d."primaryKey" ->> 'id')::uuid, (d."data" ->> 'projectUserId')::uuid, NULL::text, NULL::text,
                    NULL::text, d."deletedAt\"""", "ProjectUserOAuthAccount", """
                    SELECT 1 FROM "ProjectUserOAuthAccount" a
                    WHERE a."tenancyId" = d."tenancyId" AND a."id" = (d."primaryKey" ->> 'id')::uuid"""))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "connected_accounts" (
                "id" uuid PRIMARY KEY NOT NULL,
                "user_id" uuid NOT NULL,
                "provider" text NOT NULL,
                "provider_account_id" text NOT NULL,
                "email" text,
                "created_at" timestamp without time zone NOT NULL
            )""").withProjection(ACCOUNTS_LIVE.formatted(pending("a")) + """
            WHERE a."tenancyId" = ? AND a."projectUserId" IS NOT NULL
            ORDER BY a."id"
            """);

    /** Every mapping, in sync order (Part D.1). */
    public static final List<Mapping> ALL = List.of(USERS, CONTACT_CHANNELS, TEAMS, TEAM_MEMBER_PROFILES,
            TEAM_PERMISSIONS, TEAM_INVITATIONS, EMAIL_OUTBOXES, PROJECT_PERMISSIONS, NOTIFICATION_PREFERENCES,
            REFRESH_TOKENS, CONNECTED_ACCOUNTS);

    /**
     * The cursor table, keyed by tenancy so that tenancies sharing one external database never skip each other's
     * rows. No REVOKE/GRANT: the default ACL already keeps other roles out of it.
     */
    public static final String METADATA_TABLE = "_stack_sync_metadata";

    public static final String METADATA_DDL = """
            CREATE TABLE IF NOT EXISTS "_stack_sync_metadata" (
                "tenancy_id" uuid NOT NULL,
                "mapping_name" text NOT NULL,
                "last_synced_sequence_id" bigint NOT NULL DEFAULT -1,
                "updated_at" timestamp without time zone NOT NULL DEFAULT now(),
                PRIMARY KEY ("tenancy_id", "mapping_name")
            )""";

    /** Every DDL statement a target needs, in order. */
    public static final List<String> TARGET_DDL = java.util.stream.Stream.concat(
            ALL.stream().flatMap(m -> m.ddl().stream()), java.util.stream.Stream.of(METADATA_DDL)).toList();

    /**
     * The target schema version: a digest of {@link #TARGET_DDL}, so any change to a mapping's DDL (or a new mapping)
     * makes every target bootstrap once more. Recorded in the target as the comment on the cursor table.
     */
    public static final String SCHEMA_VERSION = digest(TARGET_DDL);

    /** The comment that marks a target as bootstrapped at {@link #SCHEMA_VERSION}. */
    public static final String SCHEMA_MARK = "external-db-sync target schema " + SCHEMA_VERSION;

    /** Reads the target's schema mark (null when the cursor table does not exist or has no mark). */
    public static final String READ_SCHEMA_MARK_SQL =
            "SELECT obj_description(to_regclass('\"_stack_sync_metadata\"'), 'pg_class')";

    public static final String WRITE_SCHEMA_MARK_SQL =
            "COMMENT ON TABLE \"_stack_sync_metadata\" IS '" + SCHEMA_MARK + "'";

    /** Every cursor of one tenancy in this target; parameter tenancy uuid. Rows: mapping name, cursor. */
    public static final String READ_CURSORS_SQL = """
            SELECT "mapping_name", "last_synced_sequence_id" FROM "_stack_sync_metadata" WHERE "tenancy_id" = ?""";

    private Mappings() {
    }

    public static Optional<Mapping> byName(String name) {
        return ALL.stream().filter(m -> m.name().equals(name)).findFirst();
    }

    private static String digest(List<String> statements) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (String s : statements) {
                sha.update(s.getBytes(StandardCharsets.UTF_8));
                sha.update((byte) 0);
            }
            return HexFormat.of().formatHex(sha.digest()).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
