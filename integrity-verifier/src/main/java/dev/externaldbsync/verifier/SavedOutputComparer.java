package dev.externaldbsync.verifier;

import java.io.BufferedReader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * {@code --verify-output}: compares each record the run produces with the saved one of the same
 * (tenancy, target, mapping), reading the saved file alongside.
 * <p>
 * Why a small look-ahead suffices: the saved file was written by the same tool in the same tenancy order, one
 * tenancy's records contiguous. When a record is produced, the saved file is read forward until its key is found,
 * the current tenancy's block has ended, or {@code window} records are held. Records read past are kept (keyed) and
 * matched when their turn comes; when a tenancy is done, its unmatched saved records — and any held record of an
 * earlier tenancy (by id order when the run is by id, else: lying before that tenancy's block in the file), i.e. a
 * tenancy the run no longer has — are reported missing and dropped. By id, reading ahead also stops at the first
 * record of a later tenancy, so a tenancy that is new since the save costs one held record, not a window. So what is held is the few records between the two runs' positions, at most {@code window}. Records the
 * run produces that the saved file does not have are reported extra; at the end the rest of the file is missing.
 * Not thread-safe.
 */
final class SavedOutputComparer {

    /** One difference against the saved file: kind missing, extra or changed. */
    record Difference(String kind, String key, String detail) {
    }

    private record Saved(UnitResult result, long line) {
    }

    private final BufferedReader reader;
    private final int window;
    private final Comparator<String> tenancyOrder;
    private final Consumer<Difference> sink;
    private final Map<String, Saved> ahead = new LinkedHashMap<>();
    private long line;
    private boolean eof;
    private String currentTenancy;
    private long currentTenancyFirstLine = Long.MAX_VALUE;
    private long missing;
    private long extra;
    private long changed;

    /**
     * @param tenancyOrder the order tenancies are checked in when it is a total order of their ids (by id), so
     *                     reading ahead can stop at the first later tenancy and drop earlier ones at once; null when
     *                     the order is not a function of the id ({@code --recent-first}, {@code --tenancy})
     */
    SavedOutputComparer(BufferedReader reader, int window, Comparator<String> tenancyOrder,
            Consumer<Difference> sink) {
        this.reader = reader;
        this.window = window;
        this.tenancyOrder = tenancyOrder;
        this.sink = sink;
    }

    void accept(UnitResult produced) throws IOException {
        if (!produced.tenancy().equals(currentTenancy)) {
            currentTenancy = produced.tenancy();
            currentTenancyFirstLine = Long.MAX_VALUE;
        }
        Saved saved = ahead.remove(produced.key());
        if (saved == null) {
            saved = readUntil(produced);
        }
        if (saved == null) {
            extra++;
            sink.accept(new Difference("extra", produced.key(), "not in the saved file"));
            return;
        }
        currentTenancyFirstLine = Math.min(currentTenancyFirstLine, saved.line());
        String detail = compare(saved.result(), produced);
        if (detail != null) {
            changed++;
            sink.accept(new Difference("changed", produced.key(), detail));
        }
    }

    private Saved readUntil(UnitResult produced) throws IOException {
        boolean inBlock = false;
        while (!eof && ahead.size() < window) {
            String text = reader.readLine();
            if (text == null) {
                eof = true;
                break;
            }
            line++;
            if (text.isBlank()) {
                continue;
            }
            UnitResult r = ResultJson.fromLine(text);
            Saved s = new Saved(r, line);
            if (r.key().equals(produced.key())) {
                return s;
            }
            int order = tenancyOrder == null ? 0 : tenancyOrder.compare(r.tenancy(), produced.tenancy());
            if (order < 0) {
                // A tenancy the run has already passed: it no longer exists (or moved), nothing will match it.
                missing++;
                sink.accept(new Difference("missing", r.key(), "in the saved file, not produced"));
                continue;
            }
            ahead.put(r.key(), s);
            if (order > 0) {
                break;
            }
            boolean sameTenancy = r.tenancy().equals(produced.tenancy());
            if (sameTenancy) {
                inBlock = true;
            } else if (inBlock) {
                break;
            }
        }
        return null;
    }

    /** The tenancy's checks are over: its unmatched saved records (and older held ones) are missing. */
    void tenancyDone(String tenancy) {
        for (Iterator<Saved> it = ahead.values().iterator(); it.hasNext();) {
            Saved s = it.next();
            boolean earlier = tenancyOrder != null ? tenancyOrder.compare(s.result().tenancy(), tenancy) < 0
                    : tenancy.equals(currentTenancy) && s.line() < currentTenancyFirstLine;
            if (s.result().tenancy().equals(tenancy) || earlier) {
                missing++;
                sink.accept(new Difference("missing", s.result().key(), "in the saved file, not produced"));
                it.remove();
            }
        }
    }

    /** End of the run: everything not matched is missing. */
    void finish() throws IOException {
        for (Saved s : ahead.values()) {
            missing++;
            sink.accept(new Difference("missing", s.result().key(), "in the saved file, not produced"));
        }
        ahead.clear();
        String text;
        while ((text = reader.readLine()) != null) {
            if (!text.isBlank()) {
                missing++;
                sink.accept(new Difference("missing", ResultJson.fromLine(text).key(), "in the saved file, not produced"));
            }
        }
        eof = true;
    }

    /** The fields that must be equal; null when they all are. */
    static String compare(UnitResult saved, UnitResult now) {
        List<String> diffs = new ArrayList<>();
        field(diffs, "internalRows", saved.internalRows(), now.internalRows());
        field(diffs, "targetRows", saved.targetRows(), now.targetRows());
        field(diffs, "internalDigest", saved.internalDigest(), now.internalDigest());
        field(diffs, "targetDigest", saved.targetDigest(), now.targetDigest());
        field(diffs, "missing", saved.missing(), now.missing());
        field(diffs, "extra", saved.extra(), now.extra());
        field(diffs, "different", saved.different(), now.different());
        field(diffs, "error", saved.error() != null, now.error() != null);
        return diffs.isEmpty() ? null : String.join("; ", diffs);
    }

    private static void field(List<String> diffs, String name, Object saved, Object now) {
        if (!Objects.equals(saved, now)) {
            diffs.add(name + " " + saved + " -> " + now);
        }
    }

    int held() {
        return ahead.size();
    }

    long missing() {
        return missing;
    }

    long extra() {
        return extra;
    }

    long changed() {
        return changed;
    }
}
