package dev.externaldbsync.verifier;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code verify-integrity [START] [COUNT] [flags]}: proves that every target equals what the mappings compute from
 * the internal database. Exit 0 all equal (pending rows allowed), 1 mismatches or per-target errors, 2 usage errors
 * or an unusable internal database. Results (failing units, then a summary) on stdout, progress on stderr.
 */
@Command(name = "verify-integrity", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Verifies, read-only and in bounded memory, that every external database equals what the "
                + "mappings compute from the internal database.",
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:every unit equal (pending rows allowed)", "1:a mismatch or a target error",
                "2:usage error or the internal database is unusable"})
public final class VerifyIntegrity implements Callable<Integer> {

    @Parameters(index = "0", arity = "0..1", paramLabel = "START", defaultValue = "1",
            description = "1-based index of the first tenancy (default 1)")
    long start;

    @Parameters(index = "1", arity = "0..1", paramLabel = "COUNT",
            description = "number of tenancies to check (default all)")
    Long count;

    @Option(names = "--internal-url", paramLabel = "URL", defaultValue = "${env:INTERNAL_DATABASE_URL}",
            showDefaultValue = CommandLine.Help.Visibility.NEVER,
            description = "internal database, postgresql://user:password@host:port/db (default: $INTERNAL_DATABASE_URL)")
    String internalUrl;

    @Option(names = "--recent-first",
            description = "order tenancies by most recent change (greatest sequence id of their rows) instead of id")
    boolean recentFirst;

    @Option(names = "--tenancy", paramLabel = "ID", description = "check only this tenancy (repeatable)")
    List<UUID> tenancies = new ArrayList<>();

    @Option(names = "--mapping", paramLabel = "NAME", description = "check only this mapping (repeatable)")
    List<String> mappings = new ArrayList<>();

    @Option(names = "--skip-users",
            description = "skip users and every mapping whose rows belong to a user (a user_id column)")
    boolean skipUsers;

    @Option(names = "--max-users-per-project", paramLabel = "N",
            description = "compare only the first N users (by id) of each tenancy, and user-owned rows of those users")
    Integer maxUsersPerProject;

    @Option(names = "--no-bail", description = "keep going after a mismatch or error; print all at the end, exit 1")
    boolean noBail;

    @Option(names = "--save-output", paramLabel = "FILE",
            description = "write one JSON line per unit to FILE.tmp, renamed to FILE when the run completes")
    Path saveOutput;

    @Option(names = "--verify-output", paramLabel = "FILE",
            description = "compare each unit with the one saved in FILE (by tenancy/target/mapping)")
    Path verifyOutput;

    @Option(names = "--max-reported", paramLabel = "N", defaultValue = "20",
            description = "findings listed per unit; beyond that only counted (default ${DEFAULT-VALUE})")
    int maxReported;

    @Option(names = "--verify-window", paramLabel = "N", defaultValue = "10000",
            description = "saved records held at most while matching out-of-order ones (default ${DEFAULT-VALUE})")
    int verifyWindow;

    @Option(names = "--target-connections", paramLabel = "N", defaultValue = "8",
            description = "open target connections kept for reuse across tenancies (default ${DEFAULT-VALUE})")
    int targetConnections;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    private PrintStream out = System.out;
    private PrintStream err = System.err;

    public static void main(String[] args) {
        System.exit(execute(System.out, System.err, args));
    }

    /** Runs the command with the given streams; returns the exit code. */
    public static int execute(PrintStream out, PrintStream err, String... args) {
        VerifyIntegrity command = new VerifyIntegrity();
        command.out = out;
        command.err = err;
        CommandLine cli = new CommandLine(command);
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            err.println("verify-integrity: " + (e instanceof IllegalArgumentException ? "" : e.getClass().getName()
                    + ": ") + PostgresUrl.redact(e.getMessage()));
            return Verifier.USAGE_OR_CONNECTION;
        });
        return cli.execute(args);
    }

    @Override
    public Integer call() throws Exception {
        if (saveOutput != null && verifyOutput != null) {
            throw usage("--save-output and --verify-output cannot be used together");
        }
        if (start < 1) {
            throw usage("START must be 1 or more");
        }
        if (count != null && count < 0) {
            throw usage("COUNT must not be negative");
        }
        if (maxUsersPerProject != null && maxUsersPerProject < 1) {
            throw usage("--max-users-per-project must be 1 or more");
        }
        if (maxReported < 0 || verifyWindow < 1 || targetConnections < 1) {
            throw usage("--max-reported must be >= 0, --verify-window and --target-connections >= 1");
        }
        if (!tenancies.isEmpty() && (start != 1 || count != null || recentFirst)) {
            throw usage("--tenancy cannot be combined with START, COUNT or --recent-first");
        }
        if (internalUrl == null || internalUrl.isBlank()) {
            throw usage("no internal database: pass --internal-url or set INTERNAL_DATABASE_URL");
        }
        PostgresUrl url;
        try {
            url = PostgresUrl.parse(internalUrl);
        } catch (IllegalArgumentException e) {
            throw usage("--internal-url: " + e.getMessage());
        }
        List<Mapping> selected = new ArrayList<>();
        for (String name : mappings) {
            selected.add(Mappings.byName(name).orElseThrow(() -> usage("unknown mapping '" + name + "' (known: "
                    + Mappings.ALL.stream().map(Mapping::name).collect(Collectors.joining(", ")) + ")")));
        }
        if (selected.isEmpty()) {
            selected.addAll(Mappings.ALL);
        }
        if (skipUsers) {
            selected.removeIf(m -> m.name().equals("users") || Verifier.hasUserColumn(m));
        }
        Verifier.Options options = new Verifier.Options(url, start, count == null ? Long.MAX_VALUE : count,
                recentFirst, tenancies, List.copyOf(selected), maxUsersPerProject, noBail, saveOutput, verifyOutput,
                maxReported, verifyWindow, targetConnections);
        return new Verifier(options, out, err).run();
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }
}
