package dev.externaldbsync.service;

import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

import org.eclipse.microprofile.config.spi.ConfigSource;

import dev.externaldbsync.config.PostgresUrl;
import io.smallrye.config.ConfigSourceContext;
import io.smallrye.config.ConfigSourceFactory;
import io.smallrye.config.ConfigValue;
import io.smallrye.config.PropertiesConfigSource;

/**
 * Turns the operator's single {@code INTERNAL_DATABASE_URL} ({@code postgresql://user:password@host:port/db}) into
 * the JDBC datasource settings Quarkus needs, and bounds every result read through that datasource by {@code
 * INTERNAL_DATABASE_MAX_RESULT_BUFFER} (pgjdbc's {@code maxResultBuffer}, checked before a message is buffered).
 * <p>
 * Ordinal 275: above {@code application.properties} (250), below environment variables (300), so an operator can
 * still override a single {@code QUARKUS_DATASOURCE_*} setting. A malformed URL fails start-up with a message that
 * shows it redacted.
 */
public class InternalDatabaseConfigSourceFactory implements ConfigSourceFactory {

    public static final String PROPERTY = "internal.database.url";
    public static final String MAX_RESULT_BUFFER = "internal.database.max-result-buffer";
    public static final String DEFAULT_MAX_RESULT_BUFFER = "32M";
    private static final int ORDINAL = 275;

    @Override
    public Iterable<ConfigSource> getConfigSources(ConfigSourceContext context) {
        Map<String, String> properties = new java.util.HashMap<>();
        ConfigValue buffer = context.getValue(MAX_RESULT_BUFFER);
        properties.put("quarkus.datasource.jdbc.additional-jdbc-properties.maxResultBuffer",
                buffer == null || buffer.getValue() == null || buffer.getValue().isBlank() ? DEFAULT_MAX_RESULT_BUFFER
                        : buffer.getValue().strip());
        ConfigValue value = context.getValue(PROPERTY);
        if (value == null || value.getValue() == null || value.getValue().isBlank()) {
            return List.of(new PropertiesConfigSource(properties, "INTERNAL_DATABASE_MAX_RESULT_BUFFER", ORDINAL));
        }
        PostgresUrl url;
        try {
            url = PostgresUrl.parse(value.getValue());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("INTERNAL_DATABASE_URL: " + e.getMessage(), e);
        }
        String jdbcUrl = url.jdbcUrl();
        properties.put("quarkus.datasource.jdbc.url", jdbcUrl);
        if (url.user() != null) {
            properties.put("quarkus.datasource.username", url.user());
        }
        if (url.password() != null) {
            properties.put("quarkus.datasource.password", url.password());
        }
        return List.of(new PropertiesConfigSource(properties, "INTERNAL_DATABASE_URL", ORDINAL));
    }

    @Override
    public OptionalInt getPriority() {
        return OptionalInt.of(ORDINAL);
    }
}
