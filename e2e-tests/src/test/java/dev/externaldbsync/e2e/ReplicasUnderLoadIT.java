package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;

/** Two of every service at once, under concurrent writers: every target ends equal to the internal projection. */
class ReplicasUnderLoadIT {

    private static final int TENANCIES = 200;
    private static final int TARGETS = 10;
    private Pipeline pipeline;

    @AfterEach
    void stop() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    @Test
    void twoOfEachServiceUnderConcurrentWritesEndInTheExactProjection() throws Exception {
        pipeline = Pipeline.start(2, 2, 2);
        List<Tenancy> tenancies = new ArrayList<>();
        List<TestDatabase> targets = new ArrayList<>();
        for (int i = 0; i < TARGETS; i++) {
            targets.add(pipeline.newExternal());
        }
        for (int i = 0; i < TENANCIES; i++) {
            Tenancy tenancy = pipeline.fixtures.createTenancy();
            pipeline.fixtures.configureTargets(tenancy, Map.of("main", targets.get(i % TARGETS).postgresUrl()));
            pipeline.fixtures.createUser(tenancy, "seed " + i, "seed" + i + "@replicas.example");
            tenancies.add(tenancy);
        }

        WriteLoad load = new WriteLoad(pipeline.internal, tenancies);
        load.run(6, Duration.ofSeconds(60), 20);

        assertThat(load.writes.get()).as("writes performed").isGreaterThan(3_000);
        for (int t = 0; t < TARGETS; t++) {
            List<UUID> mine = new ArrayList<>();
            for (int i = t; i < TENANCIES; i += TARGETS) {
                mine.add(tenancies.get(i).id());
            }
            Oracle.awaitMirrors(pipeline.internal, targets.get(t), mine, Duration.ofMinutes(2));
        }
    }

    @Test
    void sigtermDuringLoadDrainsWithinTheGracePeriodAndLosesNothing() throws Exception {
        pipeline = Pipeline.start(1, 1, 1);
        List<Tenancy> tenancies = new ArrayList<>();
        TestDatabase target = pipeline.newExternal();
        for (int i = 0; i < 20; i++) {
            Tenancy tenancy = pipeline.fixtures.createTenancy();
            pipeline.fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
            tenancies.add(tenancy);
        }
        WriteLoad load = new WriteLoad(pipeline.internal, tenancies);
        Thread writers = new Thread(() -> {
            try {
                load.run(4, Duration.ofSeconds(20), 25);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        writers.start();

        for (ServiceProcess service : pipeline.all()) {
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(20)).until(() -> load.writes.get() > 100);
            // A JVM that shut down cleanly on SIGTERM exits with 128 + 15.
            assertThat(service.terminate(Duration.ofSeconds(40))).as(service.name + " exit code after SIGTERM")
                    .isIn(0, 143);
            service.restart();
            service.awaitReady(Duration.ofSeconds(90));
        }
        writers.join();

        Oracle.awaitMirrors(pipeline.internal, target, tenancies.stream().map(Tenancy::id).toList(), Duration.ofMinutes(2));
    }
}
