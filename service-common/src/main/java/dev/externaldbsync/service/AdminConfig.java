package dev.externaldbsync.service;

import java.util.Optional;

import io.smallrye.config.ConfigMapping;

/** The admin API's credentials. */
@ConfigMapping(prefix = "admin")
public interface AdminConfig {

    /**
     * {@code ADMIN_TOKEN}: the bearer token every {@link AdminOnly} endpoint requires. Unset means the admin API
     * refuses every call (fail closed).
     */
    Optional<String> token();
}
