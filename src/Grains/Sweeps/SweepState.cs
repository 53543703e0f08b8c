using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Grains.Trials;

namespace ExperimentGrid.Grains.Sweeps;

/// <summary>
/// What a sweep keeps. It is written when a trial is created or ends and after each epoch report, never for progress.
/// Ids 4 to 9 belonged to the eagerly expanded sweep and are not reused.
/// </summary>
[GenerateSerializer]
public sealed class SweepState
{
    [Id(0)] public SweepSubmission? Submission { get; set; }
    [Id(1)] public string Name { get; set; } = "";
    [Id(2)] public SweepStatus Status { get; set; }
    [Id(3)] public DateTimeOffset SubmittedAt { get; set; }

    /// <summary>The checked plan (Core's SweepPlan.ToJson): an activation rebuilds the sweep from it, not from the spec's text.</summary>
    [Id(10)] public string? Plan { get; set; }

    /// <summary>Every trial the searcher suggested, in order.</summary>
    [Id(11)] public List<SweepTrialRecord> Trials { get; set; } = [];

    /// <summary>Every call made to the searcher and scheduler, in order: an activation replays them to carry on exactly.</summary>
    [Id(12)] public List<SweepEvent> Events { get; set; } = [];

    [Id(13)] public string? EndReason { get; set; }
}

/// <summary>A trial as the sweep keeps it: Pending until it ends, then its final status.</summary>
[GenerateSerializer]
public sealed class SweepTrialRecord
{
    [Id(0)] public string TrialId { get; set; } = "";
    [Id(1)] public List<Hyperparameter> Hyperparameters { get; set; } = [];
    [Id(2)] public TrialStatus Status { get; set; }
    [Id(3)] public double? Objective { get; set; }
    [Id(4)] public string? Error { get; set; }
    [Id(5)] public int Attempts { get; set; }
}

public enum SweepEventKind
{
    Suggested,
    Epoch,
    Ended,
}

/// <summary>
/// One call to the searcher (and, for an epoch, the scheduler): suggested a trial, heard an epoch, heard an end.
/// <paramref name="Value"/> is the first objective's; <paramref name="Values"/> holds every objective's, where a sweep
/// has several.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SweepEvent(
    [property: Id(0)] SweepEventKind Kind,
    [property: Id(1)] string TrialId,
    [property: Id(2)] int Epoch = 0,
    [property: Id(3)] double? Value = null,
    [property: Id(4)] List<double>? Values = null)
{
    /// <summary>What an end told the searcher: null for a trial that did not complete.</summary>
    public IReadOnlyList<double>? Objectives => Values ?? (Value is { } value ? [value] : null);
}
