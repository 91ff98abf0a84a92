package dev.externaldbsync.engine.apply;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import dev.externaldbsync.engine.errors.RunAbort;
import dev.externaldbsync.engine.read.Row;
import dev.externaldbsync.engine.target.TargetCursors;
import dev.externaldbsync.engine.target.TargetSession;
import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.sql.Identifiers;

/**
 * The only applier: any number of slices (one tenancy's page, or every tenancy's first pages of a batch sharing the
 * target) in ONE target transaction. Per mapping, one set-based upsert over every slice's live rows and one
 * set-based delete over their tombstones, each returning the keys it really wrote so the counts per slice stay
 * exact; then every cursor move as one compare-and-set (and the absent cursors created); then commit. Any failure
 * rolls the whole transaction back. Stateless; thread-safe.
 */
public final class PageApplier {

    /** Between the parts of a composite key's text (PostgreSQL text never contains NUL). */
    private static final String KEY_SEPARATOR = "\u0000";

    private static final Map<Mapping, String> UPSERTS = Mappings.ALL.stream()
            .collect(Collectors.toUnmodifiableMap(m -> m, m -> m.upsertSql() + " RETURNING " + keyTexts(m)));
    private static final Map<Mapping, String> DELETES = Mappings.ALL.stream()
            .collect(Collectors.toUnmodifiableMap(m -> m, m -> m.deleteSql() + " RETURNING " + keyTexts(m)));

    private PageApplier() {
    }

    /**
     * Applies every slice and commits.
     *
     * @return the rows written per slice, in slice order
     * @throws RunAbort.Conflict when the slices cannot be applied as read (a key in two slices, a cursor that moved
     *                           or was created underneath, a written key it cannot attribute); rolled back
     * @throws SQLException      when the target rejects a statement; rolled back
     */
    public static long[] apply(Connection tc, List<Slice> slices) throws SQLException {
        long[] applied = new long[slices.size()];
        try {
            tc.setAutoCommit(false);
            Map<Mapping, List<Integer>> byMapping = new HashMap<>();
            for (int s = 0; s < slices.size(); s++) {
                byMapping.computeIfAbsent(slices.get(s).mapping(), k -> new ArrayList<>()).add(s);
            }
            for (Mapping mapping : Mappings.ALL) {
                List<Integer> members = byMapping.get(mapping);
                if (members != null) {
                    write(tc, mapping, slices, members, applied);
                }
            }
            moveCursors(tc, slices);
            tc.commit();
            return applied;
        } catch (SQLException | RuntimeException e) {
            TargetSession.rollbackQuietly(tc);
            throw e;
        }
    }

    private static void write(Connection tc, Mapping mapping, List<Slice> slices, List<Integer> members,
            long[] applied) throws SQLException {
        int[] keyIndexes = mapping.keyIndexes();
        Map<String, Integer> owner = new HashMap<>();
        List<Row> live = new ArrayList<>();
        List<Row> dead = new ArrayList<>();
        for (int s : members) {
            for (Row row : slices.get(s).rows()) {
                Integer previous = owner.putIfAbsent(keyText(row.values(), keyIndexes), s);
                if (previous != null && previous != s) {
                    throw new RunAbort.Conflict(mapping.name() + ": one key in two tenancies' rows");
                }
                (row.deleted() ? dead : live).add(row);
            }
        }
        if (!live.isEmpty()) {
            try (PreparedStatement ps = tc.prepareStatement(UPSERTS.get(mapping))) {
                for (int c = 0; c < mapping.columns().size(); c++) {
                    int column = c;
                    ps.setArray(c + 1, tc.createArrayOf("text",
                            live.stream().map(r -> r.values()[column]).toArray(String[]::new)));
                }
                count(ps, owner, mapping, applied);
            }
        }
        if (!dead.isEmpty()) {
            try (PreparedStatement ps = tc.prepareStatement(DELETES.get(mapping))) {
                for (int j = 0; j < keyIndexes.length; j++) {
                    int column = keyIndexes[j];
                    ps.setArray(j + 1, tc.createArrayOf("text",
                            dead.stream().map(r -> r.values()[column]).toArray(String[]::new)));
                }
                count(ps, owner, mapping, applied);
            }
        }
    }

    private static void moveCursors(Connection tc, List<Slice> slices) throws SQLException {
        List<TargetCursors.Move> moves = new ArrayList<>();
        List<TargetCursors.Move> creations = new ArrayList<>();
        for (Slice slice : slices) {
            TargetCursors.Move move = new TargetCursors.Move(slice.tenancyId(), slice.mapping().name(), slice.from(),
                    slice.to());
            if (slice.cursorMissing()) {
                creations.add(move);
            } else if (slice.to() != slice.from() || !slice.rows().isEmpty()) {
                moves.add(move);
            }
        }
        if (!moves.isEmpty()) {
            int moved = TargetCursors.advance(tc, moves);
            if (moved != moves.size()) {
                throw new RunAbort.Conflict("a cursor moved underneath (" + (moves.size() - moved) + " of "
                        + moves.size() + ")");
            }
        }
        if (!creations.isEmpty() && TargetCursors.create(tc, creations) != creations.size()) {
            throw new RunAbort.Conflict("a first sync's cursor was created underneath");
        }
    }

    /** Attributes every key the statement returned to the slice whose row it was. */
    private static void count(PreparedStatement ps, Map<String, Integer> owner, Mapping mapping, long[] applied)
            throws SQLException {
        int keys = mapping.keyColumns().size();
        try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                String[] key = new String[keys];
                for (int j = 0; j < keys; j++) {
                    key[j] = rs.getString(j + 1);
                }
                Integer s = owner.get(String.join(KEY_SEPARATOR, key));
                if (s == null) {
                    throw new RunAbort.Conflict(mapping.name() + ": the target wrote a key it cannot attribute");
                }
                applied[s]++;
            }
        }
    }

    private static String keyText(String[] values, int[] keyIndexes) {
        if (keyIndexes.length == 1) {
            return String.valueOf(values[keyIndexes[0]]);
        }
        String[] parts = new String[keyIndexes.length];
        for (int j = 0; j < keyIndexes.length; j++) {
            parts[j] = String.valueOf(values[keyIndexes[j]]);
        }
        return String.join(KEY_SEPARATOR, parts);
    }

    private static String keyTexts(Mapping mapping) {
        return mapping.keyColumns().stream().map(k -> "t." + Identifiers.quote(k) + "::text")
                .collect(Collectors.joining(", "));
    }
}
