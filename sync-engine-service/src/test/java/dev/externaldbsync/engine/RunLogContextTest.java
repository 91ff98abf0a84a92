package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import org.jboss.logmanager.ExtLogRecord;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;

/** Log lines of a run carry the tenancy and target ids in the MDC (structured logs emit them), never a password. */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class RunLogContextTest {

    @InjectTestDatabase
    TestDatabase internal;

    private record Captured(String message, String tenancyId, String targetId) {
    }

    @Test
    void aFailingRunLogsWithTenancyAndTargetInTheMdcAndNoPassword() {
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        Tenancy tenancy = fixtures.createTenancy();
        // Port 1 refuses at once: the run fails and logs a warning about this tenancy and target.
        fixtures.configureTargets(tenancy, Map.of("down", "postgresql://someone:pw-must-not-leak@127.0.0.1:1/nope"));
        List<Captured> captured = new CopyOnWriteArrayList<>();
        Handler handler = new Handler() {
            @Override
            public void publish(LogRecord record) {
                if (record instanceof ExtLogRecord ext) {
                    captured.add(new Captured(ext.getFormattedMessage(), (String) ext.getMdc(SyncEngine.MDC_TENANCY),
                            (String) ext.getMdc(SyncEngine.MDC_TARGET)));
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Logger logger = Logger.getLogger(SyncEngine.class.getName());
        logger.addHandler(handler);
        try {
            JsonPath result = sync(tenancy.id());
            assertThat(result.getString("results[0].outcome")).isEqualTo("FAILED");
        } finally {
            logger.removeHandler(handler);
        }
        List<Captured> aboutIt = captured.stream().filter(c -> c.message().contains(tenancy.id().toString())).toList();
        assertThat(aboutIt).isNotEmpty();
        assertThat(aboutIt).allSatisfy(c -> {
            assertThat(c.tenancyId()).isEqualTo(tenancy.id().toString());
            assertThat(c.targetId()).isEqualTo("down");
            assertThat(c.message()).doesNotContain("pw-must-not-leak");
        });
    }
}
