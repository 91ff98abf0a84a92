package dev.externaldbsync.contract.status;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ErrorTextTest {

    @Test
    void aHugeTextIsCutToTheBoundAndMarkedAsTruncated() {
        String huge = "x".repeat(20 * 1024 * 1024);
        String bounded = ErrorText.bounded(huge);
        assertThat(bounded).hasSize(ErrorText.MAX_CHARS).endsWith(ErrorText.TRUNCATED_MARK);
    }

    @Test
    void aShortTextAndNullAreKeptAsTheyAre() {
        assertThat(ErrorText.bounded("deadlock detected")).isEqualTo("deadlock detected");
        assertThat(ErrorText.bounded(null)).isNull();
    }

    @Test
    void aCutNeverSplitsASurrogatePair() {
        int keep = ErrorText.MAX_CHARS - ErrorText.TRUNCATED_MARK.length();
        String text = "a".repeat(keep - 1) + "\uD83D\uDE00" + "tail".repeat(10);
        String bounded = ErrorText.bounded(text);
        assertThat(Character.isHighSurrogate(bounded.charAt(bounded.length() - ErrorText.TRUNCATED_MARK.length() - 1)))
                .isFalse();
    }

    @Test
    void classesComeFromTheSqlStateAndTheServicesOwnWords() {
        assertThat(ErrorText.classOf("target postgresql://u:***@db.example/x: canceling statement due to statement"
                + " timeout [SQLState 57014]")).isEqualTo("timeout");
        assertThat(ErrorText.classOf("target postgresql://db.example/x: Connection refused [SQLState 08001]"))
                .isEqualTo("connection");
        assertThat(ErrorText.classOf("users: duplicate key value violates unique constraint [SQLState 23505]"))
                .isEqualTo("data");
        assertThat(ErrorText.classOf("internal database: the database system is starting up [SQLState 57P03]"))
                .isEqualTo("internal-database");
        assertThat(ErrorText.classOf("target main: config error: parameter host is not allowed"))
                .isEqualTo("config");
        assertThat(ErrorText.classOf("relation \"foo\" has no column bar [SQLState 42703]")).isEqualTo("other");
        assertThat(ErrorText.classOf(null)).isNull();
    }

    @Test
    void aClassNeverQuotesTheText() {
        assertThat(ErrorText.classOf("target postgresql://alice@secret-host.internal/db?sslpassword=hunter2: boom"))
                .doesNotContain("secret-host").doesNotContain("hunter2").doesNotContain("alice");
    }
}
