package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.body;
import static dev.externaldbsync.engine.EngineTestSupport.post;
import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.contract.RequestSigner;
import dev.externaldbsync.contract.SyncContract;
import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;
import io.restassured.response.Response;

/** The transport contract: signatures, status codes, per-tenancy outcomes. */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class SyncEndpointTest {

    @InjectTestDatabase
    TestDatabase internal;

    private Tenancy tenancyWithPendingUser(TestDatabase target) {
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        Tenancy tenancy = fixtures.createTenancy();
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
        fixtures.createUser(tenancy, "Pending", "pending@example.com");
        stamp(internal);
        return tenancy;
    }

    private static void assertNothingDone(TestDatabase target) {
        assertThat(target.queryValue("SELECT to_regclass('users')::text")).as("no work happened").isNull();
    }

    @Test
    void unsignedTamperedAndStaleRequestsGet401AndDoNothing() {
        TestDatabase target = TestPostgres.createDatabase("unsigned");
        Tenancy tenancy = tenancyWithPendingUser(target);
        String body = body(tenancy.id());

        given().contentType("application/json").body(body).post(SyncContract.SYNC_PATH).then().statusCode(401)
                .body("error", org.hamcrest.Matchers.equalTo("signature missing"));

        RequestSigner.Signature signature = new RequestSigner(EngineTestSupport.SECRET, Clock.systemUTC(),
                Duration.ofMinutes(5)).sign(body.getBytes(StandardCharsets.UTF_8));
        given().contentType("application/json").header(SyncContract.TIMESTAMP_HEADER, signature.timestamp())
                .header(SyncContract.SIGNATURE_HEADER, signature.signature())
                .body(body(tenancy.id(), UUID.randomUUID())).post(SyncContract.SYNC_PATH).then().statusCode(401)
                .body("error", org.hamcrest.Matchers.equalTo("signature mismatch"));

        RequestSigner wrongSecret = new RequestSigner("another-secret-0123456789", Clock.systemUTC(),
                Duration.ofMinutes(5));
        RequestSigner.Signature forged = wrongSecret.sign(body.getBytes(StandardCharsets.UTF_8));
        given().contentType("application/json").header(SyncContract.TIMESTAMP_HEADER, forged.timestamp())
                .header(SyncContract.SIGNATURE_HEADER, forged.signature()).body(body)
                .post(SyncContract.SYNC_PATH).then().statusCode(401);

        Response stale = post(body, Clock.offset(Clock.systemUTC(), Duration.ofMinutes(-10)));
        assertThat(stale.statusCode()).isEqualTo(401);
        assertThat(stale.jsonPath().getString("error")).isEqualTo("signature stale");

        assertNothingDone(target);
        assertThat(internal.queryLong("SELECT count(*) FROM \"SyncEngineProgress\" WHERE \"tenancyId\" = ?",
                tenancy.id())).isZero();

        assertThat(sync(tenancy.id()).getString("results[0].outcome")).as("a valid request then works")
                .isEqualTo("SYNCED");
    }

    @Test
    void aSignedBodyThatIsNotASyncRequestIs400() {
        assertThat(post("{\"tenancyIds\": [\"not-a-uuid\"]}", Clock.systemUTC()).statusCode()).isEqualTo(400);
        assertThat(post("[1, 2", Clock.systemUTC()).statusCode()).isEqualTo(400);
        assertThat(post("{\"tenancyIds\": [null]}", Clock.systemUTC()).statusCode()).isEqualTo(400);
    }

    @Test
    void aMissingTenancyIsAcknowledgedAndATenancyWithoutTargetsIsDone() {
        Tenancy noTargets = new StackAuthFixtures(internal).createTenancy();
        UUID missing = UUID.randomUUID();

        JsonPath result = sync(missing, noTargets.id());

        assertThat(result.getList("results.tenancyId")).containsExactly(missing.toString(), noTargets.id().toString());
        assertThat(result.getList("results.outcome")).containsExactly("NOT_FOUND", "NO_TARGETS");
        assertThat(result.getList("results.retry")).containsExactly(false, false);
    }

    @Test
    void aBadConfigEntryIsReportedWithoutRetryAndWithoutItsPassword() {
        StackAuthFixtures fixtures = new StackAuthFixtures(internal);
        Tenancy tenancy = fixtures.createTenancy();
        fixtures.setConfig(tenancy, """
                {"dbSync": {"externalDatabases": {"bad": {"type": "postgres",
                  "connectionString": "mysql://admin:hunter2-secret@db.example/x"}}}}""");

        JsonPath result = sync(tenancy.id());

        assertThat(result.getString("results[0].outcome")).isEqualTo("INVALID_CONFIG");
        assertThat(result.getBoolean("results[0].retry")).isFalse();
        assertThat(result.getString("results[0].targets[0].error")).contains("postgresql://")
                .doesNotContain("hunter2-secret");
    }
}
