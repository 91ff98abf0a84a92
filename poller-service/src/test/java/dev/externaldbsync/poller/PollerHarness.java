package dev.externaldbsync.poller;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.stream.Collectors;

import io.agroal.api.AgroalDataSource;
import io.agroal.api.configuration.supplier.AgroalDataSourceConfigurationSupplier;
import io.agroal.api.security.NamePrincipal;
import io.agroal.api.security.SimplePassword;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.contract.RequestSigner;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

/**
 * A migrated internal database, a receiver, and any number of poller replicas (plain {@link Poller} instances, as
 * separate replicas would be). Close it after each test class; {@link #reset} between tests.
 */
final class PollerHarness implements AutoCloseable {

    final TestDatabase db;
    final AgroalDataSource dataSource;
    SyncReceiver receiver;
    final Clock clock = Clock.systemUTC();
    private final List<Poller> pollers = new ArrayList<>();
    private int replicas;

    PollerHarness(String name) throws Exception {
        db = TestPostgres.createDatabase(name);
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        // Pooled like the application's Agroal datasource: a new connection per queue call would dominate timings.
        dataSource = AgroalDataSource.from(new AgroalDataSourceConfigurationSupplier()
                .connectionPoolConfiguration(pool -> pool.maxSize(40)
                        .connectionFactoryConfiguration(factory -> factory.jdbcUrl(db.jdbcUrl())
                                .principal(new NamePrincipal(db.user()))
                                .credential(new SimplePassword(db.password())))));
        receiver = new SyncReceiver();
    }

    RequestQueue queue() {
        return new RequestQueue(dataSource, clock);
    }

    PollerSettings settings() {
        return PollerSettings.forTests(receiver.baseUri(), "test-poller-" + (++replicas));
    }

    Poller start(PollerSettings settings) {
        Poller poller = create(settings);
        poller.start();
        return poller;
    }

    Poller create(PollerSettings settings) {
        ObjectMapper mapper = new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
        Poller poller = new Poller(queue(), dataSource, clock, settings,
                new RequestSigner(SyncReceiver.SECRET, clock, Duration.ofMinutes(5)), mapper, () -> true,
                new SimpleMeterRegistry());
        synchronized (pollers) {
            pollers.add(poller);
        }
        return poller;
    }

    /** Enqueues exactly as the sequencer does; returns the rows touched. */
    long enqueue(UUID... tenancyIds) {
        String array = Arrays.stream(tenancyIds).map(UUID::toString).collect(Collectors.joining(",", "{", "}"));
        return db.queryLong("SELECT sync_enqueue_tenancies(?::uuid[])", array);
    }

    UUID requestIdOf(UUID tenancyId) {
        return (UUID) db.queryValue("SELECT \"id\" FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancyId);
    }

    long queued() {
        return db.queryLong("SELECT count(*) FROM \"OutgoingRequest\"");
    }

    /** Stops every poller, empties the queue, and starts a fresh receiver. */
    void reset() throws Exception {
        stopAll();
        db.execute("DELETE FROM \"OutgoingRequest\"");
        receiver.close();
        receiver = new SyncReceiver();
    }

    void stopAll() {
        List<Poller> copy;
        synchronized (pollers) {
            copy = List.copyOf(pollers);
            pollers.clear();
        }
        copy.forEach(Poller::stop);
    }

    @Override
    public void close() {
        stopAll();
        receiver.close();
        dataSource.close();
    }
}
