package dev.externaldbsync.engine.run;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.UUID;

/**
 * The (tenancy, target) run locks: session advisory locks on the internal database, the same key in every replica,
 * so runs of one (tenancy, target) never overlap across threads and replicas. Taken with try-locks (a held one
 * answers BUSY, the poller retries) and held on the run's own internal session until released. Stateless.
 */
public final class RunLocks {

    private static final String TRY_LOCKS = """
            SELECT pg_try_advisory_lock(x.k) FROM unnest(?::bigint[]) WITH ORDINALITY AS x(k, i) ORDER BY x.i""";

    private static final String UNLOCKS = """
            SELECT count(*) FILTER (WHERE pg_advisory_unlock(x.k)) FROM unnest(?::bigint[]) AS x(k)""";

    private RunLocks() {
    }

    /**
     * Looked up once and cloned per key: {@code MessageDigest.getInstance} searches the security providers on every
     * call, which cost more than the digest (it showed in the engine's profile of every run).
     */
    private static final MessageDigest SHA_256;

    static {
        try {
            SHA_256 = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** A 64-bit key for the (tenancy, target) advisory lock, the same in every replica. */
    public static long key(UUID tenancyId, String targetId) {
        MessageDigest sha256;
        try {
            sha256 = (MessageDigest) SHA_256.clone();
        } catch (CloneNotSupportedException e) {
            throw new IllegalStateException(e);
        }
        byte[] digest = sha256.digest(("sync-engine:" + tenancyId + ":" + targetId).getBytes(StandardCharsets.UTF_8));
        return ByteBuffer.wrap(digest).getLong();
    }

    static long[] keys(List<Unit> units) {
        return units.stream().mapToLong(u -> key(u.tenancyId(), u.targetId())).toArray();
    }

    /** Try-locks every key in one statement; one boolean per key, in order. */
    public static boolean[] tryLock(Connection ic, long[] keys) throws SQLException {
        boolean[] locked = new boolean[keys.length];
        try (PreparedStatement ps = ic.prepareStatement(TRY_LOCKS)) {
            ps.setArray(1, ic.createArrayOf("bigint", boxed(keys)));
            try (ResultSet rs = ps.executeQuery()) {
                for (int i = 0; rs.next(); i++) {
                    locked[i] = rs.getBoolean(1);
                }
            }
        }
        return locked;
    }

    public static void unlock(Connection ic, long[] keys) throws SQLException {
        try (PreparedStatement ps = ic.prepareStatement(UNLOCKS)) {
            ps.setArray(1, ic.createArrayOf("bigint", boxed(keys)));
            ps.execute();
        }
    }

    /**
     * Takes the lock, waiting at most {@code wait} for its holder (a run in progress finishes its pages first): the
     * server blocks under {@code lock_timeout}, so nothing polls, and a pooled connection is never held forever. On
     * a connection in autocommit (a timed-out wait would abort an open transaction); the setting is reset after.
     */
    public static boolean lockWithin(Connection ic, long key, Duration wait) throws SQLException {
        try (PreparedStatement ps = ic.prepareStatement("SELECT set_config('lock_timeout', ?, false)")) {
            ps.setString(1, Math.max(1, wait.toMillis()) + "ms");
            ps.execute();
        }
        try (PreparedStatement ps = ic.prepareStatement("SELECT pg_advisory_lock(?)")) {
            ps.setLong(1, key);
            ps.execute();
            return true;
        } catch (SQLException e) {
            if (LOCK_NOT_AVAILABLE.equals(e.getSQLState())) {
                return false;
            }
            throw e;
        } finally {
            try (Statement st = ic.createStatement()) {
                st.execute("RESET lock_timeout");
            }
        }
    }

    /** SQLSTATE of a wait that ran past {@code lock_timeout}. */
    private static final String LOCK_NOT_AVAILABLE = "55P03";

    private static Long[] boxed(long[] keys) {
        Long[] boxed = new Long[keys.length];
        for (int i = 0; i < keys.length; i++) {
            boxed[i] = keys[i];
        }
        return boxed;
    }
}
