using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;

namespace ExperimentGrid.TestSupport;

/// <summary>Leaderboard entries as finished trials record them, made by hand for the ranking tests.</summary>
public static class LeaderboardEntries
{
    public static readonly SweepObjective MaxF1 = new(EvaluationMetric.F1, ObjectiveMode.Max);
    public static readonly SweepObjective MinLoss = new(EvaluationMetric.Loss, ObjectiveMode.Min);
    public static readonly SweepObjective MinSeconds = new(EvaluationMetric.TrainSeconds, ObjectiveMode.Min);

    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// A completed trial of a sweep with one objective (F1 unless <paramref name="objective"/> says otherwise), or with
    /// several (<paramref name="objectives"/>, the first being its value's). <paramref name="hyperparameters"/> reads
    /// "field=value field=value"; a <paramref name="seed"/> adds the seed hyperparameter as a seeded sweep does. The
    /// trial was recorded <paramref name="order"/> seconds after a fixed start; its model directory names sweep and trial.
    /// </summary>
    public static LeaderboardEntry Trial(string sweep, string trial, double value, string hyperparameters, int? seed = null, int order = 0,
        SweepObjective? objective = null, IReadOnlyList<SweepObjective>? objectives = null, params MetricValue[] otherMetrics)
    {
        objective ??= objectives?[0] ?? MaxF1;
        List<Hyperparameter> varied = [.. hyperparameters.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).Select(p => new Hyperparameter(p[0], p[1]))];
        if (seed is { } s) varied.Add(new Hyperparameter(LeaderboardRow.SeedField, $"{s}"));
        return new LeaderboardEntry(sweep, trial, objective, value, varied, [new MetricValue(objective.Metric, value), .. otherMetrics],
            Start.AddSeconds(order), $"/models/{sweep}/{trial}", objectives);
    }

    /// <summary>A trial of a sweep that maximises F1 and minimises train_seconds.</summary>
    public static LeaderboardEntry F1AndSeconds(string sweep, string trial, double f1, double seconds, string hyperparameters, int? seed = null, int order = 0) =>
        Trial(sweep, trial, f1, hyperparameters, seed, order, objectives: [MaxF1, MinSeconds], otherMetrics: new MetricValue(EvaluationMetric.TrainSeconds, seconds));
}
