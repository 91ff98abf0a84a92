package dev.externaldbsync.engine.target;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import org.jboss.logging.Logger;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.mapping.Mappings;

/**
 * The schema bootstrap of a target: every mapping table and the cursor table, created once per target database and
 * schema version ({@link Mappings#SCHEMA_MARK}, the comment on the cursor table), under a transaction-level advisory
 * lock on the target so concurrent bootstraps (other threads, other replicas) serialise. The cursor table's backfill
 * position columns ({@link TargetCursors#POSITION_DDL}) are checked beside the mark and added on their own where
 * missing, so a target bootstrapped before they existed gets them without its mapping DDL (and its REVOKEs, which
 * would drop the tenant's own grants) running again. Remembers the targets it has seen at the current version;
 * thread-safe.
 */
@ApplicationScoped
public class TargetSchema {

    private static final Logger LOG = Logger.getLogger(TargetSchema.class);

    /** Serialises concurrent schema bootstraps on one target (a transaction-level lock there). */
    private static final long BOOTSTRAP_LOCK = 0x5359_4E43_4444_4C00L; // "SYNCDDL"

    @Inject
    UpstreamTargetAdoption adoption;

    private final Set<String> bootstrapped = ConcurrentHashMap.newKeySet();
    private final Set<String> forced = ConcurrentHashMap.newKeySet();

    /**
     * Makes sure the target has the current schema: a no-op after the first success in this process, otherwise one
     * read of the mark and, when it differs (or {@link #forget} was called), the DDL under the bootstrap lock. Leaves
     * the connection outside a transaction, autocommit off.
     */
    public void ensure(Connection tc, PostgresUrl url) throws SQLException {
        String key = key(url);
        if (bootstrapped.contains(key)) {
            return;
        }
        boolean force = forced.remove(key);
        tc.setAutoCommit(false);
        try (Statement st = tc.createStatement()) {
            // A target Stack Auth's in-app sync created holds its own cursor table under our name: adopted first.
            adoption.adoptIfUpstream(tc, url);
            if (!force && Mappings.SCHEMA_MARK.equals(readMark(st)) && hasPositionColumns(st)) {
                tc.commit();
                bootstrapped.add(key);
                return;
            }
            st.execute("SELECT pg_advisory_xact_lock(" + BOOTSTRAP_LOCK + ")");
            if (force || !Mappings.SCHEMA_MARK.equals(readMark(st))) {
                for (String ddl : Mappings.TARGET_DDL) {
                    st.execute(ddl);
                }
                st.execute(Mappings.WRITE_SCHEMA_MARK_SQL);
                LOG.infof("Bootstrapped target schema %s on %s", Mappings.SCHEMA_VERSION, url.redacted());
            }
            if (!hasPositionColumns(st)) {
                st.execute(TargetCursors.POSITION_DDL);
            }
            tc.commit();
            bootstrapped.add(key);
        } catch (SQLException | RuntimeException e) {
            TargetSession.rollbackQuietly(tc);
            throw e;
        }
    }

    /** A target table went missing: bootstrap this target again (forced) on its next run. */
    public void forget(PostgresUrl url) {
        String key = key(url);
        bootstrapped.remove(key);
        forced.add(key);
    }

    private static String readMark(Statement st) throws SQLException {
        try (ResultSet rs = st.executeQuery(Mappings.READ_SCHEMA_MARK_SQL)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    private static boolean hasPositionColumns(Statement st) throws SQLException {
        try (ResultSet rs = st.executeQuery(TargetCursors.HAS_POSITION_COLUMNS)) {
            return rs.next() && rs.getBoolean(1);
        }
    }

    private static String key(PostgresUrl url) {
        // The parameters are part of the key: two targets in one database may differ only by ?currentSchema=.
        return url.host() + ":" + url.port() + "/" + url.database() + "?" + new TreeMap<>(url.params()) + "@"
                + url.user() + "#" + Mappings.SCHEMA_VERSION;
    }
}
