package dev.externaldbsync.config;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

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
 * {@link TargetConfigError} for that entry only. Tenants are untrusted, so the config is bounded: target ids must match
 * {@link #TARGET_ID}, a connection string may carry only the parameters of {@link #ALLOWED_PARAMS}, and a tenancy may
 * have at most {@link Rules#maxTargetsPerTenancy()} targets (beyond that the tenancy has one error and no targets).
 * The sync engine installs its operator policy as the {@link Rules}; elsewhere the defaults apply. Thread-safe.
 */
public final class TargetConfigParser {

    public static final String POSTGRES = "postgres";

    /** What a target id may be: it names tables' rows, log lines and metrics, so nothing that could break them. */
    public static final Pattern TARGET_ID = Pattern.compile("^[A-Za-z0-9_-]{1,64}$");

    /**
     * The only connection-string parameters a tenant may give. Anything else (pgjdbc's {@code host}, {@code port},
     * {@code socketTimeout}, {@code options}, {@code socketFactory} …) could move the connection elsewhere or lift
     * the engine's bounds. The search path is not configurable: the engine writes to its own tables.
     */
    public static final Set<String> ALLOWED_PARAMS = Set.of("sslmode", "application_name", "currentSchema");

    /**
     * One plain schema name: several tenancies may share a database one schema each, but a list or a quoted name
     * would let a config put {@code pg_catalog} or another tenant's schema on the engine's search path.
     */
    public static final java.util.regex.Pattern SCHEMA_NAME = java.util.regex.Pattern.compile("[a-z_][a-z0-9_]{0,62}");

    /** pgjdbc's sslmode values, weakest first. */
    public static final List<String> SSL_MODES = List.of("disable", "allow", "prefer", "require", "verify-ca",
            "verify-full");

    public static final int DEFAULT_MAX_TARGETS = 10;

    /** The operator's part of validation; installed once by the service that connects to targets. */
    public interface Rules {
        int maxTargetsPerTenancy();

        /** Why this (otherwise well-formed) target must not be used, or null. Never shows a password. */
        String refusal(TargetConfig target);
    }

    public static final Rules DEFAULT_RULES = new Rules() {
        @Override
        public int maxTargetsPerTenancy() {
            return DEFAULT_MAX_TARGETS;
        }

        @Override
        public String refusal(TargetConfig target) {
            return null;
        }
    };

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private static volatile Rules rules = DEFAULT_RULES;

    /** Installs the operator policy (the sync engine does at start-up). */
    public static void install(Rules operatorRules) {
        rules = operatorRules == null ? DEFAULT_RULES : operatorRules;
    }

    public static Rules rules() {
        return rules;
    }

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
        Rules current = rules;
        int configured = 0;
        for (Iterator<JsonNode> it = databases.elements(); it.hasNext();) {
            configured += it.next().isNull() ? 0 : 1;
        }
        if (configured > current.maxTargetsPerTenancy()) {
            return new TargetConfigs(List.of(), List.of(new TargetConfigError("*", configured
                    + " targets configured, at most " + current.maxTargetsPerTenancy()
                    + " are allowed per tenancy (engine.targets.max-per-tenancy): none is synced until some are removed")));
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
            if (!TARGET_ID.matcher(id).matches()) {
                errors.add(new TargetConfigError(shownId(id), "target id must match " + TARGET_ID.pattern() + " (got "
                        + id.length() + " characters; shown with every other character replaced by _)"));
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
            PostgresUrl url;
            try {
                url = PostgresUrl.parse(connectionString.asText());
            } catch (IllegalArgumentException e) {
                errors.add(new TargetConfigError(id, "malformed connectionString: " + e.getMessage()));
                continue;
            }
            String problem = paramProblem(url);
            if (problem == null) {
                TargetConfig parsed = new TargetConfig(id, POSTGRES, url);
                problem = current.refusal(parsed);
                if (problem == null) {
                    targets.add(parsed);
                    continue;
                }
            }
            errors.add(new TargetConfigError(id, problem));
        }
        return new TargetConfigs(targets, errors);
    }

    /** Why the URL's parameters are unacceptable, or null; names the first offending parameter. */
    static String paramProblem(PostgresUrl url) {
        for (String name : url.params().keySet().stream().sorted().toList()) {
            if (!ALLOWED_PARAMS.contains(name)) {
                return "connectionString parameter '" + printable(name) + "' is not allowed (allowed: "
                        + String.join(", ", ALLOWED_PARAMS.stream().sorted().toList())
                        + "; host, port and database come from the URL itself)";
            }
        }
        String schema = url.params().get("currentSchema");
        if (schema != null && !SCHEMA_NAME.matcher(schema).matches()) {
            return "connectionString parameter currentSchema must be one lower-case schema name ([a-z_][a-z0-9_]*, "
                    + "at most 63 characters)";
        }
        String sslmode = url.params().get("sslmode");
        if (sslmode != null && !SSL_MODES.contains(sslmode)) {
            return "connectionString parameter sslmode must be one of " + String.join(", ", SSL_MODES);
        }
        return null;
    }

    /**
     * A rejected id as it may be shown: prefixed with {@code !} (so it never equals a valid id) and with anything
     * outside the id alphabet replaced, so a newline or NUL never reaches a log line or the internal database.
     */
    static String shownId(String id) {
        String cut = id.length() > 64 ? id.substring(0, 64) : id;
        return "!" + cut.replaceAll("[^A-Za-z0-9_-]", "_");
    }

    private static String printable(String text) {
        String cut = text.length() > 64 ? text.substring(0, 64) + "…" : text;
        return cut.replaceAll("[^\\x20-\\x7E]", "?");
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
