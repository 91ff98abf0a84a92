package dev.externaldbsync.verifier;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.junit.jupiter.api.Test;

/** Matching saved records by key, out of order, with a bounded look-ahead. */
class SavedOutputComparerTest {

    private static UnitResult unit(String tenancy, String mapping, long rows) {
        return new UnitResult(tenancy, "main", mapping, 5, rows, rows, rows, 0, 0, 0, 0, "00000000000000aa",
                "00000000000000aa", List.of(), null);
    }

    private static String file(List<UnitResult> results) {
        return results.stream().map(ResultJson::toLine).collect(Collectors.joining("\n"));
    }

    @Test
    void matchesByKeyNotPositionAndReportsMissingExtraAndChanged() throws Exception {
        String saved = file(List.of(unit("t1", "users", 1), unit("t1", "contact_channels", 1),
                unit("t-gone", "users", 1), unit("t2", "users", 2), unit("t2", "contact_channels", 2)));
        List<SavedOutputComparer.Difference> diffs = new ArrayList<>();
        SavedOutputComparer c = new SavedOutputComparer(new BufferedReader(new StringReader(saved)), 100, null, diffs::add);

        c.accept(unit("t1", "contact_channels", 1)); // out of order within the tenancy
        c.accept(unit("t1", "users", 1));
        c.tenancyDone("t1");
        c.accept(unit("t2", "users", 3)); // changed
        c.accept(unit("t2", "teams", 0)); // extra
        c.tenancyDone("t2");
        c.finish();

        assertThat(diffs).extracting(SavedOutputComparer.Difference::kind, SavedOutputComparer.Difference::key)
                .containsExactlyInAnyOrder(
                        org.assertj.core.groups.Tuple.tuple("missing", "t-gone/main/users"),
                        org.assertj.core.groups.Tuple.tuple("changed", "t2/main/users"),
                        org.assertj.core.groups.Tuple.tuple("extra", "t2/main/teams"),
                        org.assertj.core.groups.Tuple.tuple("missing", "t2/main/contact_channels"));
        assertThat(c.changed()).isEqualTo(1);
        assertThat(c.extra()).isEqualTo(1);
        assertThat(c.missing()).isEqualTo(2);
    }

    @Test
    void holdsAtMostTheWindowEvenWhenTheRunHasTenanciesTheFileLacks() throws Exception {
        String saved = file(IntStream.range(0, 1000).mapToObj(i -> unit("s" + i, "users", i)).toList());
        List<SavedOutputComparer.Difference> diffs = new ArrayList<>();
        SavedOutputComparer c = new SavedOutputComparer(new BufferedReader(new StringReader(saved)), 50, null, diffs::add);
        int maxHeld = 0;
        for (int i = 0; i < 1000; i++) {
            c.accept(unit("new" + i, "users", i));
            maxHeld = Math.max(maxHeld, c.held());
            c.tenancyDone("new" + i);
        }
        c.finish();
        assertThat(maxHeld).isLessThanOrEqualTo(50);
        assertThat(c.extra()).isEqualTo(1000);
        assertThat(c.missing()).isEqualTo(1000);
    }

    @Test
    void byIdOrderANewAndADeletedTenancyCostNoLookAhead() throws Exception {
        // Saved: t10, t20 (deleted since), t30 ... t90; the run has t10, t15 (new), t30 ... t90.
        List<UnitResult> savedUnits = new ArrayList<>();
        for (int i = 10; i <= 90; i += 10) {
            savedUnits.add(unit("t" + i, "users", i));
            savedUnits.add(unit("t" + i, "contact_channels", i));
        }
        List<SavedOutputComparer.Difference> diffs = new ArrayList<>();
        SavedOutputComparer c = new SavedOutputComparer(new BufferedReader(new StringReader(file(savedUnits))), 1000,
                UnitQueries::compareCodePoints, diffs::add);
        int maxHeld = 0;
        List<String> run = new ArrayList<>(List.of("t10", "t15"));
        for (int i = 30; i <= 90; i += 10) {
            run.add("t" + i);
        }
        for (String t : run) {
            long rows = Long.parseLong(t.substring(1));
            c.accept(unit(t, "users", rows));
            c.accept(unit(t, "contact_channels", rows));
            maxHeld = Math.max(maxHeld, c.held());
            c.tenancyDone(t);
        }
        c.finish();
        assertThat(diffs).extracting(SavedOutputComparer.Difference::kind, SavedOutputComparer.Difference::key)
                .containsExactlyInAnyOrder(
                        org.assertj.core.groups.Tuple.tuple("extra", "t15/main/users"),
                        org.assertj.core.groups.Tuple.tuple("extra", "t15/main/contact_channels"),
                        org.assertj.core.groups.Tuple.tuple("missing", "t20/main/users"),
                        org.assertj.core.groups.Tuple.tuple("missing", "t20/main/contact_channels"));
        assertThat(maxHeld).isLessThanOrEqualTo(2);
    }

    @Test
    void recordsRoundTripThroughJsonLines() {
        UnitResult r = new UnitResult("t", "main", "users", 42, 3, 4, 2, 0, 1, 1, 0, "0000000000000001",
                "0000000000000002", List.of(new Finding("different", false, java.util.Map.of("id", "x"),
                        List.of("display_name"), java.util.Map.of("display_name", "a"),
                        java.util.Map.of("display_name", "b"))), null);
        assertThat(ResultJson.fromLine(ResultJson.toLine(r))).isEqualTo(r);
        UnitResult e = UnitResult.error("t", "down", "*", "cannot connect");
        assertThat(ResultJson.fromLine(ResultJson.toLine(e)).error()).isEqualTo("cannot connect");
    }
}
