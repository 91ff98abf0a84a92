package dev.externaldbsync.load;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of {@code load.jar}: the {@code fixture}, {@code write-load} and {@code bench} subcommands. */
@Command(name = "load", mixinStandardHelpOptions = true,
        description = "Load scripts for external-db-sync: fixture generator and write-load driver.",
        subcommands = {Fixture.class, WriteLoad.class, Bench.class})
public final class LoadMain implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new LoadMain()).execute(args));
    }
}
