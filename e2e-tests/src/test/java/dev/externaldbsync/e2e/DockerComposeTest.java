package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.config.PostgresUrl;

/**
 * docker-compose.yml cannot run here (no Docker engine), so its structure is checked instead: the same topology as
 * the local runner and Kubernetes, and exactly the operator variables and ports the services read.
 */
class DockerComposeTest {

    private static JsonNode services;

    @BeforeAll
    static void parse() throws IOException {
        // SnakeYAML, not Jackson: Jackson's YAML reader drops "<<:" merge keys, which this file relies on.
        try (var in = Files.newInputStream(ServiceProcess.repoRoot().resolve("docker-compose.yml"))) {
            Object document = new org.yaml.snakeyaml.Yaml().load(in);
            services = new ObjectMapper().valueToTree(document).path("services");
        }
    }

    @Test
    void hasBothDatabasesTheMigrationStepAndTheThreeServices() {
        assertThat(names()).containsExactlyInAnyOrder("internal-db", "external-db", "migrate", "seed-demo", "sequencer",
                "poller", "sync-engine");
        assertThat(env("migrate")).containsEntry("SYNC_MIGRATE_ONLY", "true").containsEntry("SYNC_MIGRATE_AT_START", "all");
        for (String service : Set.of("sequencer", "poller", "sync-engine")) {
            assertThat(services.path(service).path("depends_on").path("migrate").path("condition").asText())
                    .isEqualTo("service_completed_successfully");
            assertThat(env(service)).containsEntry("SYNC_MIGRATE_AT_START", "none");
        }
    }

    @Test
    void servicesReadExactlyTheOperatorVariablesOnTheirConfiguredPorts() throws IOException {
        Map<String, String> modules = Map.of("sequencer", "sequencer-service", "poller", "poller-service",
                "sync-engine", "sync-engine-service");
        for (var entry : modules.entrySet()) {
            Map<String, String> env = env(entry.getKey());
            Set<String> expected = entry.getKey().equals("poller")
                    ? Set.of("INTERNAL_DATABASE_URL", "SYNC_SIGNING_SECRET", "ADMIN_TOKEN", "SYNC_MIGRATE_AT_START",
                            "QUARKUS_HTTP_PORT", "SYNC_ENGINE_URL", "POLLER_SEQUENCER_URL")
                    : entry.getKey().equals("sync-engine")
                    ? Set.of("INTERNAL_DATABASE_URL", "SYNC_SIGNING_SECRET", "ADMIN_TOKEN", "SYNC_MIGRATE_AT_START",
                            "QUARKUS_HTTP_PORT", "ENGINE_TARGETS_ALLOW_PRIVATE", "ENGINE_TARGETS_MIN_SSLMODE")
                    : Set.of("INTERNAL_DATABASE_URL", "SYNC_SIGNING_SECRET", "ADMIN_TOKEN", "SYNC_MIGRATE_AT_START",
                            "QUARKUS_HTTP_PORT");
            assertThat(env.keySet()).as(entry.getKey()).isEqualTo(expected);
            String port = env.get("QUARKUS_HTTP_PORT");
            assertThat(defaultPort(entry.getValue())).isEqualTo(port);
            assertThat(services.path(entry.getKey()).path("ports").get(0).asText()).isEqualTo(port + ":" + port);
            assertThat(PostgresUrl.parse(env.get("INTERNAL_DATABASE_URL")).host()).isEqualTo("internal-db");
            if (!entry.getKey().equals("sync-engine")) {
                assertThat(services.path(entry.getKey()).path("build").path("dockerfile").asText())
                        .isEqualTo(entry.getValue() + "/src/main/docker/Dockerfile.jvm");
            }
        }
        assertThat(env("poller").get("SYNC_ENGINE_URL")).isEqualTo("http://sync-engine:" + env("sync-engine").get("QUARKUS_HTTP_PORT"));
        assertThat(env("poller").get("POLLER_SEQUENCER_URL"))
                .isEqualTo("http://sequencer:" + env("sequencer").get("QUARKUS_HTTP_PORT"));
        assertThat(Files.exists(ServiceProcess.repoRoot().resolve("docker/seed-demo.sql"))).isTrue();
    }

    private static Set<String> names() {
        Set<String> names = new java.util.HashSet<>();
        services.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static Map<String, String> env(String service) {
        Map<String, String> env = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = services.path(service).path("environment").fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> field = it.next();
            env.put(field.getKey(), field.getValue().asText());
        }
        return env;
    }

    private static String defaultPort(String module) throws IOException {
        Properties properties = new Properties();
        try (var in = Files.newInputStream(ServiceProcess.repoRoot().resolve(module)
                .resolve("src/main/resources/application.properties"))) {
            properties.load(in);
        }
        return properties.getProperty("quarkus.http.port").replaceAll("\\$\\{QUARKUS_HTTP_PORT:(\\d+)}", "$1");
    }
}
