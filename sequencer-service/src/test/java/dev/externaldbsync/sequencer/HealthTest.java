package dev.externaldbsync.sequencer;

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
class HealthTest {

    @InjectTestDatabase
    TestDatabase internal;

    @Test
    void readyOnceTheDatabaseAnswersAndTheSchemaIsMigrated() {
        given().when().get("/q/health/ready").then().statusCode(200)
                .body("status", equalTo("UP"))
                .body("checks.find { it.name == 'internal-database' }.status", equalTo("UP"));
        assertThat(internal.queryLong("SELECT count(*) FROM sync_layer_schema_history WHERE success")).isPositive();
    }

    @Test
    void liveWithoutAnyDependency() {
        given().when().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
    }
}
