using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Tests.Sweeps;

public sealed class SearcherTests
{
    private static SweepPlan Plan(int trials) => new(
        "plan",
        [.. Enumerable.Range(1, trials).Select(i => new SweepTrial($"t{i:D3}", new TrialSpec { Epochs = i }, [new Hyperparameter("epochs", $"{i}")]))],
        new SweepObjective(EvaluationMetric.F1, ObjectiveMode.Max),
        MaxConcurrentTrials: null,
        Retries: 1,
        new FifoSettings(),
        CheckpointEvery: 0);

    [Fact]
    public void The_plan_searcher_hands_out_every_trial_once_in_order_then_nothing()
    {
        var plan = Plan(3);
        var searcher = new PlanSearcher(plan);

        Assert.Equal(["t001", "t002", "t003"], [searcher.Suggest()!.Id, searcher.Suggest()!.Id, searcher.Suggest()!.Id]);
        Assert.Null(searcher.Suggest());
        Assert.Null(searcher.Suggest());
        Assert.Equal(3, searcher.Suggested);
    }

    [Fact]
    public void A_restarted_searcher_carries_on_after_the_trials_it_had_handed_out()
    {
        var plan = Plan(3);
        var before = new PlanSearcher(plan);
        before.Suggest();
        before.Suggest();

        var after = new PlanSearcher(plan, before.Suggested);
        Assert.Same(plan.Trials[2], after.Suggest());
        Assert.Null(after.Suggest());
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(4)]
    public void A_count_of_handed_out_trials_outside_the_plan_is_refused(int suggested) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new PlanSearcher(Plan(3), suggested));
}
