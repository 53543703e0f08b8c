using ExperimentGrid.Core.Sweeps;

namespace ExperimentGrid.Core.Tests.Sweeps;

/// <summary>Expected intervals are worked out by hand, with t quantiles from a printed table.</summary>
public sealed class MeanIntervalTests
{
    [Fact]
    public void Five_replicates_give_the_mean_and_a_t_interval_with_four_degrees_of_freedom()
    {
        // Mean 0.81; squared deviations 1e-4 + 1e-4 + 0 + 4e-4 + 4e-4 = 1e-3, s = sqrt(1e-3 / 4) = 0.0158114;
        // t(0.975, 4) = 2.776445, half-width 2.776445 * 0.0158114 / sqrt(5) = 0.0196323.
        var interval = MeanInterval.Of([0.80, 0.82, 0.81, 0.79, 0.83]);

        Assert.Equal(5, interval.N);
        Assert.Equal(0.81, interval.Mean, 12);
        Assert.Equal(0.0158114, interval.StandardDeviation!.Value, 6);
        Assert.Equal(0.0196323, interval.HalfWidth!.Value, 6);
        Assert.Equal(0.81 - 0.0196323, interval.Low!.Value, 6);
        Assert.Equal(0.81 + 0.0196323, interval.High!.Value, 6);
    }

    [Fact]
    public void Two_replicates_use_t_with_one_degree_of_freedom()
    {
        // Mean 0.72, s = sqrt(2 * 0.02^2 / 1) = 0.0282843, half-width 12.7062 * 0.0282843 / sqrt(2) = 12.7062 * 0.02.
        var interval = MeanInterval.Of([0.70, 0.74]);

        Assert.Equal(0.72, interval.Mean, 12);
        Assert.Equal(0.254124, interval.HalfWidth!.Value, 4);
        Assert.Equal(0.465876, interval.Low!.Value, 4);
        Assert.Equal(0.974124, interval.High!.Value, 4);
    }

    [Fact]
    public void One_replicate_has_a_mean_and_no_interval()
    {
        var interval = MeanInterval.Of([0.8123]);

        Assert.Equal(1, interval.N);
        Assert.Equal(0.8123, interval.Mean);
        Assert.Null(interval.StandardDeviation);
        Assert.Null(interval.HalfWidth);
        Assert.Null(interval.Low);
        Assert.Null(interval.High);
    }

    [Fact]
    public void Equal_replicates_have_a_zero_width_interval_and_a_nan_replicate_makes_everything_nan()
    {
        var equal = MeanInterval.Of([0.5, 0.5, 0.5]);
        Assert.Equal(0.0, equal.HalfWidth);
        Assert.Equal(0.5, equal.Low);

        var undefined = MeanInterval.Of([0.5, double.NaN, 0.7]);
        Assert.True(double.IsNaN(undefined.Mean));
        Assert.True(double.IsNaN(undefined.HalfWidth!.Value));
    }

    [Fact]
    public void No_replicates_is_refused()
    {
        Assert.Throws<ArgumentException>(() => MeanInterval.Of([]));
    }

    [Fact]
    public void Intervals_overlap_when_they_share_a_point()
    {
        var middle = new MeanInterval(3, 0.5, 0.1, 0.25);        // [0.25, 0.75]
        var touching = new MeanInterval(3, 1.0, 0.1, 0.25);      // [0.75, 1.25]
        var apart = new MeanInterval(3, 1.25, 0.1, 0.25);        // [1.0, 1.5]
        var inside = new MeanInterval(8, 0.5, 0.01, 0.125);      // [0.375, 0.625]

        Assert.True(middle.Overlaps(touching));
        Assert.True(touching.Overlaps(middle));
        Assert.False(middle.Overlaps(apart));
        Assert.False(apart.Overlaps(middle));
        Assert.True(middle.Overlaps(inside));
        Assert.True(inside.Overlaps(middle));
    }

    [Fact]
    public void A_single_replicate_overlaps_every_defined_mean_and_a_nan_mean_overlaps_nothing()
    {
        var single = MeanInterval.Of([0.1]);
        var far = new MeanInterval(5, 0.9, 0.01, 0.01);
        var undefined = MeanInterval.Of([double.NaN, 0.9]);

        Assert.True(single.Overlaps(far));
        Assert.True(far.Overlaps(single));
        Assert.False(undefined.Overlaps(far));
        Assert.False(far.Overlaps(undefined));
        Assert.False(single.Overlaps(undefined));
    }
}
