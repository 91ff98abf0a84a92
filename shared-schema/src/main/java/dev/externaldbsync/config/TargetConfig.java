package dev.externaldbsync.config;

/**
 * One external database of one tenancy: {@code dbSync.externalDatabases.<id>} of its environment config.
 *
 * @param id   the key under {@code externalDatabases} (e.g. {@code main})
 * @param type the target type; only {@code postgres} exists today
 * @param url  the parsed connection string (its {@code toString()} is redacted)
 */
public record TargetConfig(String id, String type, PostgresUrl url) {
}
