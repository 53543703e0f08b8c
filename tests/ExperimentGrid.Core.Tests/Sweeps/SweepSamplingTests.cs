using ExperimentGrid.Core.Sweeps;

namespace ExperimentGrid.Core.Tests.Sweeps;

/// <summary>
/// Random search draws with a fixed seed, so every bound here is checked on one known sample. The bounds are four
/// standard deviations of the statistic under the stated distribution: a correct sampler fails one of them with
/// probability below 1e-4, a sampler with the wrong distribution fails them all but surely.
/// </summary>
public sealed class SweepSamplingTests : IDisposable
{
    private const int Draws = 2000;
    private readonly SweepFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private SweepPlan Sample(string random, int trials = Draws, string extra = "") => _fixture.Expand($"""
        name: sampled
        objective: {"{ metric: f1 }"}
        trial: {"{ dataset: reviews }"}
        random:
          {random}
        trials: {trials}
        {extra}
        """);

    private static void AssertProportion(int hits, double p, int n)
    {
        var bound = 4 * Math.Sqrt(p * (1 - p) / n);
        Assert.InRange((double)hits / n, p - bound, p + bound);
    }

    [Fact]
    public void Uniform_draws_cover_the_interval_evenly()
    {
        var rates = Sample("learning_rate: { uniform: [1.0e-5, 5.0e-5] }").Trials.Select(t => t.Spec.LearningRate).ToList();

        Assert.Equal(Draws, rates.Count);
        Assert.All(rates, r => Assert.InRange(r, 1e-5, 5e-5));
        // Mean of U[a, b): (a + b) / 2, standard deviation (b − a) / √12 per draw.
        var standardError = 4e-5 / Math.Sqrt(12) / Math.Sqrt(Draws);
        Assert.InRange(rates.Average(), 3e-5 - (4 * standardError), 3e-5 + (4 * standardError));
        AssertProportion(rates.Count(r => r < 2e-5), 0.25, Draws);
    }

    [Fact]
    public void Log_uniform_draws_are_even_in_the_exponent()
    {
        var rates = Sample("learning_rate: { log_uniform: [1.0e-6, 1.0e-2] }").Trials.Select(t => t.Spec.LearningRate).ToList();

        Assert.All(rates, r => Assert.InRange(r, 1e-6, 1e-2));
        // log10 is uniform on [−6, −2): each decade holds a quarter of the draws.
        AssertProportion(rates.Count(r => r < 1e-5), 0.25, Draws);
        AssertProportion(rates.Count(r => r < 1e-4), 0.5, Draws);
        AssertProportion(rates.Count(r => r < 1e-3), 0.75, Draws);
    }

    [Fact]
    public void Int_uniform_draws_include_both_bounds_equally()
    {
        var sizes = Sample("batch_size: { int_uniform: [1, 4] }").Trials.Select(t => t.Spec.BatchSize).ToList();

        Assert.Equal([1, 2, 3, 4], sizes.Distinct().Order());
        foreach (var size in new[] { 1, 2, 3, 4 }) AssertProportion(sizes.Count(s => s == size), 0.25, Draws);
    }

    [Fact]
    public void Choice_draws_each_value_equally_and_shows_it_as_written()
    {
        var plan = Sample("freeze: { choice: [0, 3, all] }");
        var shown = plan.Trials.Select(t => Assert.Single(t.Hyperparameters)).ToList();

        Assert.All(shown, h => Assert.Equal("freeze", h.Field));
        foreach (var value in new[] { "0", "3", "all" }) AssertProportion(shown.Count(h => h.Value == value), 1.0 / 3, Draws);
        Assert.All(plan.Trials, t => Assert.Equal(t.Hyperparameters[0].Value, t.Spec.Freeze.ToString()));
    }

    [Fact]
    public void A_drawn_value_is_shown_as_text_that_reads_back_to_it()
    {
        var plan = Sample("weight_decay: { uniform: [0, 0.1] }", trials: 50);
        Assert.All(plan.Trials, t => Assert.Equal(
            t.Spec.WeightDecay, double.Parse(t.Hyperparameters[0].Value, System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void The_same_spec_draws_the_same_trials_and_another_search_seed_draws_others()
    {
        const string random = "learning_rate: { log_uniform: [1.0e-6, 1.0e-2] }";
        static IEnumerable<double> Rates(SweepPlan plan) => plan.Trials.Select(t => t.Spec.LearningRate);

        var first = Sample(random, trials: 20, extra: "search_seed: 5");
        Assert.Equal(Rates(first), Rates(Sample(random, trials: 20, extra: "search_seed: 5")));
        Assert.NotEqual(Rates(first), Rates(Sample(random, trials: 20, extra: "search_seed: 6")));
        Assert.Equal(20, Rates(first).Distinct().Count());
    }

    [Fact]
    public void Each_grid_point_gets_its_own_draws_and_seeds_repeat_one_draw()
    {
        var plan = _fixture.Expand("""
            name: sampled
            objective: { metric: f1 }
            trial: { dataset: reviews }
            grid:
              freeze: [0, 3]
            random:
              learning_rate: { log_uniform: [1.0e-6, 1.0e-2] }
            trials: 3
            seeds: [1, 2]
            """);

        Assert.Equal(12, plan.Trials.Count);
        Assert.Equal(["freeze", "learning_rate", "seed"], plan.Trials[0].Hyperparameters.Select(h => h.Field));
        // Order: freeze, then draw, then seed; the two seeds of a draw share its value.
        Assert.Equal([.. Enumerable.Repeat("0", 6), .. Enumerable.Repeat("3", 6)], plan.Trials.Select(t => t.Spec.Freeze.ToString()));
        Assert.Equal(Enumerable.Range(0, 6).SelectMany(_ => new[] { 1, 2 }), plan.Trials.Select(t => t.Spec.Seed));
        var rates = plan.Trials.Select(t => t.Spec.LearningRate).ToList();
        for (var i = 0; i < 12; i += 2) Assert.Equal(rates[i], rates[i + 1]);
        Assert.Equal(6, rates.Distinct().Count());
    }
}
