package dev.externaldbsync.testing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

/**
 * A database shaped like a real Stack Auth one after its external-DB-sync release, before this product's sync layer
 * is applied (issue 19): the Stack Auth base tables, then upstream's own sync additions exactly as
 * schema-reference Part B has them ({@code "sequenceId"}/{@code "shouldUpdateSequenceId"} on the 11 source tables
 * with their indexes, {@code global_seq_id}, {@code "DeletedRow"}, {@code "OutgoingRequest"} in upstream's shape,
 * {@code "ExternalDbSyncMetadata"}). As a Quarkus test resource it hands the service that database with
 * {@code SYNC_MIGRATE_AT_START=sync}, the operator's switch-over path. Also writes what upstream's in-app sync
 * writes: its stamps (without this product's sequencer lock) and its queue rows (no {@code "tenancyId"} column).
 */
public class UpstreamStackAuthDatabase implements QuarkusTestResourceLifecycleManager {

    /** The 11 sequenced source tables (schema-reference B.2), in upstream's sequencer order. */
    public static final List<String> SOURCE_TABLES = List.of("ProjectUser", "ContactChannel", "Team", "TeamMember",
            "TeamMemberDirectPermission", "VerificationCode", "EmailOutbox", "ProjectUserDirectPermission",
            "UserNotificationPreference", "ProjectUserRefreshToken", "ProjectUserOAuthAccount");

    /** Upstream's cursor table in an external database (schema-reference C.1): one cursor per mapping, no tenancy. */
    public static final String UPSTREAM_CURSOR_TABLE_DDL = """
            CREATE TABLE IF NOT EXISTS "_stack_sync_metadata" (
                "mapping_name" text PRIMARY KEY NOT NULL,
                "last_synced_sequence_id" bigint NOT NULL DEFAULT -1,
                "updated_at" timestamp without time zone NOT NULL DEFAULT now()
            )""";

    private TestDatabase database;

    @Override
    public Map<String, String> start() {
        database = create("upstream");
        return Map.of(
                "internal.database.url", database.postgresUrl(),
                "sync.migrate-at-start", "sync");
    }

    @Override
    public void inject(TestInjector testInjector) {
        testInjector.injectIntoFields(database,
                new TestInjector.AnnotatedAndMatchesType(InjectTestDatabase.class, TestDatabase.class));
    }

    @Override
    public void stop() {
        // The database stays for post-mortem inspection; the server goes with the JVM.
    }

    /** A fresh database with the Stack Auth base tables and upstream's sync additions, no sync layer of ours. */
    public static TestDatabase create(String prefix) {
        TestDatabase db = TestPostgres.createDatabase(prefix);
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            for (String file : resource("db/internal/migrations.idx").split("\n")) {
                if (!file.isBlank()) {
                    st.execute(resource("db/internal/" + file.strip()));
                }
            }
            for (String sql : upstreamSyncLayer()) {
                st.execute(sql);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot build the upstream-shaped database: " + e.getMessage(), e);
        }
        return db;
    }

    /** Upstream's sync DDL (schema-reference B.1 to B.6), names exact. */
    public static List<String> upstreamSyncLayer() {
        List<String> sql = new ArrayList<>();
        sql.add("CREATE SEQUENCE global_seq_id AS BIGINT START 1 INCREMENT BY 11 NO MINVALUE NO MAXVALUE");
        for (String table : SOURCE_TABLES) {
            sql.add("ALTER TABLE \"" + table + "\" ADD COLUMN \"sequenceId\" BIGINT, "
                    + "ADD COLUMN \"shouldUpdateSequenceId\" BOOLEAN NOT NULL DEFAULT TRUE");
            sql.add("CREATE UNIQUE INDEX \"" + table + "_sequenceId_key\" ON \"" + table + "\" (\"sequenceId\")");
            if (table.equals("VerificationCode")) {
                sql.add("CREATE INDEX \"VerificationCode_shouldUpdateSequenceId_type_idx\" ON \"VerificationCode\" "
                        + "(\"shouldUpdateSequenceId\", \"type\")");
            } else {
                sql.add("CREATE INDEX \"" + table + "_tenancyId_sequenceId_idx\" ON \"" + table
                        + "\" (\"tenancyId\", \"sequenceId\")");
                sql.add("CREATE INDEX \"" + table + "_shouldUpdateSequenceId_idx\" ON \"" + table
                        + "\" (\"shouldUpdateSequenceId\", \"tenancyId\")");
            }
        }
        sql.add("""
                CREATE TABLE "DeletedRow" (
                    "id" UUID NOT NULL,
                    "tenancyId" UUID NOT NULL,
                    "tableName" TEXT NOT NULL,
                    "sequenceId" BIGINT,
                    "primaryKey" JSONB NOT NULL,
                    "data" JSONB,
                    "deletedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    "startedFulfillingAt" TIMESTAMP(3),
                    "shouldUpdateSequenceId" BOOLEAN NOT NULL DEFAULT true,
                    CONSTRAINT "DeletedRow_pkey" PRIMARY KEY ("id")
                )""");
        sql.add("CREATE UNIQUE INDEX \"DeletedRow_sequenceId_key\" ON \"DeletedRow\" (\"sequenceId\")");
        sql.add("CREATE INDEX \"DeletedRow_tableName_idx\" ON \"DeletedRow\" (\"tableName\")");
        sql.add("CREATE INDEX \"DeletedRow_tenancyId_idx\" ON \"DeletedRow\" (\"tenancyId\")");
        sql.add("CREATE INDEX \"DeletedRow_tenancyId_tableName_sequenceId_idx\" ON \"DeletedRow\" "
                + "(\"tenancyId\", \"tableName\", \"sequenceId\")");
        sql.add("CREATE INDEX \"DeletedRow_shouldUpdateSequenceId_idx\" ON \"DeletedRow\" "
                + "(\"shouldUpdateSequenceId\", \"tenancyId\")");
        sql.add("""
                CREATE TABLE "OutgoingRequest" (
                    "id" UUID NOT NULL,
                    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    "deduplicationKey" TEXT,
                    "qstashOptions" JSONB NOT NULL,
                    "startedFulfillingAt" TIMESTAMP(3),
                    CONSTRAINT "OutgoingRequest_pkey" PRIMARY KEY ("id")
                )""");
        sql.add("CREATE UNIQUE INDEX \"OutgoingRequest_deduplicationKey_pending_key\" ON \"OutgoingRequest\" "
                + "(\"deduplicationKey\") WHERE \"startedFulfillingAt\" IS NULL");
        sql.add("CREATE INDEX \"OutgoingRequest_startedFulfillingAt_createdAt_idx\" ON \"OutgoingRequest\" "
                + "(\"startedFulfillingAt\", \"createdAt\")");
        sql.add("CREATE INDEX \"OutgoingRequest_startedFulfillingAt_deduplicationKey_idx\" ON \"OutgoingRequest\" "
                + "(\"startedFulfillingAt\", \"deduplicationKey\")");
        sql.add("""
                CREATE TABLE "ExternalDbSyncMetadata" (
                    "id" TEXT NOT NULL DEFAULT gen_random_uuid(),
                    "singleton" "BooleanTrue" NOT NULL DEFAULT 'TRUE',
                    "sequencerEnabled" BOOLEAN NOT NULL DEFAULT true,
                    "pollerEnabled" BOOLEAN NOT NULL DEFAULT true,
                    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    "updatedAt" TIMESTAMP(3) NOT NULL,
                    CONSTRAINT "ExternalDbSyncMetadata_pkey" PRIMARY KEY ("id")
                )""");
        sql.add("CREATE UNIQUE INDEX \"ExternalDbSyncMetadata_singleton_key\" ON \"ExternalDbSyncMetadata\" "
                + "(\"singleton\")");
        return sql;
    }

    /**
     * What upstream's sequencer does (schema-reference D.2): every flagged row gets {@code nextval('global_seq_id')}
     * and its flag cleared, table by table, {@code "DeletedRow"} last; no advisory lock, no enqueue here.
     */
    public static void upstreamStamp(TestDatabase db) {
        List<String> sql = new ArrayList<>();
        for (String table : SOURCE_TABLES) {
            sql.add("UPDATE \"" + table + "\" SET \"sequenceId\" = nextval('global_seq_id'), "
                    + "\"shouldUpdateSequenceId\" = FALSE WHERE \"shouldUpdateSequenceId\" = TRUE"
                    + (table.equals("VerificationCode") ? " AND \"type\" = 'TEAM_INVITATION'" : ""));
        }
        sql.add("UPDATE \"DeletedRow\" SET \"sequenceId\" = nextval('global_seq_id'), "
                + "\"shouldUpdateSequenceId\" = FALSE WHERE \"shouldUpdateSequenceId\" = TRUE");
        db.execute(sql.toArray(String[]::new));
    }

    /** Upstream's enqueue (schema-reference B.5): the tenancy only inside {@code "qstashOptions"}. */
    public static void upstreamEnqueue(TestDatabase db, UUID tenancyId) {
        db.update("""
                INSERT INTO "OutgoingRequest" ("id", "createdAt", "deduplicationKey", "qstashOptions")
                VALUES (gen_random_uuid(), NOW(), 'sentinel-sync-key-' || ?::text, jsonb_build_object(
                    'url', '/api/latest/internal/external-db-sync/sync-engine',
                    'body', jsonb_build_object('tenancyId', ?::text),
                    'flowControl', jsonb_build_object('key', 'sentinel-sync-key', 'parallelism', 20)))
                ON CONFLICT ("deduplicationKey") WHERE "startedFulfillingAt" IS NULL DO NOTHING""",
                tenancyId.toString(), tenancyId.toString());
    }

    /** Upstream's poller claim: {@code "startedFulfillingAt"} set on the oldest pending rows, nothing else. */
    public static int upstreamClaim(TestDatabase db, int limit) {
        return db.update("""
                UPDATE "OutgoingRequest" SET "startedFulfillingAt" = NOW()
                WHERE "id" IN (SELECT "id" FROM "OutgoingRequest" WHERE "startedFulfillingAt" IS NULL
                               ORDER BY "createdAt" LIMIT ? FOR UPDATE SKIP LOCKED)""", limit);
    }

    private static String resource(String name) {
        try (InputStream in = UpstreamStackAuthDatabase.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("missing classpath resource " + name
                        + " (shared-schema must be on the test class path)");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
