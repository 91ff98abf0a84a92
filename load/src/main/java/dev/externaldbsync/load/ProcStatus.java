package dev.externaldbsync.load;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

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
     * CPU time, in clock ticks (USER_HZ, 100 on Linux), that the process's exited and reaped children used: for a
     * PostgreSQL postmaster, the work of every backend that has disconnected.
     */
    static OptionalLong reapedChildrenCpuTicks(long pid) {
        return statFields(pid).map(f -> OptionalLong.of(Long.parseLong(f[13]) + Long.parseLong(f[14])))
                .orElse(OptionalLong.empty());
    }
}
