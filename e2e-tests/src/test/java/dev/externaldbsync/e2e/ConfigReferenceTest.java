package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import io.smallrye.config.WithName;

/**
 * The README's configuration table is the operator's reference: it must list every key of every {@code @ConfigMapping}
 * interface of the services, with the same environment variable and default, and nothing that does not exist.
 */
class ConfigReferenceTest {

    private static final List<String> MAPPINGS = List.of(
            "dev.externaldbsync.service.CommonConfig",
            "dev.externaldbsync.service.AdminConfig",
            "dev.externaldbsync.service.InternalDatabaseConfig",
            "dev.externaldbsync.sequencer.SequencerConfig",
            "dev.externaldbsync.poller.PollerConfig",
            "dev.externaldbsync.poller.SyncEndpointConfig",
            "dev.externaldbsync.engine.EngineConfig",
            "dev.externaldbsync.engine.SigningConfig");

    /** Quarkus' own keys the README documents on purpose. */
    private static final List<String> QUARKUS_KEYS = List.of("quarkus.http.port", "quarkus.shutdown.timeout");

    private static final Pattern ROW = Pattern.compile("^\\| `([a-z.-]+)` \\| `([A-Z_]+)` \\| ([^|]+) \\|");

    @Test
    void readmeTableListsEveryConfigKeyWithItsEnvironmentVariableAndDefault() throws Exception {
        Map<String, String> fromCode = new LinkedHashMap<>();
        for (String mapping : MAPPINGS) {
            Class<?> type = Class.forName(mapping);
            collect(type.getAnnotation(ConfigMapping.class).prefix(), type, fromCode);
        }
        Map<String, String[]> fromReadme = readmeRows();

        fromCode.forEach((key, defaultValue) -> {
            assertThat(fromReadme).as("README row for %s", key).containsKey(key);
            String[] row = fromReadme.get(key);
            assertThat(row[0]).as("environment variable of %s", key).isEqualTo(envName(key));
            assertThat(row[1]).as("default of %s", key).isEqualTo(defaultValue == null ? "—" : "`" + defaultValue + "`");
        });
        assertThat(fromReadme.keySet()).as("README rows without a config key behind them")
                .allSatisfy(key -> assertThat(fromCode.containsKey(key) || QUARKUS_KEYS.contains(key)).as(key).isTrue());
        assertThat(fromCode).hasSizeGreaterThan(30);
    }

    private static void collect(String prefix, Class<?> type, Map<String, String> into) {
        for (Method method : type.getDeclaredMethods()) {
            if (method.isSynthetic() || method.isDefault() || java.lang.reflect.Modifier.isStatic(method.getModifiers())) {
                continue;
            }
            WithName name = method.getAnnotation(WithName.class);
            String key = prefix + "." + (name != null ? name.value() : kebab(method.getName()));
            Class<?> returned = method.getReturnType();
            if (returned.isInterface() && returned.getEnclosingClass() == type) {
                collect(key, returned, into);
                continue;
            }
            WithDefault defaultValue = method.getAnnotation(WithDefault.class);
            into.put(key, defaultValue == null ? null : defaultValue.value());
        }
    }

    private static Map<String, String[]> readmeRows() throws IOException {
        Map<String, String[]> rows = new LinkedHashMap<>();
        for (String line : Files.readAllLines(ServiceProcess.repoRoot().resolve("README.md"))) {
            Matcher m = ROW.matcher(line);
            if (m.find()) {
                rows.put(m.group(1), new String[] { m.group(2), m.group(3).strip() });
            }
        }
        return rows;
    }

    private static String kebab(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT);
    }

    private static String envName(String key) {
        return key.toUpperCase(Locale.ROOT).replaceAll("[^A-Z0-9]", "_");
    }
}
