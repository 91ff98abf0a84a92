package dev.externaldbsync.poller;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;

import java.time.Duration;
import java.util.UUID;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.TestDatabase;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;

/** The packaged service: configuration, delivery, status, metrics, admin requeue and the fusebox, over real HTTP. */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
@WithTestResource(EngineReceiverResource.class)
class PollerAppTest {

    private static final String ADMIN = "Bearer test-admin-token";

    @InjectTestDatabase
    TestDatabase internal;

    @BeforeEach
    void engineHealthyAndPollerEnabled() {
        EngineReceiverResource.receiver.script((n, r) -> SyncReceiver.allSynced(r));
        given().header("Authorization", ADMIN).contentType(ContentType.JSON).body("{\"pollerEnabled\": true}")
                .put("/api/v1/admin/fusebox").then().statusCode(200);
    }

    private void enqueue(UUID tenancy) {
        assertThat(internal.queryLong("SELECT sync_enqueue_tenancies(?::uuid[])", "{" + tenancy + "}")).isEqualTo(1);
    }

    private long rows(UUID tenancy) {
        return internal.queryLong("SELECT count(*) FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy);
    }

    @Test
    void deliversToTheConfiguredEngineAndReportsStatusAndMetrics() {
        UUID tenancy = UUID.randomUUID();
        enqueue(tenancy);
        await().atMost(Duration.ofSeconds(10)).until(() -> rows(tenancy) == 0);
        assertThat(EngineReceiverResource.receiver.deliveriesOf(tenancy)).hasSize(1)
                .allSatisfy(d -> assertThat(d.status()).isEqualTo(200));

        // The queue figures in the status are sampled every poller.stats-interval: poll until a sample follows the
        // delivery.
        await().atMost(Duration.ofSeconds(15)).untilAsserted(() -> given().get("/api/v1/status").then().statusCode(200)
                .body("running", equalTo(true))
                .body("paused", equalTo(false))
                .body("pending", equalTo(0)));
        assertThat(internal.queryLong("""
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND query = 'LISTEN external_db_sync_requests'"""))
                .as("the poller listens on its own connection").isEqualTo(1);
        given().get("/q/metrics").then().statusCode(200)
                .body(containsString("sync_poller_requests_delivered_total"))
                .body(containsString("sync_poller_queue_pending"))
                .body(containsString("sync_poller_queue_wait_seconds"));
    }

    @Test
    void parkedRequestsAreListedAndRequeuedOnlyWithTheAdminToken() {
        UUID tenancy = UUID.randomUUID();
        EngineReceiverResource.receiver.script((n, r) -> SyncReceiver.Reply.status(500));
        enqueue(tenancy);
        await().atMost(Duration.ofSeconds(10)).until(() -> internal.queryValue(
                "SELECT \"parkedAt\" FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?", tenancy) != null);
        String id = internal.queryValue("SELECT \"id\"::text FROM \"OutgoingRequest\" WHERE \"tenancyId\" = ?",
                tenancy).toString();
        EngineReceiverResource.receiver.script((n, r) -> SyncReceiver.allSynced(r));

        given().get("/api/v1/admin/requests/parked").then().statusCode(401);
        given().header("Authorization", ADMIN).get("/api/v1/admin/requests/parked?limit=1000").then()
                .statusCode(200).body("requests.id", hasItem(id))
                .body("requests.find { it.id == '" + id + "' }.attemptCount", equalTo(2));
        given().post("/api/v1/admin/requests/" + id + "/requeue").then().statusCode(401);
        given().header("Authorization", "Bearer wrong").post("/api/v1/admin/requests/" + id + "/requeue").then()
                .statusCode(401);
        await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).until(() -> rows(tenancy) == 1);

        given().header("Authorization", ADMIN).post("/api/v1/admin/requests/" + id + "/requeue").then()
                .statusCode(200).body("requeued", equalTo(1));
        await().atMost(Duration.ofSeconds(5)).until(() -> rows(tenancy) == 0);
        given().header("Authorization", ADMIN).post("/api/v1/admin/requests/" + id + "/requeue").then()
                .statusCode(404);
    }

    @Test
    void requeueParkedMakesEveryParkedRequestDeliverable() {
        UUID first = UUID.randomUUID();
        UUID second = UUID.randomUUID();
        EngineReceiverResource.receiver.script((n, r) -> SyncReceiver.Reply.status(400));
        enqueue(first);
        enqueue(second);
        await().atMost(Duration.ofSeconds(10)).until(() -> internal.queryLong("""
                SELECT count(*) FROM "OutgoingRequest" WHERE "tenancyId" IN (?, ?) AND "parkedAt" IS NOT NULL""",
                first, second) == 2);
        EngineReceiverResource.receiver.script((n, r) -> SyncReceiver.allSynced(r));

        given().post("/api/v1/admin/requests/requeue-parked").then().statusCode(401);
        given().header("Authorization", ADMIN).post("/api/v1/admin/requests/requeue-parked").then().statusCode(200);
        await().atMost(Duration.ofSeconds(5)).until(() -> rows(first) + rows(second) == 0);
    }

    @Test
    void fuseboxPauseStopsDeliveryAndResumeLosesNothing() {
        given().header("Authorization", ADMIN).contentType(ContentType.JSON).body("{\"pollerEnabled\": false}")
                .put("/api/v1/admin/fusebox").then().statusCode(200).body("pollerEnabled", equalTo(false));
        await().atMost(Duration.ofSeconds(5)).until(() -> given().get("/api/v1/status").then().extract()
                .path("paused").equals(Boolean.TRUE));
        UUID tenancy = UUID.randomUUID();
        enqueue(tenancy);
        await().during(Duration.ofMillis(800)).atMost(Duration.ofSeconds(2)).until(() -> rows(tenancy) == 1
                && EngineReceiverResource.receiver.deliveriesOf(tenancy).isEmpty());

        given().header("Authorization", ADMIN).contentType(ContentType.JSON).body("{\"pollerEnabled\": true}")
                .put("/api/v1/admin/fusebox").then().statusCode(200);
        await().atMost(Duration.ofSeconds(5)).until(() -> rows(tenancy) == 0);
        assertThat(EngineReceiverResource.receiver.deliveriesOf(tenancy)).hasSize(1);
    }
}
