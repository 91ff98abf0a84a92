package dev.externaldbsync.engine.target;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.config.TargetConfig;
import dev.externaldbsync.config.TargetConfigParser;
import dev.externaldbsync.engine.EngineConfig;
import io.agroal.api.AgroalDataSource;
import io.agroal.api.configuration.AgroalConnectionPoolConfiguration.ConnectionValidator;
import io.agroal.api.configuration.supplier.AgroalDataSourceConfigurationSupplier;
import io.agroal.api.security.NamePrincipal;
import io.agroal.api.security.SimplePassword;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.scheduler.Scheduled;

/**
 * One bounded connection pool per distinct external connection string, kept in an LRU with a global cap. A pool in
 * use (leased) is never closed; beyond the cap the least recently used idle pool is closed, and a periodic sweep
 * closes pools idle longer than {@code engine.pools.idle-timeout}. Every pool connects as the {@link ConnectionPolicy}
 * says (installed at start-up, also as the config parser's rules), so a refused target never reaches the network.
 * Thread-safe (one lock around the map; pools are
 * created outside it only in the sense that Agroal creates no connection until asked).
 */
@ApplicationScoped
public class TargetPools {

    private static final Logger LOG = Logger.getLogger(TargetPools.class);

    /** The pool identity: the password is part of it (a changed password is a new pool) but never printed. */
    private record Key(String jdbcUrl, String user, String password, String redacted) {
        @Override
        public String toString() {
            return redacted;
        }
    }

    private static final class Pool {
        final AgroalDataSource dataSource;
        int leases;
        Instant lastUsed;

        Pool(AgroalDataSource dataSource, Instant now) {
            this.dataSource = dataSource;
            this.lastUsed = now;
        }
    }

    /** A borrowed pool; close it when the run is done with the target. */
    public final class Lease implements AutoCloseable {
        private final Key key;
        private final Pool pool;
        private boolean closed;

        private Lease(Key key, Pool pool) {
            this.key = key;
            this.pool = pool;
        }

        public Connection connection() throws SQLException {
            try {
                return pool.dataSource.getConnection();
            } catch (SQLException e) {
                throw refusedOr(e);
            }
        }

        /** Drops every connection of this pool (after a connection-level error: they are likely all dead). */
        public void flush() {
            pool.dataSource.flush(AgroalDataSource.FlushMode.ALL);
        }

        @Override
        public void close() {
            synchronized (TargetPools.this) {
                if (!closed) {
                    closed = true;
                    pool.leases--;
                    pool.lastUsed = clock.instant();
                }
            }
            evictOverCap();
        }

        @Override
        public String toString() {
            return "Lease[" + key + "]";
        }
    }

    private final LinkedHashMap<Key, Pool> pools = new LinkedHashMap<>(16, 0.75f, true);

    @Inject
    EngineConfig config;

    @Inject
    Clock clock;

    @ConfigProperty(name = "quarkus.datasource.jdbc.url")
    java.util.Optional<String> internalJdbcUrl;

    private volatile ConnectionPolicy policy;

    void install(@Observes StartupEvent event) {
        policy();
    }

    /** The policy of this engine, built from its settings on first use and installed as the parser's rules. */
    public ConnectionPolicy policy() {
        ConnectionPolicy current = policy;
        if (current == null) {
            synchronized (this) {
                if (policy == null) {
                    policy = new ConnectionPolicy(ConnectionPolicy.Settings.of(config),
                            internalJdbcUrl.map(PostgresUrl::parse).orElse(null));
                    TargetConfigParser.install(policy);
                    LOG.infof("Target connection policy: %s", policy);
                }
                current = policy;
            }
        }
        return current;
    }

    public Lease lease(PostgresUrl url) throws SQLException {
        String refusal = policy().refusal(new TargetConfig("-", TargetConfigParser.POSTGRES, url));
        if (refusal != null) {
            throw new Refused(refusal, null);
        }
        Key key = new Key(url.jdbcUrl(), url.user(), url.password(), url.redacted());
        Lease lease;
        synchronized (this) {
            Pool pool = pools.get(key);
            if (pool == null) {
                pool = new Pool(create(url), clock.instant());
                pools.put(key, pool);
                LOG.debugf("Opened pool for %s", key);
            }
            pool.leases++;
            pool.lastUsed = clock.instant();
            lease = new Lease(key, pool);
        }
        evictOverCap();
        return lease;
    }

    /** Pools currently open. */
    public synchronized int openPools() {
        return pools.size();
    }

    @Scheduled(every = "30s", delayed = "30s", concurrentExecution = Scheduled.ConcurrentExecution.SKIP)
    void closeIdle() {
        Instant cutoff = clock.instant().minus(config.pools().idleTimeout());
        List<AgroalDataSource> toClose = new ArrayList<>();
        synchronized (this) {
            for (Iterator<Map.Entry<Key, Pool>> it = pools.entrySet().iterator(); it.hasNext();) {
                Pool pool = it.next().getValue();
                if (pool.leases == 0 && pool.lastUsed.isBefore(cutoff)) {
                    it.remove();
                    toClose.add(pool.dataSource);
                }
            }
        }
        toClose.forEach(TargetPools::closeQuietly);
    }

    private void evictOverCap() {
        List<AgroalDataSource> toClose = new ArrayList<>();
        synchronized (this) {
            int excess = pools.size() - config.pools().max();
            // Access order: the eldest entries are the least recently used. Leased pools are skipped (a temporary
            // overshoot of the cap beats closing connections under a running page).
            for (Iterator<Map.Entry<Key, Pool>> it = pools.entrySet().iterator(); excess > 0 && it.hasNext();) {
                Pool pool = it.next().getValue();
                if (pool.leases == 0) {
                    it.remove();
                    toClose.add(pool.dataSource);
                    excess--;
                }
            }
        }
        toClose.forEach(TargetPools::closeQuietly);
    }

    @PreDestroy
    void closeAll() {
        List<AgroalDataSource> toClose;
        synchronized (this) {
            toClose = pools.values().stream().map(p -> p.dataSource).toList();
            pools.clear();
        }
        toClose.forEach(TargetPools::closeQuietly);
    }

    /** SQLState 08004, "the server rejected the connection": here the engine did, before connecting. */
    static final String REFUSED_STATE = "08004";

    /**
     * The engine's connection policy refused the target (before connecting, or at the socket after DNS): the tenant's
     * config names a place it may not go, so the run answers a config error rather than a retryable failure.
     */
    public static final class Refused extends SQLException {
        Refused(String reason, Throwable cause) {
            super("refused by the engine's connection policy: " + reason, REFUSED_STATE, cause);
        }
    }

    /** The policy's reason when pgjdbc failed because a socket was refused (it wraps the reason away). */
    static SQLException refusedOr(SQLException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            // By name: pgjdbc may have loaded the socket factory (and so this exception) in another class loader.
            if (t.getClass().getName().equals(TargetRefusedException.class.getName())) {
                return new Refused(t.getMessage(), t);
            }
        }
        return e;
    }

    private AgroalDataSource create(PostgresUrl url) throws SQLException {
        ConnectionPolicy.Connection connection = policy().connection(url);
        long connectSeconds = Math.max(1, config.connectTimeout().toSeconds());
        AgroalDataSourceConfigurationSupplier supplier = new AgroalDataSourceConfigurationSupplier()
                .metricsEnabled(false)
                .connectionPoolConfiguration(pool -> pool
                        .initialSize(0).minSize(0).maxSize(config.pools().maxConnections())
                        .acquisitionTimeout(config.connectTimeout().multipliedBy(2))
                        .reapTimeout(config.pools().idleTimeout())
                        .maxLifetime(java.time.Duration.ofMinutes(30))
                        .idleValidationTimeout(java.time.Duration.ofSeconds(30))
                        .connectionValidator(ConnectionValidator.defaultValidatorWithTimeout((int) connectSeconds))
                        .connectionFactoryConfiguration(factory -> {
                            factory.connectionProviderClass(org.postgresql.Driver.class)
                                    .jdbcUrl(connection.jdbcUrl())
                                    .autoCommit(true)
                                    .loginTimeout(config.connectTimeout())
                                    .initialSql(connection.initialSql());
                            connection.properties().stringPropertyNames().forEach(
                                    name -> factory.jdbcProperty(name, connection.properties().getProperty(name)));
                            if (url.user() != null) {
                                factory.principal(new NamePrincipal(url.user()));
                            }
                            if (url.password() != null) {
                                factory.credential(new SimplePassword(url.password()));
                            }
                            return factory;
                        }));
        return AgroalDataSource.from(supplier);
    }

    private static void closeQuietly(AgroalDataSource dataSource) {
        try {
            dataSource.close();
        } catch (RuntimeException e) {
            LOG.debugf("Closing a pool failed: %s", PostgresUrl.redact(e.getMessage()));
        }
    }
}
