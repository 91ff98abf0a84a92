package dev.externaldbsync.testing;

/** A running PostgreSQL server that tests may create databases on, as a superuser. */
public interface PostgresServer {

    String host();

    int port();

    String superUser();

    String superPassword();

    /** Where the server comes from, for the test log (never contains the password). */
    String description();
}
