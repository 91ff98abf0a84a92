package dev.externaldbsync.load;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.assertj.core.api.Assertions.assertThat;

class HelpTest {

    @ParameterizedTest
    @ValueSource(strings = {"fixture", "write-load", "bench"})
    void helpExitsZeroAndNamesEveryOption(String command) {
        CommandLine cl = new CommandLine(new LoadMain());
        StringWriter out = new StringWriter();
        cl.setOut(new PrintWriter(out));
        int exit = cl.execute(command, "--help");

        assertThat(exit).isZero();
        CommandLine sub = cl.getSubcommands().get(command);
        assertThat(sub.getCommandSpec().options()).hasSizeGreaterThan(5);
        for (CommandLine.Model.OptionSpec option : sub.getCommandSpec().options()) {
            assertThat(out.toString()).contains(option.longestName());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"fixture", "write-load"})
    void missingInternalUrlIsAUsageError(String command) {
        CommandLine cl = new CommandLine(new LoadMain());
        cl.setErr(new PrintWriter(new StringWriter()));
        // An explicit empty URL overrides the environment default, so this holds wherever the test runs.
        assertThat(cl.execute(command, "--internal-url", "")).isEqualTo(2);
    }

    @Test
    void benchRefusesAnUnknownPhaseAndAnInternalUrlWithoutATarget() {
        CommandLine cl = new CommandLine(new LoadMain());
        cl.setErr(new PrintWriter(new StringWriter()));
        cl.setOut(new PrintWriter(new StringWriter()));

        assertThat(cl.execute("bench", "--phases", "copy,nonsense")).isEqualTo(2);
        assertThat(cl.execute("bench", "--internal-url", "postgresql://u:p@localhost:1/x")).isEqualTo(2);
    }
}
