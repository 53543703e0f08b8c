using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;


namespace ExperimentGrid.Contracts;

/// <summary>
/// A completed trial's place on the leaderboard; <paramref name="Model"/> is its trained model's directory.
/// <paramref name="Objectives"/> is set for a sweep with several objectives, whose values <paramref name="Metrics"/> holds.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record LeaderboardEntry(
    [property: Id(0)] string SweepId,
    [property: Id(1)] string TrialId,
    [property: Id(2)] SweepObjective Objective,
    [property: Id(3)] double Value,
    [property: Id(4)] IReadOnlyList<Hyperparameter> Hyperparameters,
    [property: Id(5)] IReadOnlyList<MetricValue> Metrics,
    [property: Id(6)] DateTimeOffset RecordedAt,
    [property: Id(7)] string? Model = null,
    [property: Id(8)] IReadOnlyList<SweepObjective>? Objectives = null)
{
    /// <summary>Every objective its sweep judges by, the first being <see cref="Objective"/>.</summary>
    public IReadOnlyList<SweepObjective> AllObjectives => Objectives is { Count: > 0 } all ? all : [Objective];

    public string TrialKey => TrialKeys.Format(SweepId, TrialId);

    /// <summary>Higher is better whatever the objective's direction.</summary>
    public double Score => Objective.Score(Value);
}

/// <summary>
/// Completed trials ranked by their sweep's objective, per sweep and across sweeps (one grain, key
/// <see cref="LeaderboardKeys.All"/>). Across sweeps, entries rank by score: the objective turned so higher is better.
/// </summary>
public interface ILeaderboardGrain : IGrainWithStringKey
{
    /// <summary>Records a trial's result once: false, and no change, if that trial is already on the board.</summary>
    Task<bool> RecordAsync(LeaderboardEntry entry);

    /// <summary>The best <paramref name="top"/> entries, of one sweep or of all when <paramref name="sweepId"/> is null.</summary>
    Task<IReadOnlyList<LeaderboardEntry>> TopAsync(string? sweepId, int top);
}

public static class LeaderboardKeys
{
    public const string All = "all";
}
