package dev.externaldbsync.config;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Reads a tenancy's targets from its {@code "EnvironmentConfigOverride"."config"}.
 * <p>
 * A config override may write keys nested ({@code {"dbSync": {"externalDatabases": …}}}) or as dotted paths
 * ({@code {"dbSync.externalDatabases": …}}, even {@code {"dbSync.externalDatabases.main": …}}); both forms are merged
 * the way Stack Auth renders the config: entries apply in key order and a key replaces everything below it. An entry
 * whose value is {@code null} removes that target.
 * <p>
 * Each entry is validated on its own: an unknown type, a missing or malformed connection string becomes a
 * {@link TargetConfigError} for that entry only. Stateless and thread-safe.
 */
public final class TargetConfigParser {

    public static final String POSTGRES = "postgres";

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private TargetConfigParser() {
    }

    /** Parses the config column's JSON text. A config that is not a JSON object has no targets. */
    public static TargetConfigs parse(String configJson) {
        if (configJson == null || configJson.isBlank()) {
            return TargetConfigs.NONE;
        }
        try {
            return parse(MAPPER.readTree(configJson));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            return new TargetConfigs(List.of(),
                    List.of(new TargetConfigError("*", "environment config is not valid JSON: " + e.getOriginalMessage())));
        }
    }

    public static TargetConfigs parse(JsonNode config) {
        if (config == null || !config.isObject()) {
            return TargetConfigs.NONE;
        }
        JsonNode databases = normalize(config).path("dbSync").path("externalDatabases");
        if (databases.isMissingNode() || databases.isNull()) {
            return TargetConfigs.NONE;
        }
        if (!databases.isObject()) {
            return new TargetConfigs(List.of(), List.of(new TargetConfigError("*",
                    "dbSync.externalDatabases must be an object of named targets, got " + databases.getNodeType())));
        }
        List<TargetConfig> targets = new ArrayList<>();
        List<TargetConfigError> errors = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = databases.fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> entry = it.next();
            String id = entry.getKey();
            JsonNode target = entry.getValue();
            if (target.isNull()) {
                continue;
            }
            if (!target.isObject()) {
                errors.add(new TargetConfigError(id, "target must be an object with type and connectionString"));
                continue;
            }
            JsonNode type = target.get("type");
            if (type == null || !type.isTextual() || type.asText().isBlank()) {
                errors.add(new TargetConfigError(id, "type is missing (supported: postgres)"));
                continue;
            }
            if (!POSTGRES.equals(type.asText())) {
                errors.add(new TargetConfigError(id, "unknown type '" + type.asText() + "' (supported: postgres)"));
                continue;
            }
            JsonNode connectionString = target.get("connectionString");
            if (connectionString == null || connectionString.isNull()) {
                errors.add(new TargetConfigError(id, "connectionString is missing"));
                continue;
            }
            if (!connectionString.isTextual()) {
                errors.add(new TargetConfigError(id, "connectionString must be a string"));
                continue;
            }
            try {
                targets.add(new TargetConfig(id, POSTGRES, PostgresUrl.parse(connectionString.asText())));
            } catch (IllegalArgumentException e) {
                errors.add(new TargetConfigError(id, "malformed connectionString: " + e.getMessage()));
            }
        }
        return new TargetConfigs(targets, errors);
    }

    /** Expands dotted keys into nested objects, later keys replacing the subtree they name. */
    static ObjectNode normalize(JsonNode override) {
        ObjectNode result = JsonNodeFactory.instance.objectNode();
        for (Iterator<Map.Entry<String, JsonNode>> it = override.fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> entry = it.next();
            String[] path = entry.getKey().split("\\.");
            JsonNode value = entry.getValue().isObject() ? normalize(entry.getValue()) : entry.getValue();
            ObjectNode parent = result;
            for (int i = 0; i < path.length - 1; i++) {
                JsonNode child = parent.get(path[i]);
                if (child == null || !child.isObject()) {
                    child = parent.putObject(path[i]);
                }
                parent = (ObjectNode) child;
            }
            parent.set(path[path.length - 1], value);
        }
        return result;
    }
}
