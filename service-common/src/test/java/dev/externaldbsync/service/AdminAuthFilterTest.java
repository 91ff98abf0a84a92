package dev.externaldbsync.service;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;

import java.nio.charset.StandardCharsets;
import java.util.Base64;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InternalDatabaseResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;

/**
 * The admin filter's second scheme (Basic, for the dashboard in a browser), its challenges, and the CSRF rule: a
 * state-changing request authenticated by Basic needs {@code X-Requested-By}; bearer callers never do.
 */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class AdminAuthFilterTest {

    private static final String FUSEBOX = "/api/v1/admin/fusebox";
    private static final String PROBE = "/api/v1/admin/dashboard/probe";

    private static String basic(String userAndPassword) {
        return "Basic " + Base64.getEncoder().encodeToString(userAndPassword.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void basicWithTheTokenAsPasswordIsAcceptedWhateverTheUserName() {
        given().header("Authorization", basic("operator:test-admin-token")).get(FUSEBOX)
                .then().statusCode(200).body("sequencerEnabled", equalTo(true));
        given().header("Authorization", basic(":test-admin-token")).get(PROBE)
                .then().statusCode(200).body("probe", equalTo("read"));
        given().header("Authorization", basic("test-admin-token:wrong")).get(FUSEBOX)
                .then().statusCode(401).body("error", startsWith("invalid credentials"));
        given().header("Authorization", basic("operator:test-admin-token ")).get(FUSEBOX).then().statusCode(401);
        given().header("Authorization", "Basic !!!not-base64").get(FUSEBOX)
                .then().statusCode(401).body("error", equalTo("malformed basic credentials"));
    }

    @Test
    void dashboardRoutesAndDashboardCallsChallengeWithBasicOtherRoutesWithBearer() {
        given().get(PROBE).then().statusCode(401)
                .header("WWW-Authenticate", startsWith("Basic realm=\"external-db-sync\""));
        given().get("/dashboard").then().statusCode(404);
        given().header("X-Requested-By", "external-db-sync-dashboard").get(FUSEBOX).then().statusCode(401)
                .header("WWW-Authenticate", startsWith("Basic realm=\"external-db-sync\""));
        given().get(FUSEBOX).then().statusCode(401)
                .header("WWW-Authenticate", equalTo("Bearer realm=\"external-db-sync admin\""));
    }

    @Test
    void basicMutationsNeedTheCustomHeaderBearerMutationsDoNot() {
        String basic = basic("operator:test-admin-token");
        given().header("Authorization", basic).post(PROBE)
                .then().statusCode(403).body("error", startsWith("a POST authenticated by Basic needs the header"));
        given().header("Authorization", basic).contentType("application/json").body("{\"pollerEnabled\": true}")
                .put(FUSEBOX).then().statusCode(403);
        given().header("Authorization", basic).header("X-Requested-By", " ").post(PROBE).then().statusCode(403);

        given().header("Authorization", basic).header("X-Requested-By", "external-db-sync-dashboard").post(PROBE)
                .then().statusCode(200).body("probe", equalTo("written"));
        given().header("Authorization", basic).header("X-Requested-By", "external-db-sync-dashboard")
                .contentType("application/json").body("{\"pollerEnabled\": true}").put(FUSEBOX)
                .then().statusCode(200).body("pollerEnabled", equalTo(true));
        given().header("Authorization", "Bearer test-admin-token").post(PROBE)
                .then().statusCode(200).body("probe", equalTo("written"));
        given().header("Authorization", "Bearer test-admin-token").post(PROBE.replace("probe", "nothing-here"))
                .then().statusCode(404);
    }
}
