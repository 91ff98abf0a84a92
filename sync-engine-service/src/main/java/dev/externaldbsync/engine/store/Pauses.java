package dev.externaldbsync.engine.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Optional;
import java.util.UUID;

import dev.externaldbsync.contract.status.CappedCount;

/**
 * The owner of writes to {@code "ExternalDbSyncTenancyPause"} (readers join it through
 * {@link dev.externaldbsync.config.TenancyDirectory}): pause, resume, and the capped count. Stateless.
 */
public final class Pauses {

    private static final String PAUSE = """
            INSERT INTO "ExternalDbSyncTenancyPause" ("tenancyId", "pausedAt", "reason")
            SELECT t."id", CURRENT_TIMESTAMP, ? FROM "Tenancy" t WHERE t."id" = ?
            ON CONFLICT ("tenancyId") DO UPDATE SET "reason" = EXCLUDED."reason"
            RETURNING "pausedAt"::text""";

    private static final String RESUME = """
            DELETE FROM "ExternalDbSyncTenancyPause" WHERE "tenancyId" = ?""";

    private static final String COUNT = """
            SELECT count(*) FROM (SELECT 1 FROM "ExternalDbSyncTenancyPause" LIMIT ?) AS z""";

    private static final String PAUSED = """
            SELECT EXISTS (SELECT 1 FROM "ExternalDbSyncTenancyPause" WHERE "tenancyId" = ?)""";

    private Pauses() {
    }

    /** Pauses an existing tenancy (a repeated pause updates the reason); its pause time, empty for no such tenancy. */
    public static Optional<String> pause(Connection c, UUID tenancy, String reason) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(PAUSE)) {
            ps.setString(1, reason);
            ps.setObject(2, tenancy);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(rs.getString(1)) : Optional.empty();
            }
        }
    }

    /** Removes the pause; whether there was one. */
    public static boolean resume(Connection c, UUID tenancy) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(RESUME)) {
            ps.setObject(1, tenancy);
            return ps.executeUpdate() > 0;
        }
    }

    public static boolean isPaused(Connection c, UUID tenancy) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(PAUSED)) {
            ps.setObject(1, tenancy);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getBoolean(1);
            }
        }
    }

    public static CappedCount count(Connection c, int cap) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(COUNT)) {
            ps.setInt(1, cap + 1);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return CappedCount.of(rs.getLong(1), cap);
            }
        }
    }
}
