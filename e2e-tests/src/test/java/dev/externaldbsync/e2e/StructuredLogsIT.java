package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;

/**
 * The packaged services run in the prod profile and log one JSON object per line (issue #8): every line parses, names
 * its service, and a line about a failing target carries the tenancy and target ids in its MDC while the target's
 * password appears on no line of any service.
 */
class StructuredLogsIT {

    private static final String PASSWORD = "pw-that-must-never-be-logged-7f3a";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Pipeline pipeline;

    @BeforeAll
    static void startPipeline() {
        pipeline = Pipeline.start(1, 1, 1);
    }

    @AfterAll
    static void stopPipeline() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    @Test
    void everyLineIsJsonAndLinesAboutAFailingTargetCarryItsIdsButNeverItsPassword() {
        Tenancy tenancy = pipeline.fixtures.createTenancy();
        // Port 1 on loopback refuses at once: the engine fails this target and logs it.
        pipeline.fixtures.configureTargets(tenancy,
                Map.of("crm", "postgresql://sync:" + PASSWORD + "@127.0.0.1:1/crm"));
        pipeline.fixtures.createUser(tenancy, "Ada", "ada@example.com");
        ServiceProcess engine = pipeline.engines.get(0);

        JsonNode failure = Awaitility.await("a log line about the failing target").atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(250))
                .until(() -> lines(engine).stream()
                        .filter(line -> tenancy.id().toString().equals(line.path("mdc").path("tenancyId").asText()))
                        .filter(line -> "crm".equals(line.path("mdc").path("targetId").asText()))
                        .findFirst().orElse(null), found -> found != null);

        assertThat(failure.path("level").asText()).isIn("WARN", "ERROR");
        assertThat(failure.path("service").asText()).isEqualTo("sync-engine-service");
        assertThat(failure.path("timestamp").asText()).isNotBlank();
        for (ServiceProcess service : pipeline.all()) {
            List<JsonNode> lines = lines(service);
            assertThat(lines).as(service.log() + " has log lines").isNotEmpty();
            assertThat(lines).as("service field of " + service.log())
                    .allSatisfy(line -> assertThat(line.path("service").asText()).endsWith("-service"));
            assertThat(read(service.log())).as(service.log() + " never shows the target password")
                    .doesNotContain(PASSWORD);
        }
    }

    /** Every non-empty line of the service's output, each parsed as JSON (a line that is not JSON fails the test). */
    private static List<JsonNode> lines(ServiceProcess service) {
        return read(service.log()).lines().filter(line -> !line.isBlank()).map(line -> {
            try {
                return JSON.readTree(line);
            } catch (JsonProcessingException e) {
                throw new AssertionError("not a JSON log line in " + service.log() + ": " + line, e);
            }
        }).toList();
    }

    private static String read(Path log) {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
