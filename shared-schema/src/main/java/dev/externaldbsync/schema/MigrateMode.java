package dev.externaldbsync.schema;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What a service migrates when it starts ({@code SYNC_MIGRATE_AT_START}).
 */
public enum MigrateMode {
    /** Base tables and the sync layer: standalone use, development and tests. */
    ALL(List.of(SchemaMigrations.INTERNAL, SchemaMigrations.SYNC)),
    /** The sync layer only, onto an existing Stack Auth database. */
    SYNC(List.of(SchemaMigrations.SYNC)),
    /** Nothing: a migration Job owns the schema (the Kubernetes default). */
    NONE(List.of());

    private final List<SchemaMigrations.Location> locations;

    MigrateMode(List<SchemaMigrations.Location> locations) {
        this.locations = locations;
    }

    /** The migration sets this mode applies, in order. */
    public List<SchemaMigrations.Location> locations() {
        return locations;
    }

    /** Parses {@code all}, {@code sync} or {@code none} (any case), with an error that lists the valid values. */
    public static MigrateMode parse(String value) {
        String normalized = value == null ? "" : value.trim().toUpperCase(Locale.ROOT);
        return Arrays.stream(values())
                .filter(mode -> mode.name().equals(normalized))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException(
                        "SYNC_MIGRATE_AT_START must be one of all, sync, none; got '" + value + "'"));
    }
}
