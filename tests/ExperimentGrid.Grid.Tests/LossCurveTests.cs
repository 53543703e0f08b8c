using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Trials;
using ExperimentGrid.Grains.Trials;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// A trial's bounded loss curve. On a capacity of 4 its halvings are followed by hand: a point is kept when it lies a
/// stride past the last kept one, the kept points halve and the stride doubles when they fill up, and the first and the
/// latest point always stay.
/// </summary>
public sealed class LossCurveTests
{
    private static double Loss(int step) => 1.0 / step;

    private static LossCurve Fed(int capacity, IEnumerable<int> steps)
    {
        var curve = new LossCurve { Capacity = capacity };
        foreach (var step in steps) curve.Add(new LossPoint(step, Loss(step)));
        return curve;
    }

    // Steps 1 to 4 fill the 4 places: [1, 3] are kept and 4 is the latest, stride 2. 5 is kept; 6 is the latest; 7
    // fills them again: [1, 5] and 7, stride 4. 9 is kept; 10 to 12 are each the latest; 13 fills them: [1, 9] and 13,
    // stride 8. 17 is kept; 18 to 20 are each the latest.
    [Theory]
    [InlineData(3, new[] { 1, 2, 3 }, 1)]
    [InlineData(4, new[] { 1, 3, 4 }, 2)]
    [InlineData(5, new[] { 1, 3, 5 }, 2)]
    [InlineData(6, new[] { 1, 3, 5, 6 }, 2)]
    [InlineData(7, new[] { 1, 5, 7 }, 4)]
    [InlineData(8, new[] { 1, 5, 8 }, 4)]
    [InlineData(12, new[] { 1, 5, 9, 12 }, 4)]
    [InlineData(13, new[] { 1, 9, 13 }, 8)]
    [InlineData(20, new[] { 1, 9, 17, 20 }, 8)]
    public void Each_halving_keeps_every_other_point_and_doubles_the_stride_keeping_the_first_and_the_latest(int steps, int[] expected, int stride)
    {
        var curve = Fed(4, Enumerable.Range(1, steps));

        Assert.Equal(expected, curve.Points.Select(p => p.Step));
        Assert.Equal(expected.Select(Loss), curve.Points.Select(p => p.Loss));
        Assert.Equal(stride, curve.Stride);
    }

    [Fact]
    public void An_odd_capacity_keeps_the_point_that_filled_it()
    {
        // 1 to 5 fill the 5 places and halve to [1, 3, 5], stride 2; 7 and 9 are kept, 9 fills them: [1, 5, 9], stride 4.
        Assert.Equal([1, 3, 5], Fed(5, Enumerable.Range(1, 5)).Points.Select(p => p.Step));
        Assert.Equal([1, 5, 9], Fed(5, Enumerable.Range(1, 9)).Points.Select(p => p.Step));
    }

    [Fact]
    public void Seventy_thousand_steps_leave_at_most_500_points_evenly_spaced()
    {
        var curve = Fed(LossCurve.DefaultCapacity, Enumerable.Range(1, 70_000));

        // Halvings happen at 500 kept points: at stride s the 500th is step 1 + 499s, 63,873 for s = 128 (127,745 for
        // 256), so the stride is 256 after it. 1 + 256k is kept for k = 0 to 273 (69,889); 70,000 is the latest, 111 steps on.
        Assert.Equal(256, curve.Stride);
        Assert.Equal([.. Enumerable.Range(0, 274).Select(k => 1 + 256 * k), 70_000], curve.Points.Select(p => p.Step));
    }

    [Fact]
    public void A_repeated_or_earlier_step_is_ignored()
    {
        var curve = Fed(4, [1, 2, 2, 1, 3]);

        Assert.Equal([1, 2, 3], curve.Points.Select(p => p.Step));
    }

    [Fact]
    public void A_resumed_attempt_replaces_the_points_after_its_checkpoint()
    {
        var curve = Fed(4, Enumerable.Range(1, 20));

        curve.TruncateAfter(12);
        curve.Add(new LossPoint(13, 0.5));

        // [1, 9, 17, 20] less what follows step 12; 13 is 4 steps past 9, under the stride of 8: the latest.
        Assert.Equal([new LossPoint(1, 1.0), new LossPoint(9, 1.0 / 9), new LossPoint(13, 0.5)], curve.Points);
    }

    [Fact]
    public void The_curve_and_a_trials_curves_round_trip_through_the_grain_serializer()
    {
        using var services = new ServiceCollection()
            .AddSerializer(serializer => serializer.AddAssembly(typeof(TrialCurve).Assembly).AddAssembly(typeof(LossCurve).Assembly))
            .BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var curve = Fed(4, Enumerable.Range(1, 6));
        var trial = new TrialCurve(curve.Points,
            [new EpochReport(1, 4, 0.625, 0.75, [new MetricValue(EvaluationMetric.F1, 0.75), new MetricValue(EvaluationMetric.Loss, 0.25)], "/checkpoints/s/t001/a1-step-4")]);

        var curveBack = serializer.Deserialize<LossCurve>(serializer.SerializeToArray(curve))!;
        var trialBack = serializer.Deserialize<TrialCurve>(serializer.SerializeToArray(trial))!;

        Assert.Equal(curve.Points, curveBack.Points);
        Assert.Equal((curve.Stride, curve.Capacity), (curveBack.Stride, curveBack.Capacity));
        Assert.Equal(trial.Loss, trialBack.Loss);
        var epoch = Assert.Single(trialBack.Epochs);
        Assert.Equal(trial.Epochs[0] with { Metrics = epoch.Metrics }, epoch);
        Assert.Equal(trial.Epochs[0].Metrics, epoch.Metrics);
    }
}
