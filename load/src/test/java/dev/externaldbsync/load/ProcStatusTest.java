package dev.externaldbsync.load;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

class ProcStatusTest {

    @Test
    void parsesTheHighWaterMarkLine() {
        String status = """
                Name:\tjava
                VmPeak:\t 4000000 kB
                VmHWM:\t  262144 kB
                VmRSS:\t  131072 kB
                """;
        assertThat(ProcStatus.parseField(status, "VmHWM")).hasValue(262144);
        assertThat(ProcStatus.parseField(status, "VmRSS")).hasValue(131072);
        assertThat(ProcStatus.parseField(status, "VmSwap")).isEmpty();
    }

    @Test
    void readsThePeakOfThisVeryProcessAndNothingForAGoneOne() {
        long self = ProcessHandle.current().pid();
        // RSS first, the peak after: the high-water mark only grows, so it is at least any earlier RSS even while
        // this JVM keeps allocating (read the other way round, a busy process can outgrow its own earlier peak).
        long current = ProcStatus.parseField(read(Path.of("/proc/self/status")), "VmRSS").orElseThrow();
        long peak = ProcStatus.peakRssKib(self).orElseThrow();

        assertThat(peak).isGreaterThanOrEqualTo(current).isGreaterThan(1024);
        assertThat(ProcStatus.peakRssKib(Path.of("/proc/does-not-exist/status"))).isEmpty();
    }

    @Test
    void readsTheParentAndTheReapedChildrenCpuOfThisProcess() throws Exception {
        long self = ProcessHandle.current().pid();
        assertThat(ProcStatus.parentPid(self)).hasValue(ProcessHandle.current().parent().orElseThrow().pid());
        long before = ProcStatus.reapedChildrenCpuTicks(self).orElseThrow();
        // A child that burns CPU, then is reaped by waitFor: its CPU moves into our children's total.
        Process child = new ProcessBuilder("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done").start();
        assertThat(child.waitFor()).isZero();
        assertThat(ProcStatus.reapedChildrenCpuTicks(self).orElseThrow()).isGreaterThan(before);
    }

    @Test
    void readsTheCpuThisProcessHasUsedAndNothingForAGoneOne() {
        long self = ProcessHandle.current().pid();
        long before = ProcStatus.cpuTicks(self).orElseThrow();
        long spin = System.nanoTime();
        long x = 0;
        // Busy for longer than a clock tick (10 ms), so the count must move.
        while (System.nanoTime() - spin < 200_000_000L) {
            x += Long.numberOfTrailingZeros(x + spin);
        }
        assertThat(x).isNotNegative();
        assertThat(ProcStatus.cpuTicks(self).orElseThrow()).isGreaterThan(before);
        assertThat(ProcStatus.cpuTicks(Integer.MAX_VALUE)).isEmpty();
    }

    @Test
    void readsTheJitCompilerThreadsOfThisJvmAsPartOfItsCpuAndNothingForAGoneOne() {
        long self = ProcessHandle.current().pid();
        // Loading JUnit and AssertJ alone compiles thousands of methods: far more than one clock tick of C1 time.
        long jit = ProcStatus.jitTicks(self).orElseThrow();
        assertThat(jit).isPositive();
        assertThat(ProcStatus.cpuTicks(self).orElseThrow()).isGreaterThanOrEqualTo(jit);
        assertThat(ProcStatus.jitTicks(Integer.MAX_VALUE)).isEmpty();
    }

    private static String read(Path path) {
        try {
            return Files.readString(path);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
