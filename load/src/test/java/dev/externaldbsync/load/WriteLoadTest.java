package dev.externaldbsync.load;

import dev.externaldbsync.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class WriteLoadTest {

    @Test
    void neverExceedsTheRateKeepsTheRequestedMixAndStampsCommitTimes() throws Exception {
        TestDatabase db = FixtureTest.migratedDatabase("load_write");
        FixtureTest.runFixture("--internal-url", db.postgresUrl(), "--small-tenancies", "200", "--huge-tenancies", "1",
                "--users-per-huge", "500", "--target-url", "postgresql://u:p@localhost:5432/t", "--seed", "w");
        long usersBefore = db.queryLong("SELECT count(*) FROM \"ProjectUser\"");
        long dbMillisBefore = db.queryLong("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint");

        WriteLoad load = new WriteLoad();
        new CommandLine(load).parseArgs("--internal-url", db.postgresUrl(), "--rate", "200", "--duration", "3s",
                "--tenancies", "201", "--threads", "4", "--mix", "insert=40,update=40,email=10,delete=10");
        WriteLoad.Result r = load.run(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));

        // Behaviour, not machine speed: a busy machine may fall behind schedule (the slots it misses are counted,
        // not made up later), but no machine runs ahead of the requested rate.
        long scheduled = 200 * 3;
        assertThat(r.errors()).isZero();
        assertThat(r.done()).isPositive().isLessThanOrEqualTo(scheduled);
        assertThat(r.done() + r.missed()).isEqualTo(scheduled);
        assertThat(r.achievedRate()).isLessThanOrEqualTo(200.0);
        long inserts = r.perOp().get(WriteLoad.Op.INSERT);
        long updates = r.perOp().get(WriteLoad.Op.UPDATE);
        long emails = r.perOp().get(WriteLoad.Op.EMAIL);
        long deletes = r.perOp().get(WriteLoad.Op.DELETE);
        assertThat(inserts + updates + emails + deletes).isEqualTo(r.done());
        assertThat(inserts / (double) r.done()).isCloseTo(0.40, within(mixTolerance(0.40, r.done())));
        assertThat(updates / (double) r.done()).isCloseTo(0.40, within(mixTolerance(0.40, r.done())));
        assertThat(emails / (double) r.done()).isCloseTo(0.10, within(mixTolerance(0.10, r.done())));
        assertThat(deletes / (double) r.done()).isCloseTo(0.10, within(mixTolerance(0.10, r.done())));
        assertThat(r.p50Ms()).isPositive().isLessThanOrEqualTo(r.p99Ms());

        // Every insert added a user with a primary email; every delete that found a user removed one.
        long deleted = deletes - r.noopsPerOp().get(WriteLoad.Op.DELETE);
        assertThat(r.noopsPerOp().get(WriteLoad.Op.INSERT)).isZero();
        assertThat(db.queryLong("SELECT count(*) FROM \"ProjectUser\"")).isEqualTo(usersBefore + inserts - deleted);
        assertThat(db.queryLong("SELECT count(*) FROM \"ContactChannel\" WHERE \"isPrimary\" = 'TRUE'"))
                .isEqualTo(db.queryLong("SELECT count(*) FROM \"ProjectUser\""));
        // Stamped rows carry the server's wall clock of this run, in epoch ms.
        long stamped = db.queryLong("SELECT count(*) FROM \"ProjectUser\" WHERE \"serverMetadata\" ->> 'loadCommitMs' IS NOT NULL");
        assertThat(stamped).isGreaterThanOrEqualTo(inserts - deletes).isPositive();
        long minStamp = db.queryLong("""
                SELECT min(("serverMetadata" ->> 'loadCommitMs')::bigint) FROM "ProjectUser"
                WHERE "serverMetadata" ->> 'loadCommitMs' IS NOT NULL""");
        assertThat(minStamp).isGreaterThanOrEqualTo(dbMillisBefore);
        assertThat(db.queryLong("""
                SELECT count(*) FROM "ProjectUser" WHERE "displayName" LIKE 'Renamed %'""")).isPositive();
        assertThat(db.queryLong("""
                SELECT count(*) FROM "ContactChannel" WHERE "value" LIKE 'changed-%'""")).isPositive();

        // A second run with the same --random-seed makes fresh ids: it must not collide with the first run's rows.
        WriteLoad again = new WriteLoad();
        new CommandLine(again).parseArgs("--internal-url", db.postgresUrl(), "--rate", "200", "--duration", "1s",
                "--tenancies", "201", "--mix", "insert=1,email=1");
        WriteLoad.Result second = again.run(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        assertThat(second.errors()).isZero();
        assertThat(second.perOp().get(WriteLoad.Op.INSERT)).isPositive();
        assertThat(second.perOp().get(WriteLoad.Op.UPDATE)).isZero();
    }

    /**
     * How far the share of an operation drawn with weight {@code p} may stray over {@code n} draws: five standard
     * deviations of the binomial share (so a slow machine that managed fewer changes gets the wider band its sample
     * size implies, instead of a flaky failure), never tighter than the fixed band used at the full rate.
     */
    private static double mixTolerance(double p, long n) {
        return Math.max(p >= 0.4 ? 0.08 : 0.05, 5 * Math.sqrt(p * (1 - p) / Math.max(1, n)));
    }
}
