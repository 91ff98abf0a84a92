package dev.externaldbsync.load;

import dev.externaldbsync.config.PostgresUrl;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Locale;

/** Small shared helpers: JDBC connections from connection strings and duration parsing. Stateless. */
final class Db {

    private Db() {
    }

    static Connection connect(String connectionString) throws SQLException {
        PostgresUrl url = PostgresUrl.parse(connectionString);
        return DriverManager.getConnection(url.jdbcUrl(), url.user(), url.password());
    }

    /** Accepts {@code 500ms}, {@code 20s}, {@code 5m}, {@code 1h}, a bare number of seconds, or ISO-8601 {@code PT20S}. */
    static Duration parseDuration(String text) {
        String t = text.strip().toLowerCase(Locale.ROOT);
        if (t.startsWith("pt") || t.startsWith("p")) {
            return Duration.parse(text.strip().toUpperCase(Locale.ROOT));
        }
        if (t.endsWith("ms")) {
            return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
        }
        if (t.endsWith("s")) {
            return Duration.ofMillis(Math.round(Double.parseDouble(t.substring(0, t.length() - 1)) * 1000));
        }
        if (t.endsWith("m")) {
            return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1)) * 60);
        }
        if (t.endsWith("h")) {
            return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1)) * 3600);
        }
        return Duration.ofMillis(Math.round(Double.parseDouble(t) * 1000));
    }

    /** picocli converter for {@link #parseDuration}. */
    static final class DurationConverter implements picocli.CommandLine.ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            return parseDuration(value);
        }
    }
}
