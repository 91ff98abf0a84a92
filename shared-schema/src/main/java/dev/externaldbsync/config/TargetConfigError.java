package dev.externaldbsync.config;

/**
 * Why one configured target cannot be used. The message never contains a password.
 *
 * @param targetId the key under {@code externalDatabases}
 * @param message  what is wrong, e.g. {@code unknown type 'mysql' (supported: postgres)}
 */
public record TargetConfigError(String targetId, String message) {
}
