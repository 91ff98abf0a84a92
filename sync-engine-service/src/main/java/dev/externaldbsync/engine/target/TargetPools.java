package dev.externaldbsync.engine.target;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
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
import io.agroal.api.AgroalDataSourceListener;
import io.agroal.api.configuration.AgroalConnectionPoolConfiguration.ConnectionValidator;
import io.agroal.api.configuration.supplier.AgroalDataSourceConfigurationSupplier;
import io.agroal.api.security.NamePrincipal;
import io.agroal.api.security.SimplePassword;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.scheduler.Scheduled;

/**
 * One bounded connection pool per distinct external connection string, kept in an LRU with a global cap. A pool in
 * use (leased) is never closed; beyond the cap the least recently used idle pool is closed, and a periodic sweep
 * closes pools idle longer than {@code engine.pools.idle-timeout}. A pool leased within {@code engine.pools.warm-for}
 * is warm: it keeps one connection open while idle (minimum size 1, set on lease), so an idle tenancy's next change
 * skips connect and authentication; past warm-for the sweep drains it back to none, and a target that fails to connect
 * or validate turns its pool cold at once, so a dead target is not redialled in the background. Every pool connects as
 * the {@link ConnectionPolicy}
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
        /** Minimum size 1 (guarded by the TargetPools lock, as is every call that changes the minimum). */
        boolean warm;

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
                // A target that cannot be reached must not be kept warm: the pool would redial it on its own.
                cool(pool);
                throw refusedOr(e);
            }
        }

        /** Drops every connection of this pool (after a connection-level error: they are likely all dead). */
        public void flush() {
            cool(pool);
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
                Pool[] created = new Pool[1];
                pool = created[0] = new Pool(create(url, new AgroalDataSourceListener() {
                    @Override
                    public void onWarning(Throwable t) {
                        // A background connect or validation failed: stop holding (and so refilling) a connection.
                        Pool p = created[0];
                        if (p != null) {
                            cool(p);
                        }
                    }
                }), clock.instant());
                pools.put(key, pool);
                LOG.debugf("Opened pool for %s", key);
            }
            pool.leases++;
            pool.lastUsed = clock.instant();
            if (!pool.warm) {
                pool.warm = true;
                pool.dataSource.getConfiguration().connectionPoolConfiguration().setMinSize(1);
            }
            lease = new Lease(key, pool);
        }
        evictOverCap();
        return lease;
    }

    /** Pools currently open. */
    public synchronized int openPools() {
        return pools.size();
    }

    /** The minimum size of the pool for {@code url} (1 while warm), or empty when it has no open pool. */
    synchronized java.util.OptionalInt minConnections(PostgresUrl url) {
        // Iterated, not looked up: a lookup would count as a use in the access-ordered map.
        for (Map.Entry<Key, Pool> e : pools.entrySet()) {
            if (e.getKey().jdbcUrl().equals(url.jdbcUrl()) && java.util.Objects.equals(e.getKey().user(), url.user())) {
                return java.util.OptionalInt.of(e.getValue().dataSource.getConfiguration().connectionPoolConfiguration()
                        .minSize());
            }
        }
        return java.util.OptionalInt.empty();
    }

    private synchronized void cool(Pool pool) {
        if (pool.warm) {
            pool.warm = false;
            pool.dataSource.getConfiguration().connectionPoolConfiguration().setMinSize(0);
        }
    }

    @Scheduled(every = "30s", delayed = "30s", concurrentExecution = Scheduled.ConcurrentExecution.SKIP)
    void closeIdle() {
        Instant now = clock.instant();
        Duration warmFor = config.pools().warmFor();
        Duration idleTimeout = config.pools().idleTimeout();
        // A warm pool is not closed before it has drained: closing it would drop the connection warm-for keeps.
        Instant closeCutoff = now.minus(warmFor.compareTo(idleTimeout) > 0 ? warmFor : idleTimeout);
        Instant coolCutoff = now.minus(warmFor);
        List<AgroalDataSource> toClose = new ArrayList<>();
        List<AgroalDataSource> toDrain = new ArrayList<>();
        synchronized (this) {
            for (Iterator<Map.Entry<Key, Pool>> it = pools.entrySet().iterator(); it.hasNext();) {
                Pool pool = it.next().getValue();
                if (pool.leases == 0 && pool.lastUsed.isBefore(closeCutoff)) {
                    it.remove();
                    toClose.add(pool.dataSource);
                } else if (pool.leases == 0 && pool.warm && pool.lastUsed.isBefore(coolCutoff)) {
                    cool(pool);
                    toDrain.add(pool.dataSource);
                }
            }
        }
        // Now rather than at the pool's next reap (every idle-timeout): the target sees the session end promptly.
        toDrain.forEach(ds -> ds.flush(AgroalDataSource.FlushMode.IDLE));
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

    private AgroalDataSource create(PostgresUrl url, AgroalDataSourceListener listener) throws SQLException {
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
        return AgroalDataSource.from(supplier, listener);
    }

    private static void closeQuietly(AgroalDataSource dataSource) {
        try {
            dataSource.close();
        } catch (RuntimeException e) {
            LOG.debugf("Closing a pool failed: %s", PostgresUrl.redact(e.getMessage()));
        }
    }
}
