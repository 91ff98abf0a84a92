package dev.externaldbsync.service;

import java.util.Optional;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/** The internal database, as the operator names it. */
@ConfigMapping(prefix = "internal.database")
public interface InternalDatabaseConfig {

    /**
     * {@code INTERNAL_DATABASE_URL}: {@code postgresql://user:password@host:port/db}. Every service needs it;
     * {@link InternalDatabaseConfigSourceFactory} derives the Quarkus datasource settings from it.
     */
    Optional<String> url();

    /**
     * {@code INTERNAL_DATABASE_MAX_RESULT_BUFFER}: the most memory one result read from the internal database may
     * take (pgjdbc's {@code maxResultBuffer}: {@code 32M}, or a share of the heap such as {@code 10p}). Tenants write
     * the rows the services read, and a read cut by bytes still returns a row however wide: a wider one fails its
     * read (the connection is closed, the run is retried later) instead of the heap.
     */
    @WithDefault(InternalDatabaseConfigSourceFactory.DEFAULT_MAX_RESULT_BUFFER)
    String maxResultBuffer();
}
