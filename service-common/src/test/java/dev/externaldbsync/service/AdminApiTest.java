package dev.externaldbsync.service;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.TestDatabase;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;

@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class AdminApiTest {

    private static final String FUSEBOX = "/api/v1/admin/fusebox";

    @InjectTestDatabase
    TestDatabase internal;

    @Test
    void adminEndpointsRefuseMissingAndWrongTokens() {
        given().get(FUSEBOX).then().statusCode(401).body("error", equalTo("missing bearer token"))
                .header("WWW-Authenticate", "Bearer realm=\"external-db-sync admin\"");
        given().header("Authorization", "Bearer not-the-token").get(FUSEBOX).then().statusCode(401)
                .body("error", equalTo("invalid bearer token"));
        given().header("Authorization", "Basic dGVzdC1hZG1pbi10b2tlbg==").get(FUSEBOX).then().statusCode(401);
    }

    @Test
    void fuseboxSwitchesArePersistedAndPartialUpdatesKeepTheOtherSwitch() {
        given().header("Authorization", "Bearer test-admin-token").contentType("application/json")
                .body("{\"sequencerEnabled\": false}").put(FUSEBOX)
                .then().statusCode(200).body("sequencerEnabled", equalTo(false)).body("pollerEnabled", equalTo(true));
        assertThat(internal.queryValue("SELECT \"sequencerEnabled\" FROM \"ExternalDbSyncMetadata\"")).isEqualTo(false);

        given().header("Authorization", "Bearer test-admin-token").contentType("application/json")
                .body("{\"pollerEnabled\": false, \"sequencerEnabled\": true}").put(FUSEBOX)
                .then().statusCode(200).body("sequencerEnabled", equalTo(true)).body("pollerEnabled", equalTo(false));
        given().header("Authorization", "Bearer test-admin-token").get(FUSEBOX)
                .then().statusCode(200).body("pollerEnabled", equalTo(false));

        given().header("Authorization", "Bearer test-admin-token").contentType("application/json")
                .body("{\"pollerEnabled\": true}").put(FUSEBOX).then().statusCode(200);
    }

    @Test
    void healthAndMetricsNeedNoToken() {
        given().get("/q/health/ready").then().statusCode(200);
        given().get("/q/metrics").then().statusCode(200);
    }
}
