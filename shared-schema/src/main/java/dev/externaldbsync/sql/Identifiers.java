package dev.externaldbsync.sql;

/**
 * The one place SQL identifiers are quoted. Only the project's own catalog names (source tables, mappings, target
 * columns) go through it: identifiers from tenant config are never rendered into SQL, they are bound as parameters.
 */
public final class Identifiers {

    private Identifiers() {
    }

    /** {@code name} as a double-quoted PostgreSQL identifier, embedded quotes doubled. */
    public static String quote(String name) {
        if (name == null || name.isEmpty() || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("not an SQL identifier: " + name);
        }
        return '"' + name.replace("\"", "\"\"") + '"';
    }
}
