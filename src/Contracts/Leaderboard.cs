using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Trials;

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
/// One seed's run of a configuration: a completed trial, with its value on each of its row's objectives in order, and
/// every metric it reported (its final evaluation's, then what its training cost).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record LeaderboardReplicate(
    [property: Id(0)] string TrialId,
    [property: Id(1)] string? Seed,
    [property: Id(2)] IReadOnlyList<double> Values,
    [property: Id(3)] string? Model,
    [property: Id(4)] DateTimeOffset RecordedAt,
    [property: Id(5)] IReadOnlyList<MetricValue> Metrics);

/// <summary>
/// A configuration of one sweep: the completed trials whose hyperparameters differ at most in their seed, its
/// replicates. Each objective's <see cref="Intervals"/> are the mean and 95% t-interval over them. <see cref="ParetoRank"/>
/// ranks the configuration among its sweep's by those means (1 = the Pareto front); null where the sweep has one objective.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record LeaderboardRow(
    [property: Id(0)] string SweepId,
    [property: Id(1)] IReadOnlyList<Hyperparameter> Hyperparameters,
    [property: Id(2)] IReadOnlyList<SweepObjective> Objectives,
    [property: Id(3)] IReadOnlyList<LeaderboardReplicate> Replicates,
    [property: Id(4)] int? ParetoRank)
{
    /// <summary>The hyperparameter that tells replicates apart, and that a configuration is grouped without.</summary>
    public static string SeedField => ReplicateSearcher.SeedField;

    public int N => Replicates.Count;

    /// <summary>The primary objective: the one that single-objective ordering, pruning and <see cref="Best"/> go by.</summary>
    public SweepObjective Objective => Objectives[0];

    /// <summary>One per objective, in order.</summary>
    public IReadOnlyList<MeanInterval> Intervals => [.. Objectives.Select((_, o) => MeanInterval.Of([.. Replicates.Select(r => r.Values[o])]))];

    /// <summary>The primary objective's mean turned so that higher is better.</summary>
    public double Score => Objective.Score(Intervals[0].Mean);

    public bool OnParetoFront => ParetoRank == 1;

    /// <summary>The replicate with the best primary value, the earliest of equals: whose model a user would take.</summary>
    public LeaderboardReplicate Best => Replicates.OrderByDescending(r => Objective.Score(r.Values[0])).ThenBy(r => r.RecordedAt).First();

    public string? Model => Best.Model;

    /// <summary>
    /// Groups <paramref name="entries"/> into configurations, of one sweep or of every sweep when
    /// <paramref name="sweepId"/> is null (a configuration never spans two sweeps), best first. Within one sweep with
    /// several objectives: Pareto rank first (the front first), then the first objective's mean. With one objective, or
    /// across sweeps: the primary objective's mean (as a score, so NaN last). Ties go to more replicates, then to the
    /// configuration recorded first.
    /// </summary>
    public static IReadOnlyList<LeaderboardRow> Rank(IEnumerable<LeaderboardEntry> entries, string? sweepId)
    {
        var rows = new List<LeaderboardRow>();
        foreach (var sweep in entries.Where(e => sweepId is null || e.SweepId == sweepId).GroupBy(e => e.SweepId, StringComparer.Ordinal))
        {
            var objectives = sweep.First().AllObjectives;
            List<LeaderboardRow> configurations = [.. sweep
                .GroupBy(e => ConfigurationKey(e.Hyperparameters), StringComparer.Ordinal)
                .Select(c => new LeaderboardRow(sweep.Key, WithoutSeed(c.First().Hyperparameters), objectives,
                    [.. c.OrderBy(e => e.RecordedAt).Select(e => Replicate(e, objectives))], ParetoRank: null))];
            if (objectives.Count > 1)
            {
                var paretoRanks = ParetoRanks.Of([.. configurations.Select(r => r.Intervals.Select(i => i.Mean).ToList())], objectives);
                configurations = [.. configurations.Select((r, i) => r with { ParetoRank = paretoRanks[i] })];
            }
            rows.AddRange(configurations);
        }
        var byParetoRank = sweepId is not null;
        return [.. rows
            .OrderBy(r => byParetoRank ? r.ParetoRank ?? 0 : 0)
            .ThenByDescending(r => r.Score)
            .ThenByDescending(r => r.N)
            .ThenBy(r => r.Replicates[0].RecordedAt)];
    }

    private static LeaderboardReplicate Replicate(LeaderboardEntry entry, IReadOnlyList<SweepObjective> objectives) => new(
        entry.TrialId,
        entry.Hyperparameters.FirstOrDefault(h => h.Field == SeedField)?.Value,
        [.. objectives.Select(o => o == entry.Objective ? entry.Value : entry.Metrics.ValueOf(o.Metric))],
        entry.Model,
        entry.RecordedAt,
        entry.Metrics);

    private static List<Hyperparameter> WithoutSeed(IReadOnlyList<Hyperparameter> hyperparameters) => [.. hyperparameters.Where(h => h.Field != SeedField)];

    private static string ConfigurationKey(IReadOnlyList<Hyperparameter> hyperparameters) =>
        string.Join('\0', WithoutSeed(hyperparameters).Select(h => $"{h.Field}={h.Value}").Order(StringComparer.Ordinal));
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

    /// <summary>
    /// The best <paramref name="top"/> configurations (replicates grouped, means with 95% t-intervals), of one sweep or
    /// of all when <paramref name="sweepId"/> is null, in the order <see cref="LeaderboardRow.Rank"/> states.
    /// </summary>
    Task<IReadOnlyList<LeaderboardRow>> RankAsync(string? sweepId, int top);
}

public static class LeaderboardKeys
{
    public const string All = "all";
}
