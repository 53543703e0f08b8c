using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;

namespace ExperimentGrid.Grains.Trials;

/// <summary>What a trial keeps, written on transitions, epochs and checkpoints. Id 6 held progress, which is no longer written.</summary>
[GenerateSerializer]
public sealed class TrialState
{
    [Id(0)] public TrialDefinition? Definition { get; set; }
    [Id(1)] public TrialStatus Status { get; set; }

    /// <summary>Attempts started; the current one's number is its lease token.</summary>
    [Id(2)] public int Attempts { get; set; }

    /// <summary>Attempts that threw; a lease lost to a dead silo is not the trial's fault and does not count.</summary>
    [Id(3)] public int Failures { get; set; }

    [Id(4)] public string? Silo { get; set; }
    /// <summary>Written at transitions only; heartbeats renew it in memory, and an activation grants a fresh lease.</summary>
    [Id(5)] public DateTimeOffset LeaseExpires { get; set; }
    [Id(7)] public List<MetricValue> LastEval { get; set; } = [];
    [Id(8)] public string? Checkpoint { get; set; }
    [Id(9)] public int CheckpointStep { get; set; }
    [Id(10)] public int? ResumedFromStep { get; set; }
    [Id(11)] public TrialOutcome? Outcome { get; set; }
    [Id(12)] public string? Error { get; set; }

    /// <summary>Resume checkpoints that could not be loaded and were dropped, each restarting the trial from step 0.</summary>
    [Id(13)] public int CheckpointsDropped { get; set; }

    /// <summary>Each epoch's report, by epoch: those of the attempts that led to where the trial stands.</summary>
    [Id(14)] public List<EpochReport> Epochs { get; set; } = [];

    /// <summary>Grown by heartbeats in memory and written with the next transition, epoch or checkpoint.</summary>
    [Id(15)] public LossCurve LossCurve { get; set; } = new();
}
