package dev.externaldbsync.load;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.function.Consumer;

/**
 * CPU used over a window by the pipeline: the service processes and their PostgreSQL backends (sessions whose
 * {@code application_name} starts with a prefix, plus any session on the target database other than excluded ones,
 * which are the engine's target sessions). Backends come and go, so they are listed again at every {@link #sample};
 * a backend first seen after {@link #start} counts from zero (it connected during the window), one that disconnected
 * keeps what it had at its last sample. Reads {@code /proc}, so it measures only a server on this machine.
 * Not thread-safe: {@link #around} samples from its own thread and every sample holds this object's lock; a caller
 * that drives {@link #start}, {@link #sample} and {@link #stop} itself uses one thread.
 */
final class PipelineCpu implements AutoCloseable {

    /**
     * What the window cost, in clock ticks ({@link #ticksPerSecond}); per service, its process ({@code jvmTicks}), of
     * which its JIT compiler threads ({@code jitTicks}: warm-up, not work per change), and its sessions ({@code
     * sessionTicks}; the engine's include its target sessions).
     */
    record Result(long serviceTicks, long backendTicks, int backendsSeen, long ticksPerSecond,
            Map<String, Long> jvmTicks, Map<String, Long> jitTicks, Map<String, Long> sessionTicks) {

        /** Per service, its process and its sessions together, in the services' order. */
        Map<String, Long> ticksByService() {
            Map<String, Long> total = new LinkedHashMap<>();
            jvmTicks.forEach((service, ticks) -> total.put(service, ticks + sessionTicks.getOrDefault(service, 0L)));
            return total;
        }

        long totalJitTicks() {
            return jitTicks.values().stream().mapToLong(Long::longValue).sum();
        }

        double seconds() {
            return (serviceTicks + backendTicks) / (double) ticksPerSecond;
        }

        /** "sync-engine-service 8.1 s (process 6.0 of which JIT 2.0, sessions 2.1), …", in the services' order. */
        String perService() {
            StringBuilder text = new StringBuilder();
            for (Map.Entry<String, Long> e : jvmTicks.entrySet()) {
                long sessions = sessionTicks.getOrDefault(e.getKey(), 0L);
                if (!text.isEmpty()) {
                    text.append(", ");
                }
                text.append(String.format(java.util.Locale.ROOT,
                        "%s %.1f s (process %.1f of which JIT %.1f, sessions %.1f)",
                        e.getKey(), (e.getValue() + sessions) / (double) ticksPerSecond,
                        e.getValue() / (double) ticksPerSecond,
                        jitTicks.getOrDefault(e.getKey(), 0L) / (double) ticksPerSecond,
                        sessions / (double) ticksPerSecond));
            }
            return text.toString();
        }
    }

    private final Connection connection;
    private final Map<String, Long> servicePids;
    private final String applicationNamePrefix;
    private final String targetOwner;
    private final Map<Long, Long> serviceStart = new HashMap<>();
    private final Map<Long, Long> jitStart = new HashMap<>();
    /** pid -> {ticks when first seen in the window, ticks at the last sample}. */
    private final Map<Long, long[]> backends = new HashMap<>();
    /** pid -> the service whose session it is. */
    private final Map<Long, String> owners = new HashMap<>();
    private final PreparedStatement list;
    private boolean started;

    /**
     * @param servicePids  service name -> process id; a session named {@code applicationNamePrefix + name} is that
     *                     service's
     * @param targetOwner  the service that the target database's sessions belong to
     */
    PipelineCpu(Connection internal, Map<String, Long> servicePids, String applicationNamePrefix, String targetDatabase,
            String targetOwner, Collection<Integer> excludedBackendPids) throws SQLException {
        this.connection = internal;
        this.servicePids = new LinkedHashMap<>(servicePids);
        this.applicationNamePrefix = applicationNamePrefix;
        this.targetOwner = targetOwner;
        this.list = internal.prepareStatement("""
                SELECT pid, application_name FROM pg_stat_activity
                WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
                  AND (starts_with(application_name, ?) OR (datname = ? AND NOT (pid = ANY (?))))""");
        list.setString(1, applicationNamePrefix);
        list.setString(2, targetDatabase);
        Array excluded = internal.createArrayOf("int4", excludedBackendPids.toArray());
        list.setArray(3, excluded);
    }

    /** What {@link #around} measures. */
    interface Work {
        void run() throws Exception;
    }

    /**
     * Opens the window, runs {@code work} while listing the backends again every second (pools grow and reap, so
     * sessions come and go), and closes the window when it returns.
     */
    Result around(Work work, Consumer<String> sampleFailure) throws Exception {
        start();
        Sampling.around("bench-cpu-sampler", Duration.ofSeconds(1), Duration.ofSeconds(1), () -> {
            synchronized (this) {
                sample();
            }
        }, sampleFailure, work);
        synchronized (this) {
            return stop();
        }
    }

    /** Opens the window: what every service and current backend has used so far is the baseline. */
    void start() throws SQLException {
        for (long pid : servicePids.values()) {
            serviceStart.put(pid, ProcStatus.cpuTicks(pid).orElse(0));
            jitStart.put(pid, ProcStatus.jitTicks(pid).orElse(0));
        }
        for (long pid : backendPids()) {
            long now = ProcStatus.cpuTicks(pid).orElse(0);
            backends.put(pid, new long[] {now, now});
        }
        started = true;
    }

    /** Lists the backends again and reads each one's CPU. */
    void sample() throws SQLException {
        if (!started) {
            throw new IllegalStateException("start() first");
        }
        for (long pid : backendPids()) {
            backends.computeIfAbsent(pid, p -> new long[] {0, 0});
        }
        for (Map.Entry<Long, long[]> e : backends.entrySet()) {
            OptionalLong now = ProcStatus.cpuTicks(e.getKey());
            if (now.isPresent()) {
                e.getValue()[1] = Math.max(e.getValue()[1], now.getAsLong());
            }
        }
    }

    /** Takes a last sample and closes the window. */
    Result stop() throws SQLException {
        sample();
        long services = 0;
        Map<String, Long> jvm = new LinkedHashMap<>();
        Map<String, Long> jit = new LinkedHashMap<>();
        for (Map.Entry<String, Long> service : servicePids.entrySet()) {
            long pid = service.getValue();
            long now = ProcStatus.cpuTicks(pid).orElse(serviceStart.getOrDefault(pid, 0L));
            long used = Math.max(0, now - serviceStart.getOrDefault(pid, 0L));
            jvm.put(service.getKey(), used);
            long compiling = ProcStatus.jitTicks(pid).orElse(jitStart.getOrDefault(pid, 0L));
            jit.put(service.getKey(), Math.min(used, Math.max(0, compiling - jitStart.getOrDefault(pid, 0L))));
            services += used;
        }
        long sessions = 0;
        Map<String, Long> perOwner = new LinkedHashMap<>();
        for (Map.Entry<Long, long[]> e : backends.entrySet()) {
            long used = Math.max(0, e.getValue()[1] - e.getValue()[0]);
            sessions += used;
            perOwner.merge(owners.getOrDefault(e.getKey(), "unknown"), used, Long::sum);
        }
        return new Result(services, sessions, backends.size(), ticksPerSecond(), jvm, jit, perOwner);
    }

    private List<Long> backendPids() throws SQLException {
        List<Long> pids = new ArrayList<>();
        try (ResultSet rs = list.executeQuery()) {
            while (rs.next()) {
                long pid = rs.getLong(1);
                String name = rs.getString(2);
                owners.putIfAbsent(pid, name != null && name.startsWith(applicationNamePrefix)
                        ? name.substring(applicationNamePrefix.length()) : targetOwner);
                pids.add(pid);
            }
        }
        return pids;
    }

    /** USER_HZ, the unit of {@code /proc/<pid>/stat}'s CPU fields (100 unless {@code getconf CLK_TCK} says else). */
    static long ticksPerSecond() {
        try {
            Process p = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).strip();
            return p.waitFor() == 0 ? Long.parseLong(text) : 100;
        } catch (java.io.IOException | NumberFormatException e) {
            return 100;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 100;
        }
    }

    @Override
    public void close() throws SQLException {
        list.close();
        connection.close();
    }
}
