package dev.externaldbsync.load;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import java.util.stream.Stream;

/**
 * Reads a process's memory high-water mark from Linux {@code /proc/<pid>/status}. {@code VmHWM} is the peak resident
 * set size over the process's whole life so far, so one read just before the process stops is its peak over the run.
 * Stateless; thread-safe.
 */
final class ProcStatus {

    private ProcStatus() {
    }

    /** Peak RSS in KiB of the process, or empty when it is gone or the platform has no {@code /proc}. */
    static OptionalLong peakRssKib(long pid) {
        return peakRssKib(Path.of("/proc", Long.toString(pid), "status"));
    }

    static OptionalLong peakRssKib(Path statusFile) {
        try {
            return parseField(Files.readString(statusFile), "VmHWM");
        } catch (IOException e) {
            return OptionalLong.empty();
        }
    }

    /** The value in kB of a {@code Name:   123 kB} line of a status file's text. */
    static OptionalLong parseField(String statusText, String field) {
        for (String line : statusText.split("\n")) {
            if (line.startsWith(field + ":")) {
                String value = line.substring(field.length() + 1).strip();
                int space = value.indexOf(' ');
                return OptionalLong.of(Long.parseLong(space < 0 ? value : value.substring(0, space)));
            }
        }
        return OptionalLong.empty();
    }

    /**
     * Fields of {@code /proc/<pid>/stat} after the command name (which may hold spaces): index 0 is field 3
     * ({@code state}), so field n is at index n - 3. Empty when the process is gone.
     */
    static java.util.Optional<String[]> statFields(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            return java.util.Optional.of(stat.substring(stat.lastIndexOf(')') + 2).strip().split(" "));
        } catch (IOException | RuntimeException e) {
            return java.util.Optional.empty();
        }
    }

    /** The parent process id, if known. */
    static OptionalLong parentPid(long pid) {
        return statFields(pid).map(f -> OptionalLong.of(Long.parseLong(f[1]))).orElse(OptionalLong.empty());
    }

    /** CPU time (user + system, every thread) the process has used, in clock ticks (USER_HZ); empty when gone. */
    static OptionalLong cpuTicks(long pid) {
        return statFields(pid).map(f -> OptionalLong.of(Long.parseLong(f[11]) + Long.parseLong(f[12])))
                .orElse(OptionalLong.empty());
    }

    /**
     * CPU time (user + system) of the process's JIT compiler threads that are alive now ({@code C1 CompilerThread*},
     * {@code C2 CompilerThread*}; the kernel keeps 15 characters of a thread name), in clock ticks; empty when gone.
     * A compiler thread that a JVM with a dynamic number of them retired took its time with it, so this is at least
     * what compiling cost.
     */
    static OptionalLong jitTicks(long pid) {
        Path tasks = Path.of("/proc", Long.toString(pid), "task");
        long ticks = 0;
        try (Stream<Path> threads = Files.list(tasks)) {
            for (Path task : (Iterable<Path>) threads::iterator) {
                ticks += compilerThreadTicks(task);
            }
        } catch (IOException | UncheckedIOException e) {
            return OptionalLong.empty();
        }
        return OptionalLong.of(ticks);
    }

    private static long compilerThreadTicks(Path task) {
        try {
            String name = Files.readString(task.resolve("comm")).strip();
            if (!name.startsWith("C1 CompilerThre") && !name.startsWith("C2 CompilerThre")) {
                return 0;
            }
            String stat = Files.readString(task.resolve("stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).strip().split(" ");
            return Long.parseLong(f[11]) + Long.parseLong(f[12]);
        } catch (IOException | RuntimeException e) {
            return 0; // the thread ended between the listing and the read
        }
    }

    /**
     * CPU time, in clock ticks (USER_HZ, 100 on Linux), that the process's exited and reaped children used: for a
     * PostgreSQL postmaster, the work of every backend that has disconnected.
     */
    static OptionalLong reapedChildrenCpuTicks(long pid) {
        return statFields(pid).map(f -> OptionalLong.of(Long.parseLong(f[13]) + Long.parseLong(f[14])))
                .orElse(OptionalLong.empty());
    }
}
