package dev.externaldbsync.engine.errors;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.SQLException;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.contract.status.ErrorText;

class SqlFailureTest {

    @Test
    void aTwentyMegabyteTargetErrorIsDescribedInAFewKilobytesWithItsSqlState() {
        SQLException e = new SQLException("ERROR: " + "A".repeat(20 * 1024 * 1024), "P0001");
        String described = SqlFailure.describe(e);
        assertThat(described.length()).isLessThanOrEqualTo(ErrorText.MAX_CHARS);
        assertThat(described).contains(ErrorText.TRUNCATED_MARK).endsWith("[SQLState P0001]");
        assertThat(SqlFailure.of(e)).isEqualTo(SqlFailure.DATA);
    }

    @Test
    void aPasswordStraddlingTheCutIsStillRedacted() {
        String prefix = "x".repeat(ErrorText.MAX_CHARS - 20);
        SQLException e = new SQLException(prefix + " postgresql://user:hunter2secret@db.example/app "
                + "y".repeat(3 * ErrorText.MAX_CHARS), "08001");
        assertThat(SqlFailure.describe(e)).doesNotContain("hunter2").doesNotContain("secret");
    }

    @Test
    void aShortMessageIsKeptWhole() {
        assertThat(SqlFailure.describe(new SQLException("Connection refused", "08001")))
                .isEqualTo("Connection refused [SQLState 08001]");
    }
}
