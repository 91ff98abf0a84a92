package dev.externaldbsync.engine.apply;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;

import org.junit.jupiter.api.Test;

/** Bisection of a rejected page, with a fake target: no Quarkus, no database. */
class BisectorTest {

    /** Accepts a batch unless it holds a bad row; records what it applied and how often it was asked. */
    private static final class FakeTarget {
        final Set<Integer> bad;
        final List<Integer> applied = new ArrayList<>();
        int attempts;

        FakeTarget(Set<Integer> bad) {
            this.bad = bad;
        }

        long apply(List<Integer> rows) throws SQLException {
            attempts++;
            if (rows.stream().anyMatch(bad::contains)) {
                throw new SQLException("violates check constraint", "23514");
            }
            applied.addAll(rows);
            return rows.size();
        }
    }

    private static List<Integer> rows(int n) {
        return IntStream.range(0, n).boxed().toList();
    }

    @Test
    void aCleanPageAppliesInOneAttempt() throws SQLException {
        FakeTarget target = new FakeTarget(Set.of());
        List<Integer> dead = new ArrayList<>();

        assertThat(Bisector.apply(rows(64), target::apply, (r, e) -> dead.add(r))).isEqualTo(64);
        assertThat(target.attempts).isOne();
        assertThat(dead).isEmpty();
    }

    @Test
    void onlyTheRejectedRowsAreDeadLetteredAndEveryOtherRowAppliesInOrder() throws SQLException {
        FakeTarget target = new FakeTarget(Set.of(5, 40));
        List<Integer> dead = new ArrayList<>();
        List<String> errors = new ArrayList<>();

        long written = Bisector.apply(rows(64), target::apply, (r, e) -> {
            dead.add(r);
            errors.add(e.getSQLState());
        });

        assertThat(written).isEqualTo(62);
        assertThat(dead).containsExactly(5, 40);
        assertThat(errors).containsOnly("23514");
        assertThat(target.applied).isSorted().hasSize(62).doesNotContain(5, 40);
        // Two bad rows in 64: at most two root-to-leaf paths of halvings, never every row alone.
        assertThat(target.attempts).isLessThan(30);
    }

    @Test
    void aSingleRejectedRowIsDeadLetteredWithoutFurtherAttempts() throws SQLException {
        FakeTarget target = new FakeTarget(Set.of(0));
        List<Integer> dead = new ArrayList<>();

        assertThat(Bisector.apply(rows(1), target::apply, (r, e) -> dead.add(r))).isZero();
        assertThat(dead).containsExactly(0);
        assertThat(target.attempts).isOne();
        assertThat(Bisector.apply(List.<Integer>of(), target::apply, (r, e) -> dead.add(r))).isZero();
        assertThat(target.attempts).as("an empty page is not sent").isOne();
    }

    @Test
    void failuresThatAreNotAboutTheDataPropagateWithoutBisecting() {
        int[] attempts = { 0 };
        Bisector.Attempt<Integer> lost = rows -> {
            attempts[0]++;
            throw new SQLException("connection refused", "08006");
        };

        assertThatThrownBy(() -> Bisector.apply(rows(8), lost, (r, e) -> {
            throw new AssertionError("nothing may be dead-lettered");
        })).isInstanceOf(SQLException.class).hasMessageContaining("refused");
        assertThat(attempts[0]).isOne();

        assertThatThrownBy(() -> Bisector.apply(rows(8), rows -> {
            throw new SQLException("relation does not exist", "42P01");
        }, (r, e) -> {
        })).isInstanceOf(SQLException.class);
    }
}
