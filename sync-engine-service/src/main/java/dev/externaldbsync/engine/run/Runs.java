package dev.externaldbsync.engine.run;

import java.util.List;
import java.util.Map;

import javax.sql.DataSource;

import dev.externaldbsync.contract.TargetResult;

/** The run stages as the engine facade uses them: plan a request's batches, run one batch. */
public final class Runs {

    private final RunContext context;
    private final BatchRunner runner;
    private final int parallelism;
    private final int maxTenancies;

    public Runs(RunContext context, DataSource internal, int parallelism, int maxTenancies) {
        this.context = context;
        this.runner = new BatchRunner(context, internal);
        this.parallelism = parallelism;
        this.maxTenancies = maxTenancies;
    }

    public List<List<Unit>> plan(Iterable<List<Unit>> unitsPerTenancy) {
        return BatchPlanner.plan(unitsPerTenancy, parallelism, maxTenancies);
    }

    public Map<Unit, TargetResult> runBatch(List<Unit> batch) {
        return runner.run(batch);
    }

    public static Map<Unit, TargetResult> failAll(List<Unit> units, String error) {
        return RunContext.failAll(units, error);
    }

    public RunContext context() {
        return context;
    }
}
