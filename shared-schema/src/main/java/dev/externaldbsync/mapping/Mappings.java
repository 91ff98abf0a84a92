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
            USERS_LIVE.formatted("false AS \"is_deleted\"") + """
            WHERE (u."tenancyId", u."sequenceId") > (?, ?)
              AND (u."tenancyId", u."sequenceId") <= (?, 9223372036854775807)
            ORDER BY u."tenancyId", u."sequenceId"
            """,
            """
            SELECT (d."primaryKey" ->> 'projectUserId')::uuid, NULL::text, NULL::text, NULL::text, false,
                   d."deletedAt", '{}'::jsonb, '{}'::jsonb, '{}'::jsonb, false,
                   d."sequenceId" AS "sequence_id", true AS "is_deleted"
            FROM "DeletedRow" d
            WHERE (d."tenancyId", d."tableName", d."sequenceId") > (?, 'ProjectUser', ?)
              AND (d."tenancyId", d."tableName", d."sequenceId") <= (?, 'ProjectUser', 9223372036854775807)
              AND NOT EXISTS (SELECT 1 FROM "ProjectUser" u
                              WHERE u."tenancyId" = d."tenancyId"
                                AND u."projectUserId" = (d."primaryKey" ->> 'projectUserId')::uuid)
            ORDER BY d."tenancyId", d."tableName", d."sequenceId"
            """).withCreateTable("""
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
            CHANNELS_LIVE.formatted("false AS \"is_deleted\"") + """
            WHERE (c."tenancyId", c."sequenceId") > (?, ?)
              AND (c."tenancyId", c."sequenceId") <= (?, 9223372036854775807)
            ORDER BY c."tenancyId", c."sequenceId"
            """,
            """
            SELECT (d."primaryKey" ->> 'id')::uuid, (d."primaryKey" ->> 'projectUserId')::uuid, NULL::text,
                   NULL::text, false, false, false, d."deletedAt",
                   d."sequenceId" AS "sequence_id", true AS "is_deleted"
            FROM "DeletedRow" d
            WHERE (d."tenancyId", d."tableName", d."sequenceId") > (?, 'ContactChannel', ?)
              AND (d."tenancyId", d."tableName", d."sequenceId") <= (?, 'ContactChannel', 9223372036854775807)
              AND NOT EXISTS (SELECT 1 FROM "ContactChannel" c
                              WHERE c."tenancyId" = d."tenancyId"
                                AND c."projectUserId" = (d."primaryKey" ->> 'projectUserId')::uuid
                                AND c."id" = (d."primaryKey" ->> 'id')::uuid)
            ORDER BY d."tenancyId", d."tableName", d."sequenceId"
            """).withCreateTable("""
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

    /** Every mapping, in sync order (Part D.1). */
    public static final List<Mapping> ALL = List.of(USERS, CONTACT_CHANNELS);

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

    /** One cursor; parameters tenancy uuid, mapping name. */
    public static final String READ_CURSOR_SQL = """
            SELECT "last_synced_sequence_id" FROM "_stack_sync_metadata" WHERE "tenancy_id" = ? AND "mapping_name" = ?""";

    /** Creates missing cursor rows at −1; parameters tenancy uuid, mapping names text[]. */
    public static final String ENSURE_CURSORS_SQL = """
            INSERT INTO "_stack_sync_metadata" ("tenancy_id", "mapping_name")
            SELECT ?, m FROM unnest(?::text[]) AS m ON CONFLICT DO NOTHING""";

    /**
     * The cursor advance of a page, as a compare-and-set: it row-locks the cursor and moves it only if it still is
     * the value the page was read from (parameters new cursor, tenancy uuid, mapping name, expected cursor). An
     * update count of 0 means another run moved it: the caller rolls the page back (an older state never overwrites
     * a newer one). GREATEST keeps it monotonic even so.
     */
    public static final String ADVANCE_CURSOR_SQL = """
            UPDATE "_stack_sync_metadata"
            SET "last_synced_sequence_id" = GREATEST("last_synced_sequence_id", ?), "updated_at" = now()
            WHERE "tenancy_id" = ? AND "mapping_name" = ? AND "last_synced_sequence_id" = ?""";

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
