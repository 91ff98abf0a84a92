package dev.externaldbsync.verifier;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.mapping.TargetColumn;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * A migrated internal database and one target database in which every tenancy gets its own schema (its connection
 * string names it with {@code currentSchema}), so tenancies never share target tables. "Syncing" here is done by the
 * test itself, without the engine: stamp every unstamped change-log entry, copy the tenancy's projection into its
 * target tables and set its cursors to the last stamp.
 */
final class World {

    private static final AtomicInteger SCHEMAS = new AtomicInteger();

    final TestDatabase internal;
    final TestDatabase target;
    final StackAuthFixtures fx;

    World() {
        internal = TestPostgres.createDatabase("iv_internal");
        SchemaMigrations.migrate(internal.dataSource(), MigrateMode.ALL);
        target = TestPostgres.createDatabase("iv_target");
        fx = new StackAuthFixtures(internal);
    }

    /** A tenancy with one target ("main") in a fresh schema holding every target table. */
    Tenancy tenancy() {
        Tenancy t = fx.createTenancy();
        String schema = "tenant_" + SCHEMAS.incrementAndGet();
        List<String> ddl = new ArrayList<>();
        ddl.add("CREATE SCHEMA " + schema);
        ddl.add("SET search_path TO " + schema);
        ddl.addAll(Mappings.TARGET_DDL);
        target.execute(ddl.toArray(String[]::new));
        fx.configureTargets(t, Map.of("main", targetUrl(schema)));
        schemas.put(t.id(), schema);
        return t;
    }

    final Map<UUID, String> schemas = new java.util.HashMap<>();

    /** A tenancy whose one target is the same database and schema as {@code other}'s. */
    Tenancy tenancySharingTargetWith(Tenancy other) {
        Tenancy t = fx.createTenancy();
        fx.configureTargets(t, Map.of("main", targetUrl(schema(other))));
        schemas.put(t.id(), schema(other));
        return t;
    }

    String targetUrl(String schema) {
        return target.postgresUrl() + "?currentSchema=" + schema;
    }

    String schema(Tenancy t) {
        return schemas.get(t.id());
    }

    /** Runs statements on the tenancy's target schema. */
    void onTarget(Tenancy t, String... sql) {
        List<String> all = new ArrayList<>();
        all.add("SET search_path TO " + schema(t));
        all.addAll(List.of(sql));
        target.execute(all.toArray(String[]::new));
    }

    /**
     * What the sequencer does: stamps every unstamped change-log entry in entry order, then drops the older stamped
     * entries of each key (its compaction), so the verifier is tested against a compacted log as in production.
     */
    void stamp() {
        internal.execute("""
                WITH s AS (SELECT u."id", nextval('global_seq_id') AS seq
                           FROM (SELECT "id" FROM "SyncChange" WHERE "sequenceId" IS NULL ORDER BY "id") u)
                UPDATE "SyncChange" c SET "sequenceId" = s.seq FROM s WHERE c."id" = s."id\"""", """
                DELETE FROM "SyncChange" c USING "SyncChange" n
                WHERE n."tenancyId" = c."tenancyId" AND n."tableName" = c."tableName"
                  AND n."primaryKey" = c."primaryKey" AND n."sequenceId" > c."sequenceId\"""");
    }

    long lastStamp() {
        return internal.queryLong("SELECT last_value FROM global_seq_id");
    }

    /** Stamps, replaces the tenancy's target rows with its projection, and sets every cursor to the last stamp. */
    void sync(Tenancy t) {
        stamp();
        long cursor = lastStamp();
        try (Connection in = internal.connect(); Connection out = target.connect()) {
            try (Statement s = out.createStatement()) {
                s.execute("SET search_path TO " + schema(t));
            }
            for (Mapping m : Mappings.ALL) {
                copy(in, out, m, t.id());
                setCursor(out, t.id(), m.name(), cursor);
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    void setCursor(Tenancy t, String mapping, long cursor) {
        try (Connection out = target.connect()) {
            try (Statement s = out.createStatement()) {
                s.execute("SET search_path TO " + schema(t));
            }
            setCursor(out, t.id(), mapping, cursor);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void setCursor(Connection out, UUID tenancy, String mapping, long cursor) throws SQLException {
        try (PreparedStatement ps = out.prepareStatement("""
                INSERT INTO "_stack_sync_metadata" ("tenancy_id", "mapping_name", "last_synced_sequence_id")
                VALUES (?, ?, ?) ON CONFLICT ("tenancy_id", "mapping_name")
                DO UPDATE SET "last_synced_sequence_id" = EXCLUDED."last_synced_sequence_id\"""")) {
            ps.setObject(1, tenancy);
            ps.setString(2, mapping);
            ps.setLong(3, cursor);
            ps.executeUpdate();
        }
    }

    private static void copy(Connection in, Connection out, Mapping m, UUID tenancy) throws SQLException {
        List<TargetColumn> cols = m.columns();
        String select = "SELECT " + cols.stream().map(c -> "(p." + c.quoted() + ")::" + c.type() + "::text")
                .collect(Collectors.joining(", ")) + " FROM (" + m.projectionSql() + ") p";
        List<TargetColumn> rest = cols.stream().filter(c -> !m.keyColumns().contains(c.name())).toList();
        // An upsert, not a replace: a target may be shared with other tenancies.
        String insert = "INSERT INTO " + m.quotedTable() + " ("
                + cols.stream().map(TargetColumn::quoted).collect(Collectors.joining(", ")) + ") VALUES ("
                + cols.stream().map(c -> "?::" + c.type()).collect(Collectors.joining(", ")) + ") ON CONFLICT ("
                + m.keyColumns().stream().map(k -> "\"" + k + "\"").collect(Collectors.joining(", ")) + ") "
                + (rest.isEmpty() ? "DO NOTHING" : "DO UPDATE SET " + rest.stream()
                        .map(c -> c.quoted() + " = EXCLUDED." + c.quoted()).collect(Collectors.joining(", ")));
        try (PreparedStatement ps = in.prepareStatement(select); PreparedStatement ins = out.prepareStatement(insert)) {
            ps.setObject(1, tenancy);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    for (int i = 1; i <= cols.size(); i++) {
                        ins.setString(i, rs.getString(i));
                    }
                    ins.executeUpdate();
                }
            }
        }
    }

    /** The outcome of one in-process run. */
    record Run(int exit, String out, String err) {

        /** stdout lines that are unit records or verify differences (everything but the summary). */
        List<String> failures() {
            return out.lines().filter(l -> !l.startsWith("{\"summary\"")).toList();
        }

        String summary() {
            return out.lines().filter(l -> l.startsWith("{\"summary\"")).findFirst().orElseThrow();
        }
    }

    Run run(String... args) {
        List<String> all = new ArrayList<>();
        all.add("--internal-url=" + internal.postgresUrl());
        all.addAll(List.of(args));
        return runRaw(all.toArray(String[]::new));
    }

    static Run runRaw(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            exit = VerifyIntegrity.execute(o, e, args);
        }
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
