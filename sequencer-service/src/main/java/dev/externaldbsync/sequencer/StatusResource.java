package dev.externaldbsync.sequencer;

import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;

import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;

import dev.externaldbsync.contract.status.CappedCount;
import dev.externaldbsync.contract.status.ErrorText;
import dev.externaldbsync.contract.status.SequencerLastBatch;
import dev.externaldbsync.contract.status.SequencerLastError;
import dev.externaldbsync.contract.status.SequencerStatus;
import dev.externaldbsync.service.AdminAuthFilter;
import dev.externaldbsync.service.AdminConfig;
import dev.externaldbsync.service.Fusebox;
import dev.externaldbsync.service.InstanceId;
import io.quarkus.runtime.annotations.RegisterForReflection;

/**
 * {@code GET /api/v1/status}: what the sequencer is doing ({@link SequencerStatus}). Open (no authentication) for
 * counts and timings; the last error's text (a driver message naming hosts, users and databases) needs the admin
 * token, without it the message is only the error's class ({@link ErrorText#classOf}). Costs one fusebox read, one
 * sequence read and one bounded scan of the partial unstamped index ({@link Sequencer#waitingEntries}), so it answers
 * live even while the loop is paused. Counts are of change-log entries; {@code rowsStampedSinceStart} and the last
 * batch's {@code rows} count entries stamped.
 */
@Path("/api/v1/status")
@Produces(MediaType.APPLICATION_JSON)
@RegisterForReflection(targets = { SequencerStatus.class, SequencerLastBatch.class, SequencerLastError.class,
        CappedCount.class })
public class StatusResource {

    @Inject
    SequencerService service;

    @Inject
    Fusebox fusebox;

    @Inject
    AdminConfig admin;

    @Inject
    SequencerConfig config;

    @GET
    public SequencerStatus status(@HeaderParam(HttpHeaders.AUTHORIZATION) String authorization) {
        SequencerStatus s = status();
        if (s.lastError() == null || AdminAuthFilter.accepts(admin, authorization)) {
            return s;
        }
        return new SequencerStatus(s.instanceId(), s.paused(), s.running(), s.pollIntervalMillis(), s.waitingRows(),
                s.waitingCounts(), s.stampsIssued(), s.lastBatch(), s.batchesSinceStart(), s.rowsStampedSinceStart(),
                new SequencerLastError(ErrorText.classOf(s.lastError().message()), s.lastError().at()));
    }

    SequencerStatus status() {
        SequencerLoop loop = service.loop();
        Sequencer sequencer = service.sequencer();
        if (loop == null || sequencer == null) {
            return new SequencerStatus(InstanceId.host(), false, false, config.pollInterval().toMillis(), Map.of(), Map.of(), null, null, 0, 0,
                    new SequencerLastError("INTERNAL_DATABASE_URL is not set", null));
        }
        SequencerLoop.Stats stats = loop.stats();
        boolean paused;
        Sequencer.Waiting counts;
        Long stamps = null;
        SequencerLastError lastError = stats.lastError() == null ? null
                : new SequencerLastError(ErrorText.bounded(stats.lastError().message()), stats.lastError().at());
        try {
            paused = !fusebox.read().sequencerEnabled();
            counts = sequencer.waitingEntries(Sequencer.WAITING_CAP);
            stamps = sequencer.stampsIssued();
        } catch (SQLException | RuntimeException e) {
            // Database unreachable: answer from what the loop last saw rather than fail the status call.
            paused = stats.paused();
            counts = loop.waiting();
            lastError = new SequencerLastError(ErrorText.bounded("status: " + e.getMessage()), null);
        }
        Map<String, String> waiting = new LinkedHashMap<>();
        Map<String, CappedCount> typed = new LinkedHashMap<>();
        boolean capped = counts.capped();
        counts.perTable().forEach((table, count) -> {
            waiting.put(table, formatWaiting(count, capped));
            typed.put(table, new CappedCount(count, capped));
        });
        SequencingBatch batch = stats.lastBatch();
        SequencerLastBatch last = null;
        if (batch != null) {
            last = new SequencerLastBatch(batch.entries(), new LinkedHashMap<>(batch.entriesPerTable()),
                    batch.tenancies(), batch.duration().toMillis(), batch.finishedAt());
        }
        return new SequencerStatus(InstanceId.host(), paused, stats.running(), config.pollInterval().toMillis(), waiting, typed, stamps, last,
                stats.batches(), stats.entriesStamped(), lastError);
    }

    /** A figure of a {@link Sequencer.Waiting}: {@code "<n>+"} ("at least") when the count reached the cap. */
    static String formatWaiting(long count, boolean capped) {
        return capped ? count + "+" : Long.toString(count);
    }
}
