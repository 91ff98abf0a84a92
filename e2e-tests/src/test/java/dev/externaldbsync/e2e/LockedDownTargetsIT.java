package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;

/**
 * Issue #16's locked-down deployment against the packaged services: loopback denied, only the address
 * {@code 127.0.0.1} allowed as written. A target named {@code localhost} resolves to a denied address, so the engine
 * refuses it when the socket connects (after DNS), as a config error, while the tenancy's allowed target syncs.
 */
class LockedDownTargetsIT {

    private static final Duration SYNCED = Duration.ofSeconds(45);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Pipeline pipeline;

    @BeforeAll
    static void startPipeline() {
        pipeline = Pipeline.start(1, 1, 1, Map.of("ENGINE_TARGETS_ALLOW_LOOPBACK", "false",
                "ENGINE_TARGETS_ALLOW", "127.0.0.1"));
    }

    @AfterAll
    static void stopPipeline() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    @Test
    void aHostNameResolvingToADeniedAddressIsRefusedAtConnectAndLoggedWhileTheAllowedTargetSyncs() throws Exception {
        StackAuthFixtures fixtures = pipeline.fixtures;
        Tenancy tenancy = fixtures.createTenancy();
        TestDatabase behindName = pipeline.newExternal();
        TestDatabase allowed = pipeline.newExternal();
        Map<String, Object> databases = new LinkedHashMap<>();
        databases.put("by-name", Map.of("type", "postgres", "connectionString", behindName.postgresUrl()));
        databases.put("allowed", Map.of("type", "postgres", "connectionString",
                allowed.postgresUrl().replace("@localhost:", "@127.0.0.1:")));
        fixtures.setConfig(tenancy, JSON.writeValueAsString(Map.of("dbSync", Map.of("externalDatabases", databases))));
        fixtures.createUser(tenancy, "Owner", "owner@example.com");

        Oracle.awaitMirrors(pipeline.internal, allowed, List.of(tenancy.id()), SYNCED);
        pipeline.awaitQuiescent(SYNCED);

        for (String table : List.of("users", "_stack_sync_metadata")) {
            assertThat(Oracle.tableExists(behindName, table)).as("%s behind the refused name", table).isFalse();
        }
        assertThat(pipeline.internal.queryLong("SELECT count(*) FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?",
                tenancy.id())).as("a config error is not retried").isZero();
        String engineLog = Files.readString(pipeline.engines.get(0).log());
        assertThat(engineLog).contains("refused by the engine's connection policy")
                .contains("localhost (resolved to 127.0.0.1) is a loopback address");
    }
}
