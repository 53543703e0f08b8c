using MathNet.Numerics.Distributions;

namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// The mean of a configuration's replicates (one value per seed) and its 95% Student-t confidence interval,
/// mean ± t(0.975, n−1)·s/√n with s the sample standard deviation. One replicate measures no spread: its
/// <see cref="StandardDeviation"/>, <see cref="HalfWidth"/>, <see cref="Low"/> and <see cref="High"/> are null, and a
/// leaderboard shows its value alone. A NaN replicate makes the mean and the interval NaN.
/// </summary>
public sealed record MeanInterval(int N, double Mean, double? StandardDeviation, double? HalfWidth)
{
    public const double Confidence = 0.95;

    public double? Low => Mean - HalfWidth;

    public double? High => Mean + HalfWidth;

    public static MeanInterval Of(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values: a mean needs at least one replicate.", nameof(values));
        var n = values.Count;
        var mean = values.Average();
        if (n == 1) return new MeanInterval(1, mean, null, null);
        var sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (n - 1));
        var t = StudentT.InvCDF(0, 1, n - 1, 1 - (1 - Confidence) / 2);
        return new MeanInterval(n, mean, sd, t * sd / Math.Sqrt(n));
    }

    /// <summary>
    /// Whether the two intervals share a point (their ends included). A mean with no interval yet (one replicate) has
    /// not been shown to differ from anything, so it overlaps every defined mean; a NaN mean overlaps nothing.
    /// </summary>
    public bool Overlaps(MeanInterval other)
    {
        if (double.IsNaN(Mean) || double.IsNaN(other.Mean)) return false;
        if (Low is not { } low || High is not { } high || other.Low is not { } otherLow || other.High is not { } otherHigh) return true;
        return low <= otherHigh && otherLow <= high;
    }
}
