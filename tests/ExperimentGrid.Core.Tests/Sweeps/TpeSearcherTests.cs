using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Trials;
using Xunit.Abstractions;

namespace ExperimentGrid.Core.Tests.Sweeps;

/// <summary>
/// TPE against random search on a known function, its determinism (batches, replays), its bounds, and how it splits
/// trials into good and bad: pruned, running, re-told and multi-objective trials, each checked by hand.
/// </summary>
public sealed class TpeSearcherTests(ITestOutputHelper output) : IDisposable
{
    private readonly SweepFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private const string Space = """
        random:
          learning_rate: { log_uniform: [1.0e-6, 1.0e-2] }
          warmup_ratio: { uniform: [0.0, 0.5] }
          epochs: { int_uniform: [1, 10] }
          freeze: { choice: [0, 3, 5, all] }
        """;

    private SweepPlan Plan(int seed, string searcher, int maxTrials = 40, string space = Space, string objective = "objective: { metric: f1 }") => _fixture.Expand($"""
        name: tuned
        {objective}
        trial: {"{ dataset: reviews }"}
        {space}
        max_trials: {maxTrials}
        search_seed: {seed}
        {searcher}
        """);

    private const string Tpe = "searcher: { type: tpe }";

    /// <summary>
    /// Best at learning_rate 1e-4, warmup_ratio 0.1, 4 epochs and freeze 3 (value 1); each trial adds noise uniform in
    /// ±0.02, fixed by the seed and the trial's index so that both searchers meet the same noise.
    /// </summary>
    private static double Noisy(TrialSpec spec, int seed, int index)
    {
        var truth = 1
            - (0.15 * Math.Pow(Math.Log10(spec.LearningRate / 1e-4), 2))
            - (2 * Math.Pow(spec.WarmupRatio - 0.1, 2))
            - (0.02 * Math.Pow(spec.Epochs - 4, 2))
            - (spec.Freeze == FreezeDepth.Bottom(3) ? 0 : 0.1);
        return truth + (0.04 * (new Random((seed * 1000) + index).NextDouble() - 0.5));
    }

    private static void Tell(ISearcher searcher, string trialId, double value) => searcher.OnTrialEnd(trialId, [value]);

    private static double Best(ISearcher searcher, int seed)
    {
        var best = double.NegativeInfinity;
        for (var i = 0; !searcher.Exhausted; i++)
        {
            var suggestion = Assert.Single(searcher.Suggest(1));
            var value = Noisy(suggestion.Spec!, seed, i);
            Tell(searcher, suggestion.Id, value);
            best = Math.Max(best, value);
        }
        return best;
    }

    [Fact]
    public void Tpe_finds_a_better_configuration_than_random_search_in_40_trials_for_at_least_8_of_10_seeds()
    {
        var wins = 0;
        for (var seed = 1; seed <= 10; seed++)
        {
            var tpe = Best(Plan(seed, Tpe).CreateSearcher(), seed);
            var random = Best(Plan(seed, "").CreateSearcher(), seed);
            output.WriteLine($"seed {seed}: tpe {tpe:F4}, random {random:F4}");
            if (tpe > random) wins++;
        }
        output.WriteLine($"tpe won {wins} of 10");
        Assert.InRange(wins, 8, 10);
    }

    [Fact]
    public void The_startup_trials_are_random_search_s_draws()
    {
        var tpe = Plan(3, Tpe).CreateSearcher().Suggest(10);
        var random = Plan(3, "").CreateSearcher().Suggest(10);
        Assert.Equal(random.Select(s => s.Spec), tpe.Select(s => s.Spec));
        Assert.Equal(random.Select(s => s.Id), tpe.Select(s => s.Id));
    }

    /// <summary>Three startup trials told, then three TPE suggestions while those run.</summary>
    private static List<Suggestion> Drive(ISearcher searcher, Func<int, IReadOnlyList<Suggestion>> suggest)
    {
        var first = searcher.Suggest(3);
        for (var i = 0; i < 3; i++) Tell(searcher, first[i].Id, 0.5 + (0.1 * i));
        searcher.OnEpoch(new TrialReport(first[0].Id, 1, 0.4));
        return [.. first, .. suggest(3)];
    }

    [Fact]
    public void A_suggestion_depends_only_on_the_seed_its_index_and_what_was_told_before_it()
    {
        var plan = Plan(5, "searcher: { type: tpe, startup_trials: 3 }");

        var batchedSearcher = plan.CreateSearcher();
        var batched = Drive(batchedSearcher, batchedSearcher.Suggest);
        var singleSearcher = plan.CreateSearcher();
        var singly = Drive(singleSearcher, n => [.. Enumerable.Range(0, n).Select(_ => Assert.Single(singleSearcher.Suggest(1)))]);
        var otherSeed = Plan(6, "searcher: { type: tpe, startup_trials: 3 }").CreateSearcher();
        var other = Drive(otherSeed, otherSeed.Suggest);

        Assert.Equal(6, batched.Count);
        Assert.Equal(batched.Select(s => s.Spec), singly.Select(s => s.Spec));
        Assert.Equal(6, batched.Select(s => s.Spec!.LearningRate).Distinct().Count());
        Assert.NotEqual(batched.Skip(3).Select(s => s.Spec!.LearningRate), other.Skip(3).Select(s => s.Spec!.LearningRate));
    }

    [Fact]
    public void A_replayed_searcher_suggests_what_the_first_one_did_and_carries_on_alike()
    {
        var plan = Plan(8, "searcher: { type: tpe, startup_trials: 4 }");
        var before = plan.CreateSearcher();
        var calls = new List<SearcherCall>();
        for (var i = 0; i < 8; i++)
        {
            var suggestion = Assert.Single(before.Suggest(1));
            calls.Add(new SearcherCall.Suggested(suggestion.Id));
            if (i % 3 == 2) continue; // left running
            var value = Noisy(suggestion.Spec!, 8, i);
            calls.Add(new SearcherCall.Epoch(new TrialReport(suggestion.Id, 1, value)));
            calls.Add(new SearcherCall.Ended(suggestion.Id, [value]));
            Tell(before, suggestion.Id, value);
            before.OnEpoch(new TrialReport(suggestion.Id, 1, value));
        }

        var after = SweepPlan.FromJson(plan.ToJson()).CreateSearcher();
        after.Replay(calls);

        Assert.Equal(before.Suggest(5).Select(s => (s.Id, s.Spec)), after.Suggest(5).Select(s => (s.Id, s.Spec)));
    }

    [Fact]
    public void Suggested_values_stay_within_their_bounds_integers_and_choices_and_max_trials_ends_the_search()
    {
        var searcher = Plan(2, "searcher: { type: tpe, startup_trials: 5 }", maxTrials: 60, space: """
            grid:
              batch_size: [8, 16, 32]
            random:
              learning_rate: { log_uniform: [1.0e-6, 1.0e-2] }
              warmup_ratio: { uniform: [0.0, 0.5] }
              epochs: { int_uniform: [1, 10] }
              freeze: { choice: [0, 3, 5, all] }
            """).CreateSearcher();
        var suggestions = new List<Suggestion>();
        while (searcher.Suggest(1) is [var suggestion])
        {
            suggestions.Add(suggestion);
            // Rewards the top of each range, where a kernel's mass would spill over the bound if it were not truncated;
            // each field counts alike, from 0 at its low end to 1 at its high end.
            var spec = suggestion.Spec!;
            Tell(searcher, suggestion.Id, ((Math.Log10(spec.LearningRate) + 6) / 4) + (spec.WarmupRatio / 0.5) + ((spec.Epochs - 1) / 9.0));
        }

        Assert.Equal(60, suggestions.Count);
        Assert.True(searcher.Exhausted);
        Assert.Equal(Enumerable.Range(1, 60).Select(i => $"t{i:D3}"), suggestions.Select(s => s.Id));
        Assert.All(suggestions, s =>
        {
            var spec = s.Spec!;
            Assert.InRange(spec.LearningRate, 1e-6, 1e-2);
            Assert.InRange(spec.WarmupRatio, 0, 0.5);
            Assert.InRange(spec.Epochs, 1, 10);
            Assert.Contains(spec.Freeze, new[] { FreezeDepth.None, FreezeDepth.Bottom(3), FreezeDepth.Bottom(5), FreezeDepth.Everything });
            Assert.Contains(spec.BatchSize, new[] { 8, 16, 32 });
            Assert.Equal(s.Hyperparameters.Select(h => h.Field), ["batch_size", "learning_rate", "warmup_ratio", "epochs", "freeze"]);
            Assert.Equal(spec.Epochs.ToString(System.Globalization.CultureInfo.InvariantCulture), s.Hyperparameters[3].Value);
        });
        // It searches the top of each range: the top quarter holds a quarter of random draws, but most of its last 40.
        var late = suggestions.Skip(20).Select(s => s.Spec!).ToList();
        output.WriteLine($"top quarters: learning_rate {late.Count(s => s.LearningRate > 1e-3)}, warmup_ratio {late.Count(s => s.WarmupRatio > 0.375)}, epochs {late.Count(s => s.Epochs >= 8)} of {late.Count}");
        Assert.True(late.Count(s => s.LearningRate > 1e-3) > late.Count / 2);
        Assert.True(late.Count(s => s.WarmupRatio > 0.375) > late.Count / 2);
        Assert.True(late.Count(s => s.Epochs >= 8) > late.Count / 2);
    }

    private const string F1 = "objective: { metric: f1 }";
    private const string F1AndTime = "objectives: [{ metric: f1 }, { metric: train_seconds }]";

    /// <summary>A searcher with <paramref name="told"/> trials told, each given its values; gamma 0.3 makes 3 of 10 good.</summary>
    private TpeSearcher Told(string objectives, double gamma, params double[][] told)
    {
        var plan = Plan(1, $"searcher: {{ type: tpe, gamma: {gamma.ToString(System.Globalization.CultureInfo.InvariantCulture)} }}", objective: objectives);
        var searcher = Assert.IsType<TpeSearcher>(plan.CreateSearcher());
        var suggestions = searcher.Suggest(told.Length);
        for (var i = 0; i < told.Length; i++) searcher.OnTrialEnd(suggestions[i].Id, told[i].Length == 0 ? null : told[i]);
        return searcher;
    }


    private static int[] Good(TpeSearcher searcher) => [.. searcher.Split().Good.Select(t => t.Number + 1)];

    [Fact]
    public void The_best_tenth_of_the_trials_told_is_good_and_running_trials_count_as_bad()
    {
        // 11 told and 2 running: n = 11 (running trials do not count), so ⌈0.1 · 11⌉ = 2 good: t004 (0.9) and t007
        // (0.8). The running t012 and t013 are bad.
        var searcher = Told(F1, 0.1, [0.1], [0.2], [0.3], [0.9], [0.5], [0.4], [0.8], [0.6], [0.7], [0.05], [0.75]);
        var running = searcher.Suggest(2);

        Assert.Equal(["t012", "t013"], running.Select(s => s.Id));
        Assert.Equal([4, 7], Good(searcher));
        Assert.Equal([1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 13], searcher.Split().Bad.Select(t => t.Number + 1));
    }

    [Fact]
    public void Failed_trials_are_left_out_and_a_trial_told_again_has_its_value_replaced()
    {
        // Three failed (no value): n = 7, one good. t001 is told again as its replicates end: 0.1, then 0.95.
        var searcher = Told(F1, 0.1, [0.1], [0.2], [], [0.9], [], [0.4], []);
        searcher.OnTrialEnd("t004", [0.9]);
        searcher.OnTrialEnd("t001", [0.95]);

        Assert.Equal([1], Good(searcher));
        Assert.Equal([2, 4, 6], searcher.Split().Bad.Select(t => t.Number + 1));
    }

    [Fact]
    public void Pruned_trials_rank_below_complete_ones_by_epochs_reached_then_value()
    {
        // Every trial is set to 4 epochs; those that report fewer were pruned. Gamma 0.5 of 6: 3 good, the two
        // complete ones and the pruned one that went furthest.
        var plan = Plan(1, "searcher: { type: tpe, gamma: 0.5 }", space: """
            grid:
              epochs: [4]
            random:
              learning_rate: { log_uniform: [1.0e-6, 1.0e-2] }
            """);
        var searcher = Assert.IsType<TpeSearcher>(plan.CreateSearcher());
        var ids = searcher.Suggest(6).Select(s => s.Id).ToList();
        (int Epochs, double Value)[] runs = [(4, 0.3), (1, 0.99), (2, 0.5), (4, 0.2), (2, 0.6), (3, 0.1)];
        for (var i = 0; i < runs.Length; i++)
        {
            for (var epoch = 1; epoch <= runs[i].Epochs; epoch++) searcher.OnEpoch(new TrialReport(ids[i], epoch, runs[i].Value));
            searcher.OnTrialEnd(ids[i], [runs[i].Value]);
        }

        // Complete: t001 (0.3), t004 (0.2). Pruned, by epochs then value: t006 (3), t005 (2, 0.6), t003 (2, 0.5), t002 (1).
        Assert.Equal([1, 4, 6], Good(searcher));
    }

    [Fact]
    public void With_two_objectives_the_good_trials_are_the_pareto_front_cut_by_the_first_objective()
    {
        // (f1 max, train_seconds min). The front: t001 (0.9, 0.5), t003 (0.8, 0.3), t005 (0.7, 0.1). t002 (0.85, 0.6) is
        // dominated by t001, though its f1 is second best; the rest are dominated by t003 or t005.
        double[][] told = [[0.9, 0.5], [0.85, 0.6], [0.8, 0.3], [0.6, 0.4], [0.7, 0.1], [0.5, 0.2], [0.65, 0.35], [0.4, 0.9], [0.3, 0.3], [0.2, 0.15]];

        Assert.Equal([1, 3, 5], Good(Told(F1AndTime, 0.3, told)));
        // Two good of the three on the front: the two with the best f1.
        Assert.Equal([1, 3], Good(Told(F1AndTime, 0.2, told)));
        // One objective: f1 alone.
        Assert.Equal([1, 2, 3], Good(Told(F1, 0.3, told)));
    }

    [Fact]
    public void Optuna_s_default_weights_ramp_up_the_trials_beyond_the_newest_25()
    {
        Assert.Equal(Enumerable.Repeat(1.0, 24), TpeSearcher.Weights(24));
        // n = 28: linspace(1/28, 1, 3) = 1/28, (1 + 1/28)/2, 1; then 25 ones.
        var weights = TpeSearcher.Weights(28);
        Assert.Equal([1 / 28.0, 29 / 56.0, 1.0], weights.Take(3), new ToleranceComparer(1e-12));
        Assert.All(weights.Skip(3), w => Assert.Equal(1.0, w));
    }

    [Fact]
    public void A_parzen_estimator_is_a_density_over_its_range_and_an_integer_one_a_distribution_over_its_integers()
    {
        var real = new NumericParzenEstimator([0.1, 0.15, 0.9], [1, 1, 1], 0, 1, 0);
        const int steps = 100_000;
        var integral = Enumerable.Range(0, steps).Sum(i => Math.Exp(real.LogDensity((i + 0.5) / steps))) / steps;
        Assert.Equal(1.0, integral, 4);

        var integer = new NumericParzenEstimator([1, 2, 10], [1, 1, 1], 1, 10, 1);
        Assert.Equal(1.0, Enumerable.Range(1, 10).Sum(k => Math.Exp(integer.LogDensity(k))), 6);
        // By hand: bandwidths 2 (1's, clipped up to range / 5), 3.5 and 4.5, the prior's 10; each kernel's mass on
        // [0.5, 2.5] over its mass on [0.5, 10.5], averaged: (0.6215 + 0.3383 + 0.0577 + 0.1921) / 4 = 0.30238.
        Assert.Equal(0.30238, Math.Exp(integer.LogDensity(1)) + Math.Exp(integer.LogDensity(2)), 4);

        var categorical = new CategoricalParzenEstimator([2, 2, 0], [1, 1, 1], 4);
        // Each observation's kernel: 1 + 1/4 on its category, 1/4 elsewhere, over 2; the prior: 1/4 each; weights 1/4 each.
        // P(2) = (2 · 1.25/2 + 0.25/2 + 0.25) / 4.
        Assert.Equal((1.25 + 0.125 + 0.25) / 4, Math.Exp(categorical.LogDensity(2)), 12);
    }

    [Fact]
    public void The_normal_tail_masses_are_right_far_out_where_they_underflow()
    {
        // Φ(1) − Φ(−1) = 0.682689492137; P(Z ≥ 10) = 7.61985302416e-24; P(Z ≥ 40) = 3.655893540915e-350, below double's range.
        Assert.Equal(Math.Log(0.682689492137), Gauss.LogMass(-1, 1), 6);
        Assert.Equal(Math.Log(7.61985302416e-24), Gauss.LogUpperTail(10), 5);
        Assert.Equal(Math.Log(3.655893540915) - (350 * Math.Log(10)), Gauss.LogUpperTail(40), 4);
        Assert.Equal(Math.Log(7.61985302416e-24), Gauss.LogMass(-60, -10), 5);
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(double obj) => 0;
    }
}
