package dev.externaldbsync.mapping;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * The registry of mappings, in the order the engine syncs them per target (schema-reference Part D.1), and the
 * target-side bookkeeping every mapping shares: the cursor table and the schema version. Constants only;
 * thread-safe. Adding a mapping means adding a constant here and to {@link #ALL}: the engine loops over the registry.
 * <p>
 * Each mapping is written once as its target column expressions over the live row(s), with its key columns left as
 * {@code %s} slots: the fetch fills them from the change-log entry's {@code "primaryKey"} (so a deleted key still has
 * its key), the projection from the live row. The two agree on every live row because the fetch joins the live row by
 * equality on exactly those values.
 */
public final class Mappings {

    /** The alias of the key's change-log stamp in a projection: {@code "sequence_id"}, {@code "pending"}. */
    private static final String STAMP = "st";

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

    /** The target columns of a {@code users} row from {@code u} (a "ProjectUser") and {@code pe}; slot: the id. */
    private static final String USERS_SELECT = """
            %s AS "id", u."displayName" AS "display_name",
                   u."profileImageUrl" AS "profile_image_url",
                   pe."value" AS "primary_email", COALESCE(pe."isVerified", false) AS "primary_email_verified",
                   COALESCE(u."signedUpAt", u."createdAt") AS "signed_up_at",
                   COALESCE(u."clientMetadata", '{}'::jsonb) AS "client_metadata",
                   COALESCE(u."clientReadOnlyMetadata", '{}'::jsonb) AS "client_read_only_metadata",
                   COALESCE(u."serverMetadata", '{}'::jsonb) AS "server_metadata",
                   u."isAnonymous" AS "is_anonymous\"""";

    /** The user's primary email, {@code pe}, a probe of the channel's unique (tenancy, user, type, primary) index. */
    private static final String USERS_PRIMARY_EMAIL = """
            LEFT JOIN LATERAL (
                SELECT c."value", c."isVerified" FROM "ContactChannel" c
                WHERE c."tenancyId" = u."tenancyId" AND c."projectUserId" = u."projectUserId"
                  AND c."type" = 'EMAIL' AND c."isPrimary" = 'TRUE'
                LIMIT 1) pe ON true""";

    /** {@code users} ← {@code "ProjectUser"} with its primary email (schema-reference C.2). */
    public static final Mapping USERS = Mapping.of("users", "ProjectUser", "ProjectUser", List.of("id"), USER_COLUMNS,
            new Mapping.Fetch(USERS_SELECT.formatted(key("projectUserId", "uuid")), """
                    LEFT JOIN "ProjectUser" u ON u."tenancyId" = ch."tenancyId"
                                             AND u."projectUserId" = (ch."primaryKey" ->> 'projectUserId')::uuid
                    """ + USERS_PRIMARY_EMAIL, "u.\"projectUserId\" IS NULL"))
            .withCreateTable("""
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
            )""").withProjection(projection(USERS_SELECT.formatted("u.\"projectUserId\""),
                    "FROM \"ProjectUser\" u\n" + USERS_PRIMARY_EMAIL, "u.\"tenancyId\" = ?", "u.\"projectUserId\"",
                    "ProjectUser", "u.\"tenancyId\"",
                    "jsonb_build_object('tenancyId', u.\"tenancyId\", 'projectUserId', u.\"projectUserId\")"))
            .readingColumns(Map.of(
                    "ProjectUser", List.of("tenancyId", "projectUserId", "displayName", "profileImageUrl",
                            "signedUpAt", "createdAt", "clientMetadata", "clientReadOnlyMetadata", "serverMetadata",
                            "isAnonymous"),
                    // the primary-email lookup
                    "ContactChannel", List.of("tenancyId", "projectUserId", "type", "isPrimary", "value",
                            "isVerified")))
            .withScan("u", USERS_SELECT.formatted("u.\"projectUserId\""), USERS_PRIMARY_EMAIL);

    private static final List<TargetColumn> CHANNEL_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("type", "text"),
            new TargetColumn("value", "text"),
            new TargetColumn("is_primary", "boolean"),
            new TargetColumn("is_verified", "boolean"),
            new TargetColumn("used_for_auth", "boolean"),
            new TargetColumn("created_at", "timestamp"));

    /** The target columns of a {@code contact_channels} row from {@code c}; slots: the id, the owner. */
    private static final String CHANNELS_SELECT = """
            %s AS "id", %s AS "user_id", c."type"::text AS "type", c."value" AS "value",
                   (c."isPrimary" IS NOT NULL AND c."isPrimary" = 'TRUE') AS "is_primary",
                   c."isVerified" AS "is_verified",
                   (c."usedForAuth" IS NOT NULL AND c."usedForAuth" = 'TRUE') AS "used_for_auth",
                   c."createdAt" AS "created_at\"""";

    /**
     * {@code contact_channels} ← {@code "ContactChannel"} (schema-reference C.3). The live row is found by the full
     * source key (tenancy, owner, id), a primary-key probe; channel ids are application-generated UUIDs, so the same
     * id never lives under two owners.
     */
    public static final Mapping CONTACT_CHANNELS = Mapping.of("contact_channels", "ContactChannel", "ContactChannel",
            List.of("id"), CHANNEL_COLUMNS,
            new Mapping.Fetch(CHANNELS_SELECT.formatted(key("id", "uuid"), key("projectUserId", "uuid")), """
                    LEFT JOIN "ContactChannel" c ON c."tenancyId" = ch."tenancyId"
                                                AND c."projectUserId" = (ch."primaryKey" ->> 'projectUserId')::uuid
                                                AND c."id" = (ch."primaryKey" ->> 'id')::uuid""",
                    "c.\"id\" IS NULL"))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "contact_channels" (
                "id" uuid PRIMARY KEY NOT NULL,
                "user_id" uuid NOT NULL,
                "type" text NOT NULL,
                "value" text NOT NULL,
                "is_primary" boolean NOT NULL DEFAULT false,
                "is_verified" boolean NOT NULL DEFAULT false,
                "used_for_auth" boolean NOT NULL DEFAULT false,
                "created_at" timestamp without time zone NOT NULL
            )""").withProjection(projection(CHANNELS_SELECT.formatted("c.\"id\"", "c.\"projectUserId\""),
                    "FROM \"ContactChannel\" c", "c.\"tenancyId\" = ?", "c.\"id\"", "ContactChannel",
                    "c.\"tenancyId\"", "jsonb_build_object('tenancyId', c.\"tenancyId\", 'projectUserId', "
                            + "c.\"projectUserId\", 'id', c.\"id\")"))
            .readingColumns(Map.of("ContactChannel", List.of("tenancyId", "projectUserId", "id", "type", "value",
                    "isPrimary", "isVerified", "usedForAuth", "createdAt")))
            .withScan("c", CHANNELS_SELECT.formatted("c.\"id\"", "c.\"projectUserId\""), "");

    /** The value of one {@code "primaryKey"} field of a page's entry, cast to {@code type} ({@code text}: as is). */
    private static String key(String field, String type) {
        String value = FetchSql.CHANGE + ".\"primaryKey\" ->> '" + field + "'";
        return "text".equals(type) ? value : "(" + value + ")::" + type;
    }

    /**
     * A projection: {@code select} (the target columns over the live row) {@code from} its table and joins, where
     * {@code where} (the tenancy, its one parameter), ordered by {@code orderBy}; then the key's stamp from
     * {@code "SyncChange"}: its highest stamped entry and whether an unstamped one exists, one probe of
     * {@code "SyncChange_key_idx"} by ({@code tenancy}, {@code tableName}, {@code primaryKey}).
     */
    private static String projection(String select, String from, String where, String orderBy, String tableName,
            String tenancy, String primaryKey) {
        return "SELECT " + select + ",\n       " + STAMP + ".\"sequence_id\" AS \"sequence_id\", COALESCE(" + STAMP
                + ".\"pending\", false) AS \"pending\"\n" + from + "\nLEFT JOIN LATERAL (\n"
                + "    SELECT max(sl.\"sequenceId\") AS \"sequence_id\", bool_or(sl.\"sequenceId\" IS NULL) AS \"pending\"\n"
                + "    FROM \"SyncChange\" sl\n"
                + "    WHERE sl.\"tenancyId\" = " + tenancy + " AND sl.\"tableName\" = '" + tableName + "'\n"
                + "      AND sl.\"primaryKey\" = " + primaryKey + ") " + STAMP + " ON true\n"
                + "WHERE " + where + "\nORDER BY " + orderBy + "\n";
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

    /** The target columns of a {@code teams} row from {@code tm} (a "Team"); slot: the id. */
    private static final String TEAMS_SELECT = """
            %s AS "id", tm."displayName" AS "display_name", tm."profileImageUrl" AS "profile_image_url",
                   tm."createdAt" AS "created_at",
                   COALESCE(tm."clientMetadata", '{}'::jsonb) AS "client_metadata",
                   COALESCE(tm."clientReadOnlyMetadata", '{}'::jsonb) AS "client_read_only_metadata",
                   COALESCE(tm."serverMetadata", '{}'::jsonb) AS "server_metadata\"""";

    /** {@code teams} ← {@code "Team"} (schema-reference C.4). */
    public static final Mapping TEAMS = Mapping.of("teams", "Team", "Team", List.of("id"), TEAM_COLUMNS,
            new Mapping.Fetch(TEAMS_SELECT.formatted(key("teamId", "uuid")), """
                    LEFT JOIN "Team" tm ON tm."tenancyId" = ch."tenancyId"
                                       AND tm."teamId" = (ch."primaryKey" ->> 'teamId')::uuid""",
                    "tm.\"teamId\" IS NULL"))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "teams" (
                "id" uuid PRIMARY KEY NOT NULL,
                "display_name" text NOT NULL,
                "profile_image_url" text,
                "created_at" timestamp without time zone NOT NULL,
                "client_metadata" jsonb NOT NULL DEFAULT '{}'::jsonb,
                "client_read_only_metadata" jsonb NOT NULL DEFAULT '{}'::jsonb,
                "server_metadata" jsonb NOT NULL DEFAULT '{}'::jsonb
            )""").withProjection(projection(TEAMS_SELECT.formatted("tm.\"teamId\""), "FROM \"Team\" tm",
                    "tm.\"tenancyId\" = ?", "tm.\"teamId\"", "Team", "tm.\"tenancyId\"",
                    "jsonb_build_object('tenancyId', tm.\"tenancyId\", 'teamId', tm.\"teamId\")"))
            .readingColumns(Map.of("Team", List.of("tenancyId", "teamId", "displayName", "profileImageUrl",
                    "createdAt", "clientMetadata", "clientReadOnlyMetadata", "serverMetadata")))
            .withScan("tm", TEAMS_SELECT.formatted("tm.\"teamId\""), "");

    // ---- team_member_profiles ---------------------------------------------------------------------------------

    private static final List<TargetColumn> MEMBER_COLUMNS = List.of(
            new TargetColumn("team_id", "uuid"),
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("display_name", "text"),
            new TargetColumn("profile_image_url", "text"),
            new TargetColumn("created_at", "timestamp"));

    /** The target columns of a {@code team_member_profiles} row from {@code m}; slots: team, user. */
    private static final String MEMBERS_SELECT = """
            %s AS "team_id", %s AS "user_id", m."displayName" AS "display_name",
                   m."profileImageUrl" AS "profile_image_url", m."createdAt" AS "created_at\"""";

    /**
     * {@code team_member_profiles} ← {@code "TeamMember"} (schema-reference C.5): the member's own display name and
     * image overrides, not the user's.
     */
    public static final Mapping TEAM_MEMBER_PROFILES = Mapping.of("team_member_profiles", "TeamMember", "TeamMember",
            List.of("team_id", "user_id"), MEMBER_COLUMNS,
            new Mapping.Fetch(MEMBERS_SELECT.formatted(key("teamId", "uuid"), key("projectUserId", "uuid")), """
                    LEFT JOIN "TeamMember" m ON m."tenancyId" = ch."tenancyId"
                                            AND m."projectUserId" = (ch."primaryKey" ->> 'projectUserId')::uuid
                                            AND m."teamId" = (ch."primaryKey" ->> 'teamId')::uuid""",
                    "m.\"teamId\" IS NULL"))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "team_member_profiles" (
                "team_id" uuid NOT NULL,
                "user_id" uuid NOT NULL,
                "display_name" text,
                "profile_image_url" text,
                "created_at" timestamp without time zone NOT NULL,
                PRIMARY KEY ("team_id", "user_id")
            )""").withProjection(projection(MEMBERS_SELECT.formatted("m.\"teamId\"", "m.\"projectUserId\""),
                    "FROM \"TeamMember\" m", "m.\"tenancyId\" = ?", "m.\"teamId\", m.\"projectUserId\"", "TeamMember",
                    "m.\"tenancyId\"", "jsonb_build_object('tenancyId', m.\"tenancyId\", 'projectUserId', "
                            + "m.\"projectUserId\", 'teamId', m.\"teamId\")"))
            .readingColumns(Map.of("TeamMember", List.of("tenancyId", "projectUserId", "teamId", "displayName",
                    "profileImageUrl", "createdAt")))
            .withScan("m", MEMBERS_SELECT.formatted("m.\"teamId\"", "m.\"projectUserId\""), "");

    // ---- team_permissions -------------------------------------------------------------------------------------

    private static final List<TargetColumn> TEAM_PERMISSION_COLUMNS = List.of(
            new TargetColumn("team_id", "uuid"),
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("permission_id", "text"),
            new TargetColumn("created_at", "timestamp"));

    /** The target columns of a {@code team_permissions} row from {@code p}; slots: team, user, permission. */
    private static final String TEAM_PERMISSIONS_SELECT = """
            %s AS "team_id", %s AS "user_id", %s AS "permission_id", p."createdAt" AS "created_at\"""";

    /**
     * {@code team_permissions} ← {@code "TeamMemberDirectPermission"} (schema-reference C.6). The target key is the
     * natural key (team, user, permission), not the internal row id, and so are the entries' keys: the live row is a
     * probe of the natural unique index, and revoking and re-granting within one window (a new row id) ends present.
     */
    public static final Mapping TEAM_PERMISSIONS = Mapping.of("team_permissions", "TeamMemberDirectPermission",
            "TeamMemberDirectPermission", List.of("team_id", "user_id", "permission_id"), TEAM_PERMISSION_COLUMNS,
            new Mapping.Fetch(TEAM_PERMISSIONS_SELECT.formatted(key("teamId", "uuid"), key("projectUserId", "uuid"),
                    key("permissionId", "text")), """
                    LEFT JOIN "TeamMemberDirectPermission" p
                           ON p."tenancyId" = ch."tenancyId"
                          AND p."projectUserId" = (ch."primaryKey" ->> 'projectUserId')::uuid
                          AND p."teamId" = (ch."primaryKey" ->> 'teamId')::uuid
                          AND p."permissionId" = ch."primaryKey" ->> 'permissionId'""", "p.\"permissionId\" IS NULL"))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "team_permissions" (
                "team_id" uuid NOT NULL,
                "user_id" uuid NOT NULL,
                "permission_id" text NOT NULL,
                "created_at" timestamp without time zone NOT NULL,
                PRIMARY KEY ("team_id", "user_id", "permission_id")
            )""").withProjection(projection(TEAM_PERMISSIONS_SELECT.formatted("p.\"teamId\"", "p.\"projectUserId\"",
                    "p.\"permissionId\""), "FROM \"TeamMemberDirectPermission\" p", "p.\"tenancyId\" = ?",
                    "p.\"teamId\", p.\"projectUserId\", p.\"permissionId\"", "TeamMemberDirectPermission",
                    "p.\"tenancyId\"", "jsonb_build_object('tenancyId', p.\"tenancyId\", 'projectUserId', "
                            + "p.\"projectUserId\", 'teamId', p.\"teamId\", 'permissionId', p.\"permissionId\")"))
            .readingColumns(Map.of("TeamMemberDirectPermission", List.of("tenancyId", "projectUserId", "teamId",
                    "permissionId", "createdAt")))
            .withScan("p", TEAM_PERMISSIONS_SELECT.formatted("p.\"teamId\"", "p.\"projectUserId\"",
                    "p.\"permissionId\""), "");

    // ---- team_invitations -------------------------------------------------------------------------------------

    private static final List<TargetColumn> INVITATION_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("team_id", "uuid"),
            new TargetColumn("team_display_name", "text"),
            new TargetColumn("recipient_email", "text"),
            new TargetColumn("expires_at_millis", "bigint"),
            new TargetColumn("created_at", "timestamp"));

    /**
     * The target columns of a {@code team_invitations} row from {@code v} (a TEAM_INVITATION "VerificationCode") and
     * {@code tm}, its team or null when the team is gone; slot: the id. {@code expiresAt} is a UTC wall-clock value:
     * EXTRACT(EPOCH) of a timestamp without time zone reads it as UTC.
     */
    private static final String INVITATIONS_SELECT = """
            %s AS "id", (v."data" ->> 'team_id')::uuid AS "team_id",
                   COALESCE(tm."displayName", '') AS "team_display_name",
                   v."method" ->> 'email' AS "recipient_email",
                   FLOOR(EXTRACT(EPOCH FROM v."expiresAt") * 1000)::bigint AS "expires_at_millis",
                   v."createdAt" AS "created_at\"""";

    /**
     * The invitation's team, found by its mirrored project and branch (the code's own; unique index
     * {@code Team_mirroredProjectId_mirroredBranchId_teamId_key}).
     */
    private static final String INVITATIONS_TEAM = """
            LEFT JOIN "Team" tm ON tm."mirroredProjectId" = v."projectId" AND tm."mirroredBranchId" = v."branchId"
                                AND tm."teamId" = (v."data" ->> 'team_id')::uuid""";

    /**
     * {@code team_invitations} ← TEAM_INVITATION rows of {@code "VerificationCode"} with their team's display name
     * (schema-reference C.7).
     * <p>
     * <b>An invitation whose team no longer exists is exported as deleted</b>: the fetch computes
     * {@code is_deleted = (no code, or team missing)} (with filler values that are never written), and the
     * projection leaves such invitations out. Upstream LEFT JOINs the team and writes a NULL
     * {@code team_display_name}, which violates the target's NOT NULL and fails the whole target on every sync; here a
     * team's deletion (whose capture appends an entry per invitation of the team) removes them from the target, and an
     * invitation created for a missing team never appears in it. If the team comes back (same id), its creation
     * appends the entries again and they reappear.
     * <p>
     * "VerificationCode" has no tenancy column, but its entries carry the tenancy (resolved through "Tenancy" when
     * written) and the code id: the live code is a primary-key probe by the tenancy's project and branch and the id.
     */
    public static final Mapping TEAM_INVITATIONS = Mapping.of("team_invitations", "VerificationCode",
            "VerificationCode_TEAM_INVITATION", List.of("id"), INVITATION_COLUMNS,
            new Mapping.Fetch(INVITATIONS_SELECT.formatted(key("id", "uuid")), """
                    LEFT JOIN "Tenancy" tn ON tn."id" = ch."tenancyId"
                    LEFT JOIN "VerificationCode" v ON v."projectId" = tn."projectId" AND v."branchId" = tn."branchId"
                                                  AND v."id" = (ch."primaryKey" ->> 'id')::uuid
                                                  AND v."type" = 'TEAM_INVITATION'
                    """ + INVITATIONS_TEAM, "v.\"id\" IS NULL OR tm.\"teamId\" IS NULL"))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "team_invitations" (
                "id" uuid PRIMARY KEY NOT NULL,
                "team_id" uuid NOT NULL,
                "team_display_name" text NOT NULL,
                "recipient_email" text NOT NULL,
                "expires_at_millis" bigint NOT NULL,
                "created_at" timestamp without time zone NOT NULL
            )""").withProjection(projection(INVITATIONS_SELECT.formatted("v.\"id\""), "FROM \"VerificationCode\" v\n"
                    + INVITATIONS_TEAM + "\nJOIN \"Tenancy\" tn ON tn.\"projectId\" = v.\"projectId\" AND tn.\"branchId\" "
                    + "= v.\"branchId\"", "tn.\"id\" = ? AND v.\"type\" = 'TEAM_INVITATION' AND tm.\"teamId\" IS NOT NULL",
                    "v.\"id\"", "VerificationCode_TEAM_INVITATION", "tn.\"id\"", "jsonb_build_object('id', v.\"id\")"))
            .readingColumns(Map.of(
                    "VerificationCode", List.of("projectId", "branchId", "id", "type", "data", "method", "expiresAt",
                            "createdAt"),
                    // the team's name
                    "Team", List.of("mirroredProjectId", "mirroredBranchId", "teamId", "displayName"),
                    // the code's tenancy (a tenancy never changes project or branch)
                    "Tenancy", List.of("id", "projectId", "branchId")));

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

    /** The target columns of an {@code email_outboxes} row from {@code e} (an "EmailOutbox"); slot: the id. */
    private static final String EMAILS_SELECT = """
            %s AS "id", e."status"::text AS "status", e."simpleStatus"::text AS "simple_status",
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
                   e."sendRetries" AS "send_retries", e."isPaused" AS "is_paused\"""";

    /**
     * {@code email_outboxes} ← {@code "EmailOutbox"} (schema-reference C.8). Its entries' key is the id alone (the
     * old tombstone shape); the entry's tenancy completes the primary-key probe. Enums are exported as their raw labels
     * ({@code ::text}, e.g. {@code PROGRAMMATIC_CALL}); {@code status}, {@code simple_status} and {@code sent_at} are
     * the source's generated columns, only ever read.
     */
    public static final Mapping EMAIL_OUTBOXES = Mapping.of("email_outboxes", "EmailOutbox", "EmailOutbox",
            List.of("id"), EMAIL_COLUMNS,
            new Mapping.Fetch(EMAILS_SELECT.formatted(key("id", "uuid")), """
                    LEFT JOIN "EmailOutbox" e ON e."tenancyId" = ch."tenancyId"
                                             AND e."id" = (ch."primaryKey" ->> 'id')::uuid""", "e.\"id\" IS NULL"))
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
            )""").withProjection(projection(EMAILS_SELECT.formatted("e.\"id\""), "FROM \"EmailOutbox\" e",
                    "e.\"tenancyId\" = ?", "e.\"id\"", "EmailOutbox", "e.\"tenancyId\"",
                    "jsonb_build_object('id', e.\"id\")"))
            .readingColumns(Map.of("EmailOutbox", List.of("tenancyId", "id", "status", "simpleStatus", "createdWith",
                    "emailDraftId", "emailProgrammaticCallTemplateId", "themeId", "isHighPriority",
                    "renderedIsTransactional", "renderedSubject", "renderedNotificationCategoryId",
                    "startedRenderingAt", "finishedRenderingAt", "renderErrorExternalMessage", "scheduledAt",
                    "createdAt", "startedSendingAt", "finishedSendingAt", "sendServerErrorExternalMessage", "sentAt",
                    "deliveredAt", "openedAt", "clickedAt", "unsubscribedAt", "markedAsSpamAt", "bouncedAt",
                    "deliveryDelayedAt", "canHaveDeliveryInfo", "skippedReason", "skippedDetails", "sendRetries",
                    "isPaused")))
            .withScan("e", EMAILS_SELECT.formatted("e.\"id\""), "");

    // ---- project_permissions ----------------------------------------------------------------------------------

    private static final List<TargetColumn> PROJECT_PERMISSION_COLUMNS = List.of(
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("permission_id", "text"),
            new TargetColumn("created_at", "timestamp"));

    /** The target columns of a {@code project_permissions} row from {@code p}; slots: user, permission. */
    private static final String PROJECT_PERMISSIONS_SELECT = """
            %s AS "user_id", %s AS "permission_id", p."createdAt" AS "created_at\"""";

    /**
     * {@code project_permissions} ← {@code "ProjectUserDirectPermission"} (schema-reference C.9); keyed, like
     * {@code team_permissions}, by the natural key, whose unique index finds the live row.
     */
    public static final Mapping PROJECT_PERMISSIONS = Mapping.of("project_permissions", "ProjectUserDirectPermission",
            "ProjectUserDirectPermission", List.of("user_id", "permission_id"), PROJECT_PERMISSION_COLUMNS,
            new Mapping.Fetch(PROJECT_PERMISSIONS_SELECT.formatted(key("projectUserId", "uuid"),
                    key("permissionId", "text")), """
                    LEFT JOIN "ProjectUserDirectPermission" p
                           ON p."tenancyId" = ch."tenancyId"
                          AND p."projectUserId" = (ch."primaryKey" ->> 'projectUserId')::uuid
                          AND p."permissionId" = ch."primaryKey" ->> 'permissionId'""", "p.\"permissionId\" IS NULL"))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "project_permissions" (
                "user_id" uuid NOT NULL,
                "permission_id" text NOT NULL,
                "created_at" timestamp without time zone NOT NULL,
                PRIMARY KEY ("user_id", "permission_id")
            )""").withProjection(projection(PROJECT_PERMISSIONS_SELECT.formatted("p.\"projectUserId\"",
                    "p.\"permissionId\""), "FROM \"ProjectUserDirectPermission\" p", "p.\"tenancyId\" = ?",
                    "p.\"projectUserId\", p.\"permissionId\"", "ProjectUserDirectPermission", "p.\"tenancyId\"",
                    "jsonb_build_object('tenancyId', p.\"tenancyId\", 'projectUserId', p.\"projectUserId\", "
                            + "'permissionId', p.\"permissionId\")"))
            .readingColumns(Map.of("ProjectUserDirectPermission", List.of("tenancyId", "projectUserId",
                    "permissionId", "createdAt")))
            .withScan("p", PROJECT_PERMISSIONS_SELECT.formatted("p.\"projectUserId\"", "p.\"permissionId\""), "");

    // ---- notification_preferences -----------------------------------------------------------------------------

    private static final List<TargetColumn> PREFERENCE_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("notification_category_id", "text"),
            new TargetColumn("enabled", "boolean"));

    /** The target columns of a {@code notification_preferences} row from {@code n}; slot: the id. */
    private static final String PREFERENCES_SELECT = """
            %s AS "id", n."projectUserId" AS "user_id",
                   n."notificationCategoryId"::text AS "notification_category_id", n."enabled" AS "enabled\"""";

    /**
     * {@code notification_preferences} ← {@code "UserNotificationPreference"} (schema-reference C.10). The category
     * id is a uuid internally and text in the target: its canonical lower-case form.
     */
    public static final Mapping NOTIFICATION_PREFERENCES = Mapping.of("notification_preferences",
            "UserNotificationPreference", "UserNotificationPreference", List.of("id"), PREFERENCE_COLUMNS,
            new Mapping.Fetch(PREFERENCES_SELECT.formatted(key("id", "uuid")), """
                    LEFT JOIN "UserNotificationPreference" n ON n."tenancyId" = ch."tenancyId"
                                                            AND n."id" = (ch."primaryKey" ->> 'id')::uuid""",
                    "n.\"id\" IS NULL"))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "notification_preferences" (
                "id" uuid PRIMARY KEY NOT NULL,
                "user_id" uuid NOT NULL,
                "notification_category_id" text NOT NULL,
                "enabled" boolean NOT NULL DEFAULT true
            )""").withProjection(projection(PREFERENCES_SELECT.formatted("n.\"id\""),
                    "FROM \"UserNotificationPreference\" n", "n.\"tenancyId\" = ?", "n.\"id\"",
                    "UserNotificationPreference", "n.\"tenancyId\"",
                    "jsonb_build_object('tenancyId', n.\"tenancyId\", 'id', n.\"id\")"))
            .readingColumns(Map.of("UserNotificationPreference", List.of("tenancyId", "id", "projectUserId",
                    "notificationCategoryId", "enabled")))
            .withScan("n", PREFERENCES_SELECT.formatted("n.\"id\""), "");

    // ---- refresh_tokens ---------------------------------------------------------------------------------------

    private static final List<TargetColumn> REFRESH_TOKEN_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("created_at", "timestamp"),
            new TargetColumn("last_used_at", "timestamp"),
            new TargetColumn("is_impersonation", "boolean"),
            new TargetColumn("expires_at", "timestamp"));

    /** The target columns of a {@code refresh_tokens} row from {@code r}; slot: the id. The token is never read. */
    private static final String REFRESH_TOKENS_SELECT = """
            %s AS "id", r."projectUserId" AS "user_id", r."createdAt" AS "created_at",
                   r."lastActiveAt" AS "last_used_at", r."isImpersonation" AS "is_impersonation",
                   r."expiresAt" AS "expires_at\"""";

    /**
     * {@code refresh_tokens} ← {@code "ProjectUserRefreshToken"} (schema-reference C.11). Refresh tokens have no
     * foreign key: a user's sessions leave the target when the writer deletes them alongside the user.
     */
    public static final Mapping REFRESH_TOKENS = Mapping.of("refresh_tokens", "ProjectUserRefreshToken",
            "ProjectUserRefreshToken", List.of("id"), REFRESH_TOKEN_COLUMNS,
            new Mapping.Fetch(REFRESH_TOKENS_SELECT.formatted(key("id", "uuid")), """
                    LEFT JOIN "ProjectUserRefreshToken" r ON r."tenancyId" = ch."tenancyId"
                                                         AND r."id" = (ch."primaryKey" ->> 'id')::uuid""",
                    "r.\"id\" IS NULL"))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "refresh_tokens" (
                "id" uuid PRIMARY KEY NOT NULL,
                "user_id" uuid NOT NULL,
                "created_at" timestamp without time zone NOT NULL,
                "last_used_at" timestamp without time zone NOT NULL,
                "is_impersonation" boolean NOT NULL DEFAULT false,
                "expires_at" timestamp without time zone
            )""").withProjection(projection(REFRESH_TOKENS_SELECT.formatted("r.\"id\""),
                    "FROM \"ProjectUserRefreshToken\" r", "r.\"tenancyId\" = ?", "r.\"id\"", "ProjectUserRefreshToken",
                    "r.\"tenancyId\"", "jsonb_build_object('tenancyId', r.\"tenancyId\", 'id', r.\"id\")"))
            .readingColumns(Map.of("ProjectUserRefreshToken", List.of("tenancyId", "id", "projectUserId", "createdAt",
                    "lastActiveAt", "isImpersonation", "expiresAt")))
            .withScan("r", REFRESH_TOKENS_SELECT.formatted("r.\"id\""), "");

    // ---- connected_accounts -----------------------------------------------------------------------------------

    private static final List<TargetColumn> ACCOUNT_COLUMNS = List.of(
            new TargetColumn("id", "uuid"),
            new TargetColumn("user_id", "uuid"),
            new TargetColumn("provider", "text"),
            new TargetColumn("provider_account_id", "text"),
            new TargetColumn("email", "text"),
            new TargetColumn("created_at", "timestamp"));

    /** The target columns of a {@code connected_accounts} row from {@code a}; slot: the id. */
    private static final String ACCOUNTS_SELECT = """
            %s AS "id", a."projectUserId" AS "user_id", a."configOAuthProviderId" AS "provider",
                   a."providerAccountId" AS "provider_account_id", a."email" AS "email", a."createdAt" AS "created_at\"""";

    /**
     * {@code connected_accounts} ← {@code "ProjectUserOAuthAccount"} (schema-reference C.12). Accounts not linked to
     * a user ({@code "projectUserId"} NULL) are not exported. <b>Unlike upstream</b>, which filters them out and so
     * leaves a stale target row when an exported account is later unlinked, the fetch emits such an account as
     * deleted ({@code is_deleted} also when {@code "projectUserId" IS NULL}): unlinking removes it from the target and
     * re-linking brings it back.
     */
    public static final Mapping CONNECTED_ACCOUNTS = Mapping.of("connected_accounts", "ProjectUserOAuthAccount",
            "ProjectUserOAuthAccount", List.of("id"), ACCOUNT_COLUMNS,
            new Mapping.Fetch(ACCOUNTS_SELECT.formatted(key("id", "uuid")), """
                    LEFT JOIN "ProjectUserOAuthAccount" a ON a."tenancyId" = ch."tenancyId"
                                                         AND a."id" = (ch."primaryKey" ->> 'id')::uuid""",
                    "a.\"id\" IS NULL OR a.\"projectUserId\" IS NULL"))
            .withCreateTable("""
            CREATE TABLE IF NOT EXISTS "connected_accounts" (
                "id" uuid PRIMARY KEY NOT NULL,
                "user_id" uuid NOT NULL,
                "provider" text NOT NULL,
                "provider_account_id" text NOT NULL,
                "email" text,
                "created_at" timestamp without time zone NOT NULL
            )""").withProjection(projection(ACCOUNTS_SELECT.formatted("a.\"id\""),
                    "FROM \"ProjectUserOAuthAccount\" a", "a.\"tenancyId\" = ? AND a.\"projectUserId\" IS NOT NULL",
                    "a.\"id\"", "ProjectUserOAuthAccount", "a.\"tenancyId\"",
                    "jsonb_build_object('tenancyId', a.\"tenancyId\", 'id', a.\"id\")"))
            .readingColumns(Map.of("ProjectUserOAuthAccount", List.of("tenancyId", "id", "projectUserId",
                    "configOAuthProviderId", "providerAccountId", "email", "createdAt")));

    /** Every mapping, in sync order (Part D.1). */
    public static final List<Mapping> ALL = List.of(USERS, CONTACT_CHANNELS, TEAMS, TEAM_MEMBER_PROFILES,
            TEAM_PERMISSIONS, TEAM_INVITATIONS, EMAIL_OUTBOXES, PROJECT_PERMISSIONS, NOTIFICATION_PREFERENCES,
            REFRESH_TOKENS, CONNECTED_ACCOUNTS);

    /**
     * Every internal table some mapping reads, with the union of the columns read there (sorted by table): a change
     * that leaves all of a table's listed columns equal cannot change any target row, so capture may skip it. Derived
     * reads are included: {@code "ContactChannel"} lists what the users' primary-email lookup reads too, and
     * {@code "Team"} what the invitations' team-name lookup reads.
     */
    public static final Map<String, Set<String>> SOURCE_COLUMNS = sourceColumns();

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

    private static Map<String, Set<String>> sourceColumns() {
        Map<String, Set<String>> byTable = new TreeMap<>();
        for (Mapping m : ALL) {
            m.sourceColumns().forEach((table, columns) -> byTable.computeIfAbsent(table, t -> new LinkedHashSet<>())
                    .addAll(columns));
        }
        byTable.replaceAll((table, columns) -> java.util.Collections.unmodifiableSet(columns));
        return java.util.Collections.unmodifiableMap(byTable);
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
