package dev.externaldbsync.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;

import org.junit.jupiter.api.Test;

class PostgresUrlTest {

    @Test
    void parsesTheOperatorForm() {
        PostgresUrl url = PostgresUrl.parse("postgresql://sync:s%40cret%3A1@db.internal:6543/stack?sslmode=require");

        assertThat(url).isEqualTo(new PostgresUrl("db.internal", 6543, "stack", "sync", "s@cret:1",
                Map.of("sslmode", "require")));
        assertThat(url.jdbcUrl()).isEqualTo("jdbc:postgresql://db.internal:6543/stack?sslmode=require");
        assertThat(PostgresUrl.parse(url.reactiveUri())).isEqualTo(url);
    }

    @Test
    void acceptsPostgresSchemeJdbcFormAndDefaultPort() {
        assertThat(PostgresUrl.parse("postgres://u@h/d").port()).isEqualTo(5432);
        PostgresUrl jdbc = PostgresUrl.parse("jdbc:postgresql://h:1/d?user=u&password=p");
        assertThat(jdbc.user()).isEqualTo("u");
        assertThat(jdbc.password()).isEqualTo("p");
        assertThat(jdbc.params()).isEmpty();
    }

    @Test
    void neverShowsThePassword() {
        PostgresUrl url = PostgresUrl.parse("postgresql://sync:hunter2@h:5432/d");

        assertThat(url.toString()).isEqualTo("postgresql://sync:***@h:5432/d").doesNotContain("hunter2");
        assertThat(url.redacted()).doesNotContain("hunter2");
        assertThat(PostgresUrl.redact("postgresql://sync:hunter2@h:5432/d")).doesNotContain("hunter2");
        assertThat(PostgresUrl.redact("jdbc:postgresql://h/d?user=a&password=hunter2")).doesNotContain("hunter2");
    }

    @Test
    void malformedStringsFailClearlyWithoutLeakingThePassword() {
        assertThatThrownBy(() -> PostgresUrl.parse("mysql://u:hunter2@h/d"))
                .hasMessageContaining("must start with postgresql://").hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> PostgresUrl.parse("postgresql://u:hunter2@/d"))
                .hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> PostgresUrl.parse("postgresql://u:hunter2@h:5432/"))
                .hasMessageContaining("no database name").hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> PostgresUrl.parse("postgresql://u:hunter2@h:5432/d b"))
                .hasMessageContaining("not a valid URL").hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> PostgresUrl.parse(" ")).hasMessageContaining("empty");
    }

    @Test
    void aPasswordWithSpacesThatKeepsTheStringFromParsingIsNotShownInTheError() {
        assertThatThrownBy(() -> PostgresUrl.parse("postgresql://u:my secret pw@h/d"))
                .hasMessageContaining("not a valid URL").hasMessageContaining("postgresql://u:***@h/d")
                .hasMessageNotContainingAny("my", "secret", " pw");
        assertThatThrownBy(() -> PostgresUrl.parse("postgresql://the user:hunter2@h/d"))
                .hasMessageContaining("not a valid URL").hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> PostgresUrl.parse("postgresql://u:p@ss word@h/d"))
                .hasMessageContaining("postgresql://u:***@h/d").hasMessageNotContainingAny("ss", "word");
        assertThatThrownBy(() -> PostgresUrl.parse("postgresql://h/d?sslmode=require&password=hunter2 and more"))
                .hasMessageContaining("sslmode=require&password=***").hasMessageNotContainingAny("hunter2", "more");
    }

    @Test
    void freeTextKeepsItsRedactionOfSecretsAfterAUrlWithoutCredentials() {
        assertThat(PostgresUrl.redact("jdbc:postgresql://h:5432/d?application_name=my app&password=p@ss"))
                .contains("password=***", "postgresql://h:5432/d").doesNotContain("p@ss");
        assertThat(PostgresUrl.redact("target postgresql://h:5432/d failed; retry: password=s3cr@t [SQLState 08001]"))
                .contains("password=***", "postgresql://h:5432/d", "[SQLState 08001]").doesNotContain("s3cr");
    }

    @Test
    void anErrorShowsAtMostTheStartOfAHugeConnectionString() {
        String huge = "postgresql://u:hunter2@h/d?application_name=" + "x".repeat(1_000_000) + " y";
        assertThatThrownBy(() -> PostgresUrl.parse(huge)).hasMessageContaining("not a valid URL")
                .hasMessageContaining("postgresql://u:***@h/d?application_name=xxx").hasMessageNotContaining("hunter2")
                .satisfies(e -> assertThat(e.getMessage()).hasSizeLessThan(1_000));
    }

    @Test
    void redactionHidesPasswordsContainingAtAndEverySecretLikeParameter() {
        assertThat(PostgresUrl.redact("postgresql://u:p@ss@host/db")).isEqualTo("postgresql://u:***@host/db");
        assertThat(PostgresUrl.redact("target postgresql://u:a@b@c@h:1/d: FATAL for user x"))
                .isEqualTo("target postgresql://u:***@h:1/d: FATAL for user x");
        String redacted = PostgresUrl.redact(
                "postgresql://h/d?sslmode=require&sslpassword=s1&sslkey=/k&api_token=s2&clientSecret=s3&password=s4");
        assertThat(redacted).doesNotContain("s1", "/k", "s2", "s3", "s4").contains("sslmode=require",
                "sslpassword=***", "sslkey=***");

        PostgresUrl url = new PostgresUrl("h", 5432, "d", "u", "pw", Map.of("sslpassword", "s1", "sslmode", "require"));
        assertThat(url.redacted()).doesNotContain("s1", "pw").contains("sslpassword=***", "sslmode=require");
    }
}
