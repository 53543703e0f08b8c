using System.Diagnostics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.TestSupport;

namespace ExperimentGrid.Core.Tests.Sweeps;

/// <summary>A sweep's space is addressed by index and built lazily: large grids are accepted at once, and still checked value by value.</summary>
public sealed class SearchSpaceTests : IDisposable
{
    private readonly SweepFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private static string HundredThousand(string extra = "") => SweepSpecs.HundredThousandPoints("huge", "{ dataset: reviews }") + extra;

    [Fact]
    public void A_grid_of_ten_to_the_fifth_points_is_checked_and_indexed_without_building_its_trials()
    {
        var clock = Stopwatch.StartNew();
        var plan = _fixture.Expand(HundredThousand());
        clock.Stop();

        Assert.Equal(100_000, plan.Trials.Count);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"expanding took {clock.Elapsed}");
        // Index 12345 in mixed radix 10: learning_rate 1, batch_size 2, weight_decay 3, epochs 4, max_length 5 (0-based).
        var trial = plan.Trials[12_345];
        Assert.Equal("t012346", trial.Id);
        Assert.Equal((2e-5, 12, 0.03, 5, 96), (trial.Spec.LearningRate, trial.Spec.BatchSize, trial.Spec.WeightDecay, trial.Spec.Epochs, trial.Spec.MaxLength));
    }

    [Fact]
    public void A_bad_value_in_a_large_grid_is_named_at_its_line()
    {
        var yaml = HundredThousand().Replace("0.09]", "1.5]", StringComparison.Ordinal);
        var (message, _) = _fixture.Refuse(yaml);

        Assert.Contains("grid.weight_decay[9] (line 7): must be in [0, 1], got 1.5", message);
    }

    [Fact]
    public void A_combination_invalid_only_together_fails_as_its_trial_is_built_naming_why()
    {
        // The tiny model has 64 positions; max_length 160 fits the bundled one. Value by value, each is checked with
        // the first value of the other, which fits; only trials of both fail.
        var plan = _fixture.Expand(HundredThousand().Replace("grid:\n", "grid:\n  model: [minilm, tuned]\n", StringComparison.Ordinal));
        var clash = plan.Trials.Create(100_009);

        Assert.Equal(200_000, plan.Trials.Count);
        Assert.Null(clash.Spec);
        Assert.Contains("grid.max_length[9]: 160 exceeds the 64 positions tuned has embeddings for", clash.Problem);
        Assert.Contains(new Hyperparameter("max_length", "160"), clash.Hyperparameters);
        Assert.NotNull(plan.Trials.Create(100_000).Spec);
        Assert.NotNull(plan.Trials.Create(9).Spec);
    }

    [Fact]
    public void Max_trials_draws_a_random_search_without_a_count()
    {
        var plan = _fixture.Expand("""
            name: budgeted
            objective: { metric: f1 }
            trial: { dataset: reviews }
            random:
              learning_rate: { log_uniform: [1.0e-6, 1.0e-3] }
            max_trials: 25
            time_budget: 1h30m
            max_failures: 2
            """);

        Assert.Equal(25, plan.Trials.Count);
        Assert.Equal(new SweepBudget(25, TimeSpan.FromMinutes(90), 2), plan.Budget);
    }

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("45m", 2700)]
    [InlineData("2h", 7200)]
    [InlineData("1h30m", 5400)]
    [InlineData("1d", 86400)]
    [InlineData("600", 600)]
    public void Durations_read_as_written(string text, int seconds)
    {
        Assert.True(SweepBudget.TryParseDuration(text, out var duration));
        Assert.Equal(TimeSpan.FromSeconds(seconds), duration);
    }

    [Theory]
    [InlineData("")]
    [InlineData("soon")]
    [InlineData("0")]
    [InlineData("1.5h")]
    [InlineData("30m2h")]
    public void Durations_that_are_not_are_refused(string text) => Assert.False(SweepBudget.TryParseDuration(text, out _));

    [Fact]
    public void Bad_budgets_are_named()
    {
        var (message, _) = _fixture.Refuse("""
            name: budgeted
            objective: { metric: f1 }
            trial: { dataset: reviews }
            max_trials: 0
            time_budget: soon
            max_failures: -1
            """);

        Assert.Contains("max_trials (line 4): must be a positive integer, got 0", message);
        Assert.Contains("time_budget (line 5): 'soon' is not a duration", message);
        Assert.Contains("max_failures (line 6): must be 0 or more, got -1", message);
    }

    [Fact]
    public void A_kept_plan_loads_after_its_dataset_moved_and_only_the_trials_built_afterwards_fail()
    {
        var plan = _fixture.Expand("""
            name: moved
            objective: { metric: f1 }
            trial: { dataset: reviews }
            grid: { learning_rate: [1.0e-5, 2.0e-5] }
            """);
        var kept = plan.ToJson();
        Directory.Move(Path.Combine(_fixture.DataRoot, "reviews"), Path.Combine(_fixture.DataRoot, "elsewhere"));

        var loaded = SweepPlan.FromJson(kept);

        Assert.Equal(2, loaded.Trials.Count);
        Assert.Contains("no folder or file 'reviews'", loaded.Trials.Create(0).Problem);
    }
}
