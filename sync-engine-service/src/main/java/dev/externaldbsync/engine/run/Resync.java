package dev.externaldbsync.engine.run;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Collectors;

import javax.sql.DataSource;

import org.jboss.logging.Logger;

import dev.externaldbsync.config.TargetConfig;
import dev.externaldbsync.config.TenancyDirectory;
import dev.externaldbsync.engine.errors.SqlFailure;
import dev.externaldbsync.engine.target.TargetCursors;
import dev.externaldbsync.engine.target.TargetPools;
import dev.externaldbsync.engine.target.TargetSchema;
import dev.externaldbsync.engine.target.TargetSession;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/**
 * Rebuilds one (tenancy, target) from scratch while live sync continues: under the same advisory lock as the runs,
 * in one target transaction, resets the tenancy's cursors to −1 and, when the target's cursor table holds no other
 * tenancy, truncates every mapping table (so drifted extra rows go too); then enqueues the tenancy so the next run
 * re-applies everything (the upserts are idempotent). A shared target only gets its cursors reset: rows that exist
 * in it but no longer in the projection are not removed there, since finding them would need a cross-database
 * anti-join. Stateless.
 */
public final class Resync {

    private static final Logger LOG = Logger.getLogger(Resync.class);

    private static final String ENQUEUE = "SELECT sync_enqueue_tenancies(ARRAY[?]::uuid[])";

    /** What a resync did. */
    public enum Outcome {
        /** Cursors reset and, for a target holding no other tenancy, its mapping tables emptied. */
        RESET_DEDICATED,
        /** Shared target: only this tenancy's cursors reset (stale extra rows of a shared target stay). */
        RESET_SHARED,
        /** No such tenancy, or it has no valid target of that id. */
        NOT_FOUND,
        /** A run held the (tenancy, target) lock for longer than the wait. */
        BUSY
    }

    private final DataSource internal;
    private final TargetPools pools;
    private final TargetSchema schema;

    public Resync(DataSource internal, TargetPools pools, TargetSchema schema) {
        this.internal = internal;
        this.pools = pools;
        this.schema = schema;
    }

    /** @throws SQLException when the internal database or the target fails; nothing was changed then */
    public Outcome resync(UUID tenancyId, String targetId, Duration lockWait) throws SQLException {
        Optional<TargetConfig> target;
        try (Connection c = internal.getConnection()) {
            target = TenancyDirectory.byId(c, tenancyId).flatMap(t -> t.targets().targets().stream()
                    .filter(x -> x.id().equals(targetId)).findFirst());
        }
        if (target.isEmpty()) {
            return Outcome.NOT_FOUND;
        }
        Outcome outcome;
        long lockKey = RunLocks.key(tenancyId, targetId);
        try (Connection ic = internal.getConnection()) {
            if (!RunLocks.lockWithin(ic, lockKey, lockWait)) {
                return Outcome.BUSY;
            }
            try {
                outcome = resetTarget(tenancyId, target.get());
            } finally {
                RunLocks.unlock(ic, new long[] { lockKey });
            }
            try (PreparedStatement ps = ic.prepareStatement(ENQUEUE)) {
                ps.setObject(1, tenancyId);
                ps.execute();
            }
        }
        LOG.infof("Resync of tenancy %s target %s: %s", tenancyId, targetId, outcome);
        return outcome;
    }

    private Outcome resetTarget(UUID tenancyId, TargetConfig target) throws SQLException {
        try (TargetSession session = TargetSession.open(pools, target.url())) {
            Connection tc = session.connection();
            try {
                schema.ensure(tc, target.url());
                tc.setAutoCommit(false);
                boolean shared = TargetCursors.lockAndCheckShared(tc, tenancyId);
                if (!shared) {
                    try (Statement st = tc.createStatement()) {
                        st.execute("TRUNCATE " + Mappings.ALL.stream().map(Mapping::quotedTable)
                                .collect(Collectors.joining(", ")));
                    }
                }
                TargetCursors.reset(tc, tenancyId);
                tc.commit();
                return shared ? Outcome.RESET_SHARED : Outcome.RESET_DEDICATED;
            } catch (SQLException e) {
                session.rollbackQuietly();
                if (SqlFailure.of(e) == SqlFailure.MISSING_TABLE) {
                    schema.forget(target.url());
                }
                throw session.failed(e);
            } catch (RuntimeException e) {
                session.rollbackQuietly();
                throw e;
            }
        }
    }
}
