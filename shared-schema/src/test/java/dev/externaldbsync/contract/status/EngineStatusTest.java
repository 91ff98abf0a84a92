package dev.externaldbsync.contract.status;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The engine's status body keeps the JSON field names readers know, and round-trips through Jackson. */
class EngineStatusTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static EngineStatus status(String internalError) {
        return new EngineStatus("sync-engine", "running", 1, 2, 3, 2000, "v", List.of("users"), "host", 4L, 5L, false,
                6L, true, "2026-01-01 00:00:00", 7L, false, 8L, false, internalError, null, null);
    }

    @Test
    void serialisesTheFlatFieldNamesOfTheStatusAndNothingElse() throws Exception {
        JsonNode node = JSON.readTree(JSON.writeValueAsString(status(null)));
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);

        assertThat(names).containsExactly("service", "state", "activeRuns", "completedRuns", "openPools", "pageSize",
                "schemaVersion", "mappings", "instanceId", "rowsAppliedSinceStart", "trackedTargets",
                "trackedTargetsEstimate", "failingTargets", "failingTargetsCapped", "oldestFailingSince", "poisonRows",
                "poisonRowsCapped", "pausedTenancies", "pausedTenanciesCapped", "lastError", "lastErrorAt");
        assertThat(JSON.readTree(JSON.writeValueAsString(status("down"))).get("internalDatabaseError").asText())
                .isEqualTo("down");
    }

    @Test
    void readsBackWithTheDashboardFiguresTyped() throws Exception {
        EngineStatus read = JSON.readValue(JSON.writeValueAsString(status(null)), EngineStatus.class);

        assertThat(read).isEqualTo(status(null));
        assertThat(read.figures()).isEqualTo(new EngineFigures(new CappedCount(6, true), "2026-01-01 00:00:00",
                new CappedCount(7, false)));
        EngineStatus unread = new EngineStatus("sync-engine", "running", 0, 0, 0, 1, "v", List.of(), "h", 0, null,
                null, null, null, null, null, null, null, null, "down", null, null);
        assertThat(unread.figures()).as("no figures without the internal database").isNull();
    }
}
