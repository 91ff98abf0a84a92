package dev.externaldbsync.service;

import java.io.IOException;
import java.net.InetAddress;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * How a service names its replica in status bodies and in the queue's {@code "claimedBy"}: the host name, which is the
 * pod name in Kubernetes and the container id under Docker.
 */
public final class InstanceId {

    private static final String HOST = hostName();

    private InstanceId() {
    }

    /** This host's name ({@code HOSTNAME}, else the resolver's), or {@code "unknown"}. */
    public static String host() {
        return HOST;
    }

    /**
     * The host name plus a random suffix: a replica restarted on the same host (or several in one JVM, as tests run
     * them) must not inherit the claims of its predecessor, which are recognised by this name.
     */
    public static String unique() {
        byte[] suffix = new byte[3];
        ThreadLocalRandom.current().nextBytes(suffix);
        return HOST + "-" + HexFormat.of().formatHex(suffix);
    }

    private static String hostName() {
        String env = System.getenv("HOSTNAME");
        if (env != null && !env.isBlank()) {
            return env.strip();
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown";
        }
    }
}
