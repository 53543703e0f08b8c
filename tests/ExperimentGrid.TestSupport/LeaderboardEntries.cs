using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;

namespace ExperimentGrid.TestSupport;

/// <summary>Leaderboard entries as finished trials record them, made by hand for the ranking tests.</summary>
public static class LeaderboardEntries
{
    public static readonly SweepObjective MaxF1 = new(EvaluationMetric.F1, ObjectiveMode.Max);
    public static readonly SweepObjective MinLoss = new(EvaluationMetric.Loss, ObjectiveMode.Min);

    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// A completed trial. <paramref name="hyperparameters"/> reads "field=value field=value"; a <paramref name="seed"/>
    /// adds the seed hyperparameter as a seeded sweep does. The trial was recorded <paramref name="order"/> seconds after
    /// a fixed start, and its model directory names its sweep and trial.
    /// </summary>
    public static LeaderboardEntry Trial(string sweep, string trial, double value, string hyperparameters, int? seed = null, int order = 0,
        SweepObjective? objective = null, params MetricValue[] otherMetrics)
    {
        objective ??= MaxF1;
        List<Hyperparameter> varied = [.. hyperparameters.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).Select(p => new Hyperparameter(p[0], p[1]))];
        if (seed is { } s) varied.Add(new Hyperparameter(LeaderboardRow.SeedField, $"{s}"));
        return new LeaderboardEntry(sweep, trial, objective, value, varied, [new MetricValue(objective.Metric, value), .. otherMetrics],
            Start.AddSeconds(order), $"/models/{sweep}/{trial}");
    }
}
