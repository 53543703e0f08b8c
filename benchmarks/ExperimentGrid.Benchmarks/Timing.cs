using System.Diagnostics;

namespace ExperimentGrid.Benchmarks;

/// <summary>Wall-clock seconds of each timed repetition of one measurement.</summary>
public sealed record Timing(IReadOnlyList<double> Seconds)
{
    public double Median
    {
        get
        {
            var sorted = Seconds.Order().ToArray();
            var middle = sorted.Length / 2;
            return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        }
    }

    public double Best => Seconds.Min();

    /// <summary>
    /// Runs <paramref name="action"/> <paramref name="warmup"/> times untimed, then <paramref name="repetitions"/>
    /// times timed. The untimed calls absorb the one-off costs (JIT, allocator growth, kernel and thread-pool start-up)
    /// that a long training run pays once.
    /// </summary>
    public static Timing Measure(int warmup, int repetitions, Action action)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repetitions, 1);
        for (var i = 0; i < warmup; i++) action();
        var seconds = new double[repetitions];
        for (var i = 0; i < repetitions; i++)
        {
            var start = Stopwatch.GetTimestamp();
            action();
            seconds[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return new Timing(seconds);
    }
}
