package dev.externaldbsync.sequencer;

import java.sql.SQLException;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

import dev.externaldbsync.schema.SourceTable;
import dev.externaldbsync.service.Fusebox;
import io.quarkus.runtime.annotations.RegisterForReflection;

/**
 * {@code GET /api/v1/status}: what the sequencer is doing. Open (no authentication): it carries counts and
 * timings only, never tenant data. Costs one fusebox read and one capped count per table through the partial flag
 * indexes, so it answers live even while the loop is paused.
 */
@Path("/api/v1/status")
@Produces(MediaType.APPLICATION_JSON)
public class StatusResource {

    /**
     * @param paused                the fusebox switch is off (live)
     * @param running               the loop thread is running in this process
     * @param listening             the LISTEN connection is up (otherwise the fallback poll drives the loop)
     * @param waitingRows           marked rows per table, live; {@code "100000+"} beyond the cap
     * @param lastBatch             the last non-empty batch of this process, or null
     * @param batchesSinceStart     non-empty batches committed by this process
     * @param rowsStampedSinceStart rows stamped by this process
     * @param lastError             the last failure the loop recovered from, or null
     */
    @RegisterForReflection
    public record Status(boolean paused, boolean running, boolean listening, Map<String, String> waitingRows,
            LastBatch lastBatch, long batchesSinceStart, long rowsStampedSinceStart, SequencerLoop.LastError lastError) {
    }

    /** One batch: rows per table, total, tenancies, duration, commit time. */
    @RegisterForReflection
    public record LastBatch(int rows, Map<String, Integer> rowsPerTable, int tenancies, long durationMillis,
            Instant finishedAt) {
    }

    @Inject
    SequencerService service;

    @Inject
    Fusebox fusebox;

    @GET
    public Status status() {
        SequencerLoop loop = service.loop();
        Sequencer sequencer = service.sequencer();
        if (loop == null || sequencer == null) {
            return new Status(false, false, false, Map.of(), null, 0, 0,
                    new SequencerLoop.LastError("INTERNAL_DATABASE_URL is not set", null));
        }
        SequencerLoop.Stats stats = loop.stats();
        boolean paused;
        Map<SourceTable, Long> counts;
        SequencerLoop.LastError lastError = stats.lastError();
        try {
            paused = !fusebox.read().sequencerEnabled();
            counts = sequencer.waitingRows(Sequencer.WAITING_CAP);
        } catch (SQLException | RuntimeException e) {
            // Database unreachable: answer from what the loop last saw rather than fail the status call.
            paused = stats.paused();
            counts = loop.waitingRows();
            lastError = new SequencerLoop.LastError("status: " + e.getMessage(), null);
        }
        Map<String, String> waiting = new LinkedHashMap<>();
        counts.forEach((table, count) -> waiting.put(table.tableName(), formatWaiting(count)));
        SequencingBatch batch = stats.lastBatch();
        LastBatch last = null;
        if (batch != null) {
            Map<String, Integer> perTable = new LinkedHashMap<>();
            for (SourceTable table : SourceTable.values()) {
                perTable.put(table.tableName(), batch.rowsPerTable().getOrDefault(table, 0));
            }
            last = new LastBatch(batch.rows(), perTable, batch.tenancies(), batch.duration().toMillis(),
                    batch.finishedAt());
        }
        return new Status(paused, stats.running(), stats.listening(), waiting, last, stats.batches(),
                stats.rowsStamped(), lastError);
    }

    /** A count taken with a cap of {@link Sequencer#WAITING_CAP} + 1 rows: {@code "100000+"} when it hit the cap. */
    static String formatWaiting(long count) {
        return count > Sequencer.WAITING_CAP ? Sequencer.WAITING_CAP + "+" : Long.toString(count);
    }
}
