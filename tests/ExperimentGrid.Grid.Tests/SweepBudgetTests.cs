using ExperimentGrid.Contracts;
using ExperimentGrid.Grains.Sweeps;
using ExperimentGrid.TestSupport;

namespace ExperimentGrid.Grid.Tests;

/// <summary>A sweep ends when its searcher runs out or a budget is spent: max_trials, time_budget, max_failures.</summary>
[Collection(SiloCollection.Name)]
public sealed class SweepBudgetTests
{
    private static readonly TimeSpan SweepLimit = TimeSpan.FromSeconds(60);

    private static string Spec(string name, string search, string budget, int retries = 0, int epochs = 1) => $"""
        name: {name}
        trial: {"{"} model: minilm, dataset: rotten_tomatoes, test_split: none, epochs: {epochs} {"}"}
        {search}
        objective: {"{ metric: f1 }"}
        retries: {retries}
        {budget}
        """;

    private static string Rates(int count) =>
        $"grid: {{ learning_rate: [{string.Join(", ", Enumerable.Range(1, count).Select(i => $"{i}.0e-5"))}] }}";

    private static async Task<SweepSnapshot> RunAsync(FakeTrainableFactory fakes, string name, string spec) =>
        (await GridWorld.RunOnFakesAsync(fakes, name, spec, SweepLimit)).End;

    [Fact]
    public async Task A_grid_without_a_budget_ends_when_its_searcher_is_exhausted()
    {
        var end = await RunAsync(new FakeTrainableFactory(), "whole", Spec("whole", Rates(5), ""));

        Assert.Equal((SweepStatus.Finished, SweepGrain.Exhausted), (end.Status, end.EndReason));
        Assert.Equal(["t001", "t002", "t003", "t004", "t005"], end.Trials.Select(t => t.TrialId));
        Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
    }

    [Fact]
    public async Task Max_trials_stops_a_grid_after_that_many_trials()
    {
        var fakes = new FakeTrainableFactory();
        var end = await RunAsync(fakes, "capped", Spec("capped", Rates(10), "max_trials: 3"));

        Assert.Equal((SweepStatus.Finished, SweepGrain.MaxTrials), (end.Status, end.EndReason));
        Assert.Equal(["t001", "t002", "t003"], end.Trials.Select(t => t.TrialId));
        Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        Assert.Equal(3, fakes.Created.Count);
    }

    [Fact]
    public async Task Max_trials_bounds_a_random_search_that_gives_no_count()
    {
        var end = await RunAsync(new FakeTrainableFactory(), "drawn",
            Spec("drawn", "random: { learning_rate: { log_uniform: [1.0e-6, 1.0e-3] } }", "max_trials: 7"));

        Assert.Equal(7, end.Trials.Count);
        Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        Assert.Equal(7, end.Trials.Select(t => Assert.Single(t.Hyperparameters).Value).Distinct().Count());
    }

    [Fact]
    public async Task Time_budget_cancels_what_runs_and_starts_nothing_more()
    {
        // 3 epochs of 4 steps of 250 ms: a trial takes 3 s; the budget runs out during the first two.
        var fakes = new FakeTrainableFactory { StepTime = _ => TimeSpan.FromMilliseconds(250) };
        var end = await RunAsync(fakes, "timed", Spec("timed", Rates(20), "time_budget: 2s", epochs: 3));

        Assert.Equal((SweepStatus.Finished, SweepGrain.TimeBudget), (end.Status, end.EndReason));
        Assert.True(end.Trials.Count < 20, $"{end.Trials.Count} of 20 trials were created");
        Assert.Contains(end.Trials, t => t.Status == TrialStatus.Cancelled);
        Assert.All(end.Trials, t => Assert.True(t.Status is TrialStatus.Completed or TrialStatus.Cancelled, $"{t.TrialId} is {t.Status}"));
    }

    [Fact]
    public async Task Max_failures_gives_up_on_the_rest_once_more_trials_failed()
    {
        var fakes = new FakeTrainableFactory { Faults = [FakeFault.Throws(_ => true, step: 1, "every trial breaks")] };
        var end = await RunAsync(fakes, "failing", Spec("failing", Rates(10), "max_failures: 1"));

        Assert.Equal((SweepStatus.Finished, SweepGrain.MaxFailures), (end.Status, end.EndReason));
        Assert.True(end.Count(TrialStatus.Failed) >= 2, $"{end.Count(TrialStatus.Failed)} trials failed");
        Assert.True(end.Trials.Count < 10, $"{end.Trials.Count} of 10 trials were created");
        Assert.All(end.Trials.Where(t => t.Status == TrialStatus.Failed), t => Assert.Equal("every trial breaks", t.Error));
    }
}
