package dev.externaldbsync.sequencer;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.hamcrest.Matchers.notNullValue;
import static org.hamcrest.Matchers.nullValue;

import java.time.Duration;
import java.util.UUID;

import jakarta.inject.Inject;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;

/** The wired service: its loop thread stamps the entries writers append; status, metrics and the fusebox over HTTP. */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class SequencerServiceTest {

    private static final String ADMIN = "Bearer test-admin-token";

    @InjectTestDatabase
    TestDatabase internal;

    @Inject
    SequencerService service;

    @Test
    void theRunningServiceStampsAChangeAndReportsItInStatusAndMetrics() {
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        Tenancy tenancy = fixtures.createTenancy();

        UUID user = fixtures.createUser(tenancy, "Ada", "ada@example.com");

        await().atMost(Duration.ofSeconds(10)).until(() -> stamped(user) && internal.queryLong("""
                SELECT count(*) FROM "SyncChange" WHERE "tableName" = 'ContactChannel'
                  AND "primaryKey" ->> 'projectUserId' = ? AND "sequenceId" IS NOT NULL""", user.toString()) == 1);
        assertThat(internal.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" = ? AND "startedFulfillingAt" IS NULL""",
                tenancy.id())).isEqualTo(1);

        given().when().get("/api/v1/status").then().statusCode(200)
                .body("paused", equalTo(false))
                .body("running", equalTo(true))
                .body("pollIntervalMillis", equalTo(20))
                .body("waitingRows.ProjectUser", equalTo("0"))
                .body("waitingRows.VerificationCode_TEAM_INVITATION", equalTo("0"))
                .body("waitingCounts.ProjectUser.capped", equalTo(false))
                .body("lastBatch.rows", greaterThanOrEqualTo(1))
                .body("lastBatch.finishedAt", notNullValue())
                .body("batchesSinceStart", greaterThanOrEqualTo(1))
                .body("rowsStampedSinceStart", greaterThanOrEqualTo(2))
                .body("lastError", nullValue());

        given().when().get("/q/metrics").then().statusCode(200)
                .body(containsString("sequencer_rows_stamped_total{table=\"ProjectUser\"}"))
                .body(containsString("sequencer_rows_stamped_total{table=\"ContactChannel\"}"))
                .body(containsString("sequencer_batches_total"))
                .body(containsString("sequencer_batch_duration_seconds_count"))
                .body(containsString("sequencer_rows_compacted_total"))
                .body(containsString("sequencer_rows_waiting{table=\"VerificationCode_TEAM_INVITATION\"}"));
    }

    @Test
    void fuseboxOffStampsNothingAndBackOnStampsEverything() {
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        Tenancy tenancy = fixtures.createTenancy();
        setSequencerEnabled(false);
        try {
            await().atMost(Duration.ofSeconds(10)).until(() -> service.loop().stats().paused());
            UUID first = fixtures.createUser(tenancy, "While paused", null);
            UUID second = fixtures.createUser(tenancy, "Still paused", null);
            long iterations = service.loop().stats().iterations();
            // Polls keep seeing the two entries and the switch; none of them stamps.
            await().atMost(Duration.ofSeconds(10)).until(() -> service.loop().stats().iterations() > iterations + 5);

            assertThat(stamped(first)).isFalse();
            assertThat(stamped(second)).isFalse();
            assertThat(internal.queryLong("SELECT count(*) FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?",
                    tenancy.id())).isZero();
            given().when().get("/api/v1/status").then().statusCode(200)
                    .body("paused", equalTo(true))
                    .body("waitingRows.ProjectUser", equalTo("2"));

            setSequencerEnabled(true);

            await().atMost(Duration.ofSeconds(10)).until(() -> stamped(first) && stamped(second));
            assertThat(internal.queryLong("SELECT count(*) FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?",
                    tenancy.id())).isEqualTo(1);
            given().when().get("/api/v1/status").then().statusCode(200).body("paused", equalTo(false));
        } finally {
            setSequencerEnabled(true);
        }
    }

    private static void setSequencerEnabled(boolean enabled) {
        given().header("Authorization", ADMIN).contentType(ContentType.JSON)
                .body("{\"sequencerEnabled\": " + enabled + "}")
                .when().put("/api/v1/admin/fusebox").then().statusCode(200)
                .body("sequencerEnabled", equalTo(enabled));
    }

    private boolean stamped(UUID user) {
        return Boolean.TRUE.equals(internal.queryValue("""
                SELECT bool_and("sequenceId" IS NOT NULL) FROM "SyncChange"
                WHERE "tableName" = 'ProjectUser' AND "primaryKey" ->> 'projectUserId' = ?""", user.toString()));
    }
}
