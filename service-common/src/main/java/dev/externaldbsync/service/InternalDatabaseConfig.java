package dev.externaldbsync.service;

import java.util.Optional;

import io.smallrye.config.ConfigMapping;

/** The internal database, as the operator names it. */
@ConfigMapping(prefix = "internal.database")
public interface InternalDatabaseConfig {

    /**
     * {@code INTERNAL_DATABASE_URL}: {@code postgresql://user:password@host:port/db}. Every service needs it;
     * {@link InternalDatabaseConfigSourceFactory} derives the Quarkus datasource settings from it.
     */
    Optional<String> url();
}
