using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// A checked sweep: the space its searcher walks, and how trials are judged and run. Its trials are built as they are
/// suggested (<see cref="Trials"/> is addressed by index), each resolved (absolute paths, drawn values), so that any
/// silo runs a trial the same way.
/// </summary>
public sealed partial record SweepPlan(
    string Name,
    SearchSpace Trials,
    IReadOnlyList<SweepObjective> Objectives,
    int? MaxConcurrentTrials,
    int Retries,
    SchedulerSettings Scheduler,
    SearcherSettings Searcher,
    ReplicateSettings Replicates,
    int CheckpointEvery,
    SweepBudget Budget,
    StoredSweep Stored)
{
    /// <summary>The first objective: it ranks trials, and the schedulers prune on it.</summary>
    public SweepObjective Objective => Objectives[0];

    public ITrialScheduler CreateScheduler() => Scheduler.Create(Objective);

    public ISearcher CreateSearcher() => Replicates.Wrap(Searcher.Create(this), Objective);

    /// <summary>The plan as a sweep keeps it: its checked spec and the roots it was checked against, as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(Stored, StoredSweep.Json);

    /// <summary>
    /// The plan that <see cref="ToJson"/> kept, rebuilt without checking or reading a file again: a sweep activated
    /// after its dataset moved still loads, and only a trial started afterwards fails, naming the missing file.
    /// </summary>
    public static SweepPlan FromJson(string json)
    {
        var stored = JsonSerializer.Deserialize<StoredSweep>(json, StoredSweep.Json) ?? throw new JsonException("empty sweep plan");
        return new SweepExpansion(stored.Spec, stored.Source, SourceLines.None, stored.Roots).Run(check: false);
    }
}

/// <summary>A sweep spec as it was checked, with where it came from and the roots it was checked against.</summary>
public sealed record StoredSweep(SweepSpec Spec, string Source, SweepRoots Roots)
{
    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { TrialValues.JsonForm("trial.") },
    };
}

/// <summary>When a sweep stops starting trials, besides its searcher running out: null is no limit.</summary>
public sealed partial record SweepBudget(int? MaxTrials, TimeSpan? TimeBudget, int? MaxFailures)
{
    public static SweepBudget None { get; } = new(null, null, null);

    [GeneratedRegex(@"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")]
    private static partial Regex DurationPattern();

    /// <summary>A duration as a spec writes it: 90s, 45m, 2h, 1h30m, 1d; a bare number is seconds.</summary>
    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        text = text.Trim().ToLowerInvariant();
        duration = default;
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            duration = TimeSpan.FromSeconds(seconds);
        else if (text.Length > 0 && DurationPattern().Match(text) is { Success: true } match)
        {
            long Part(int group) => match.Groups[group].Success ? long.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture) : 0;
            duration = TimeSpan.FromDays(Part(1)) + TimeSpan.FromHours(Part(2)) + TimeSpan.FromMinutes(Part(3)) + TimeSpan.FromSeconds(Part(4));
        }
        else return false;
        return duration > TimeSpan.Zero;
    }
}

/// <summary>One trial of a sweep. <paramref name="Hyperparameters"/> are the fields that the sweep varies, for display.</summary>
public sealed record SweepTrial(string Id, TrialSpec Spec, IReadOnlyList<Hyperparameter> Hyperparameters);

/// <summary>A varied field and its value as the spec wrote it (or, for a random draw, as it round-trips).</summary>
public sealed record Hyperparameter(string Field, string Value);

/// <summary>
/// Where a sweep may read from: datasets under <paramref name="DataRoot"/>, models under <paramref name="ModelRoots"/>
/// or <paramref name="CheckpointRoot"/> (where trained models are written, so one sweep can start from another's
/// result). A relative path in a spec is taken relative to the root it must lie in.
/// </summary>
public sealed record SweepRoots(string DataRoot, IReadOnlyList<string> ModelRoots, string CheckpointRoot);

public enum ObjectiveMode
{
    Max,
    Min,
}

public sealed record SweepObjective(EvaluationMetric Metric, ObjectiveMode Mode)
{
    /// <summary>
    /// The value turned so that higher is better in either mode; NaN ranks below everything, because a trial whose
    /// metric is undefined has not earned a place above any other.
    /// </summary>
    public double Score(double value) =>
        double.IsNaN(value) ? double.NegativeInfinity : Mode == ObjectiveMode.Max ? value : -value;
}
