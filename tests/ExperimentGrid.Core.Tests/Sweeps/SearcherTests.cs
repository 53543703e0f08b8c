using ExperimentGrid.Core.Sweeps;

namespace ExperimentGrid.Core.Tests.Sweeps;

/// <summary>Grid and random search as searchers: suggestions in batches, exhaustion, and a replay after a restart.</summary>
public sealed class SearcherTests : IDisposable
{
    private readonly SweepFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private SweepPlan Grid(int rates) => _fixture.Expand($"""
        name: searched
        objective: {"{ metric: f1 }"}
        trial: {"{ dataset: reviews }"}
        grid:
          learning_rate: [{string.Join(", ", Enumerable.Range(1, rates).Select(i => $"{i}.0e-5"))}]
        """);

    [Fact]
    public void The_grid_searcher_hands_out_every_configuration_once_in_order_then_nothing()
    {
        var searcher = Grid(5).CreateSearcher();

        var first = searcher.Suggest(2);
        var rest = searcher.Suggest(10);

        Assert.Equal(["t001", "t002"], first.Select(s => s.Id));
        Assert.Equal(["t003", "t004", "t005"], rest.Select(s => s.Id));
        Assert.Equal(["1.0e-5", "2.0e-5", "3.0e-5", "4.0e-5", "5.0e-5"], first.Concat(rest).Select(s => s.Hyperparameters[0].Value));
        Assert.True(searcher.Exhausted);
        Assert.Empty(searcher.Suggest(3));
    }

    [Fact]
    public void A_replayed_searcher_carries_on_after_the_trials_it_had_suggested()
    {
        var plan = Grid(4);
        var before = plan.CreateSearcher();
        var suggested = before.Suggest(3);
        List<SearcherCall> calls =
        [
            .. suggested.Select(s => new SearcherCall.Suggested(s.Id)),
            new SearcherCall.Epoch(new TrialReport("t001", 1, 0.7)),
            new SearcherCall.Ended("t001", [0.7]),
        ];

        var after = SweepPlan.FromJson(plan.ToJson()).CreateSearcher();
        after.Replay(calls);

        Assert.Equal("t004", Assert.Single(after.Suggest(5)).Id);
        Assert.True(after.Exhausted);
    }

    [Fact]
    public void A_replay_that_the_searcher_does_not_repeat_is_refused()
    {
        var searcher = Grid(2).CreateSearcher();
        var error = Assert.Throws<InvalidOperationException>(() => searcher.Replay([new SearcherCall.Suggested("t002")]));
        Assert.Contains("t001", error.Message);
    }

    [Fact]
    public void Random_search_draws_the_same_trials_in_one_batch_as_one_at_a_time_and_after_a_restart()
    {
        var plan = _fixture.Expand("""
            name: drawn
            objective: { metric: f1 }
            trial: { dataset: reviews }
            random:
              learning_rate: { log_uniform: [1.0e-6, 1.0e-3] }
              batch_size: { choice: [8, 16, 32] }
            trials: 20
            search_seed: 7
            """);
        var batched = plan.CreateSearcher().Suggest(20);
        var one = plan.CreateSearcher();
        var singly = Enumerable.Range(0, 20).Select(_ => Assert.Single(one.Suggest(1))).ToList();
        var restored = SweepPlan.FromJson(plan.ToJson()).CreateSearcher().Suggest(20);

        Assert.Equal(batched.Select(s => s.Spec), singly.Select(s => s.Spec));
        Assert.Equal(batched.Select(s => s.Spec), restored.Select(s => s.Spec));
        Assert.Equal(20, batched.Select(s => s.Spec!.LearningRate).Distinct().Count());
    }
}
