using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;

namespace ExperimentGrid.Core.Tests.Sweeps;

/// <summary>Seeds as replicates: each configuration under k seeds, the inner searcher told means, and racing.</summary>
public sealed class ReplicateSearcherTests : IDisposable
{
    private readonly SweepFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private SweepPlan Plan(int rates, string replicates) => _fixture.Expand($"""
        name: replicated
        objective: {"{ metric: f1 }"}
        trial: {"{ dataset: reviews, seed: 7 }"}
        grid:
          learning_rate: [{string.Join(", ", Enumerable.Range(1, rates).Select(i => $"{i}.0e-5"))}]
        {replicates}
        """);

    /// <summary>The plan's own searcher, with every call it passes to its inner searcher recorded.</summary>
    private static (ISearcher Searcher, List<(string Id, IReadOnlyList<double>? Values)> Told) Recorded(SweepPlan plan)
    {
        var inner = new Recorder(plan.Searcher is SpaceSearcherSettings ? new SpaceSearcher(plan.Trials) : throw new InvalidOperationException());
        return (plan.Replicates.Wrap(inner, plan.Objective), inner.Told);
    }

    private sealed class Recorder(ISearcher inner) : ISearcher
    {
        public List<(string Id, IReadOnlyList<double>? Values)> Told { get; } = [];
        public bool Exhausted => inner.Exhausted;
        public IReadOnlyList<Suggestion> Suggest(int count) => inner.Suggest(count);
        public IReadOnlyList<Suggestion> Upcoming(int count) => inner.Upcoming(count);
        public void OnEpoch(TrialReport report) => inner.OnEpoch(report);
        public void OnTrialEnd(string trialId, IReadOnlyList<double>? objectives) => Told.Add((trialId, objectives));
    }

    [Fact]
    public void Upcoming_trials_are_those_it_suggests_next_and_asking_for_them_suggests_none()
    {
        var searcher = Plan(3, "replicates: 2").CreateSearcher();
        Assert.Equal(["t001-r1"], searcher.Suggest(1).Select(t => t.Id));

        var upcoming = searcher.Upcoming(4);

        // The queued replicate first, then the next configurations under both seeds.
        Assert.Equal(["t001-r2", "t002-r1", "t002-r2", "t003-r1"], upcoming.Select(t => t.Id));
        Assert.Equal(["8", "7"], upcoming.Take(2).Select(t => t.Hyperparameters.Single(h => h.Field == "seed").Value));
        Assert.Equal(upcoming.Select(t => (t.Id, t.Spec!.Seed, t.Spec.LearningRate)), searcher.Suggest(4).Select(t => (t.Id, t.Spec!.Seed, t.Spec.LearningRate)));
        Assert.Equal(["t003-r2"], searcher.Upcoming(4).Select(t => t.Id));
        Assert.Empty(Plan(3, "").CreateSearcher().Upcoming(0));
    }

    [Fact]
    public void Each_configuration_runs_under_k_consecutive_seeds_from_its_own()
    {
        var plan = Plan(2, "replicates: 3");
        var trials = plan.CreateSearcher().Suggest(10);

        Assert.Equal(["t001-r1", "t001-r2", "t001-r3", "t002-r1", "t002-r2", "t002-r3"], trials.Select(t => t.Id));
        Assert.Equal([7, 8, 9, 7, 8, 9], trials.Select(t => t.Spec!.Seed));
        Assert.All(trials, t => Assert.Equal(["learning_rate", "seed"], t.Hyperparameters.Select(h => h.Field)));
        Assert.Equal(["7", "8", "9"], trials.Take(3).Select(t => t.Hyperparameters[1].Value));
        // Replicates differ in their seed and nothing else.
        Assert.Single(trials.Take(3).Select(t => t.Spec! with { Seed = 0 }).Distinct());
    }

    [Fact]
    public void The_inner_searcher_hears_a_configuration_s_mean_once_its_replicates_have_ended()
    {
        var (searcher, told) = Recorded(Plan(2, "replicates: 3"));
        var trials = searcher.Suggest(6);

        searcher.OnTrialEnd("t001-r1", [0.70]);
        searcher.OnTrialEnd("t001-r3", [0.80]);
        Assert.Empty(told);
        searcher.OnTrialEnd("t001-r2", null);
        Assert.Equal(("t001", 0.75), (told[0].Id, Assert.Single(told[0].Values!)));

        foreach (var trial in trials.Skip(3)) searcher.OnTrialEnd(trial.Id, null);
        Assert.Equal(("t002", (IReadOnlyList<double>?)null), told[1]);
        Assert.True(searcher.Exhausted);
    }

    [Fact]
    public void Racing_adds_replicates_to_the_leader_and_its_overlapping_contenders_only()
    {
        var plan = Plan(3, "replicates: 2\nracing: true\nmax_replicates: 3");
        var searcher = plan.CreateSearcher();
        Assert.Equal(6, searcher.Suggest(10).Count);

        // Intervals with t(0.975, 1) = 12.706: t001 0.805 ± 0.0635, t002 0.605 ± 0.0635, t003 0.785 ± 0.0635.
        // t003 overlaps the leader t001; t002 overlaps neither.
        foreach (var (id, value) in new[] { ("t001-r1", 0.80), ("t001-r2", 0.81), ("t002-r1", 0.60), ("t002-r2", 0.61), ("t003-r1", 0.78), ("t003-r2", 0.79) })
            searcher.OnTrialEnd(id, [value]);
        Assert.False(searcher.Exhausted);
        var extra = searcher.Suggest(10);
        Assert.Equal(["t003-r3", "t001-r3"], extra.Select(t => t.Id).Order(StringComparer.Ordinal).Reverse());
        Assert.Equal([9, 9], extra.Select(t => t.Spec!.Seed));

        // t001 0.8033 ± 0.0143 and t003 0.7867 ± 0.0143 still overlap, but both are at max_replicates; t002 is out.
        searcher.OnTrialEnd("t001-r3", [0.80]);
        searcher.OnTrialEnd("t003-r3", [0.79]);
        Assert.Empty(searcher.Suggest(10));
        Assert.True(searcher.Exhausted);
    }

    [Fact]
    public void Racing_stops_when_no_interval_overlaps_the_leader_s()
    {
        var searcher = Plan(2, "replicates: 3\nracing: true").CreateSearcher();
        searcher.Suggest(10);
        foreach (var (id, value) in new[] { ("t001-r1", 0.80), ("t001-r2", 0.81), ("t001-r3", 0.80), ("t002-r1", 0.60), ("t002-r2", 0.61), ("t002-r3", 0.60) })
            searcher.OnTrialEnd(id, [value]);

        Assert.Empty(searcher.Suggest(10));
        Assert.True(searcher.Exhausted);
    }

    [Fact]
    public void A_replay_of_its_calls_rebuilds_the_same_race()
    {
        var plan = Plan(3, "replicates: 2\nracing: true");
        var original = plan.CreateSearcher();
        var calls = new List<SearcherCall>();
        void Suggest(int n)
        {
            foreach (var s in original.Suggest(n)) calls.Add(new SearcherCall.Suggested(s.Id));
        }
        void End(string id, double value)
        {
            original.OnTrialEnd(id, [value]);
            calls.Add(new SearcherCall.Ended(id, [value]));
        }
        Suggest(6);
        End("t001-r1", 0.80); End("t001-r2", 0.81); End("t003-r1", 0.79); End("t003-r2", 0.80); End("t002-r2", 0.5); End("t002-r1", 0.5);
        Suggest(1);

        var replayed = SweepPlan.FromJson(plan.ToJson()).CreateSearcher();
        replayed.Replay(calls);

        Assert.Equal(original.Suggest(5).Select(s => s.Id), replayed.Suggest(5).Select(s => s.Id));
    }

    [Theory]
    [InlineData("replicates: 2\nseeds: [1, 2]", "replicates (line 6): also given seeds: at seeds (line 7)")]
    [InlineData("replicates: 0", "replicates (line 6): must be a positive integer, got 0")]
    [InlineData("racing: true", "racing (line 6): compares confidence intervals, which need replicates: 2 or more, got 1")]
    [InlineData("replicates: 3\nmax_replicates: 5", "max_replicates (line 7): applies only with racing: true")]
    [InlineData("replicates: 3\nracing: true\nmax_replicates: 2", "max_replicates (line 8): must be at least replicates (3), got 2")]
    public void Bad_replicate_settings_are_named(string replicates, string expected)
    {
        var (message, _) = _fixture.Refuse($"""
            name: replicated
            objective: {"{ metric: f1 }"}
            trial: {"{ dataset: reviews }"}
            grid:
              learning_rate: [1.0e-5, 2.0e-5]
            {replicates}
            """);
        Assert.Contains($"\n  - {expected}", message);
    }

    [Fact]
    public void Racing_s_ceiling_defaults_to_twice_the_replicates()
    {
        var plan = Plan(2, "replicates: 3\nracing: true");
        Assert.Equal(new ReplicateSettings(3, true, 6), plan.Replicates);
        Assert.Equal(ReplicateSettings.None, Plan(2, "").Replicates);
        Assert.Equal(EvaluationMetric.F1, plan.Objective.Metric);
    }
}
