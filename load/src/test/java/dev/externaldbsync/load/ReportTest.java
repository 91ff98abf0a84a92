package dev.externaldbsync.load;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ReportTest {

    @Test
    void keyValueLinesKeepTheOrderAndAreMachineReadable() {
        Report report = new Report();
        report.put("copy", "copy_rows_per_s", 101234.567, "the ceiling");
        report.put("lag", "lag_ms_p50", 3.14159, null);
        report.put("lag", "lag_lost", 0, "none");
        report.put("machine", "git_commit", "abc 123", null);
        report.put("lag", "lag_ms_p99", Double.NaN, null);

        String text = print(report::printKeyValues);

        assertThat(text.lines()).containsExactly("copy_rows_per_s=101235", "lag_ms_p50=3.14", "lag_lost=0",
                "git_commit=abc_123", "lag_ms_p99=n/a");
        for (String line : text.lines().toList()) {
            assertThat(line).matches("[a-z0-9_]+=\\S+");
        }
    }

    @Test
    void theTableShowsPhaseKeyValueAndNote() {
        Report report = new Report();
        report.put("backfill", "backfill_ratio", 0.6543, "backfill / copy ceiling");

        String table = print(report::printTable);

        assertThat(table.lines().findFirst().orElseThrow()).contains("phase", "key", "value", "note");
        assertThat(table).containsPattern("\\| backfill +\\| backfill_ratio +\\| +0\\.65 \\| backfill / copy ceiling");
    }

    @Test
    void formatsByMagnitudeAndRefusesKeysScriptsCannotParse() {
        assertThat(Report.format(0.123)).isEqualTo("0.12");
        assertThat(Report.format(1234.56)).isEqualTo("1234.6");
        assertThat(Report.format(123456.7)).isEqualTo("123457");
        assertThatThrownBy(() -> new Report().put("x", "Bad Key", 1, null)).isInstanceOf(IllegalArgumentException.class);
    }

    private static String print(java.util.function.Consumer<PrintStream> printer) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        printer.accept(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        return bytes.toString(StandardCharsets.UTF_8);
    }
}
