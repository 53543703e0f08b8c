using System.Collections.Concurrent;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Training;

namespace ExperimentGrid.Runtime.Slots;

/// <summary>A trial on one of this silo's slots, as the metrics read it.</summary>
public sealed record RunningTrial(string SweepId, string TrialId, EvaluationMetric Metric)
{
    /// <summary>The last optimizer step's progress; null while the trial sets up.</summary>
    public TrainingProgress? Progress { get; set; }

    /// <summary>The objective's metric at the last epoch's evaluation; null before the first epoch ends.</summary>
    public double? LastEval { get; set; }
}

/// <summary>What each of this silo's slots is doing. Slot threads write it; metric callbacks read it.</summary>
public sealed class SlotActivity(SiloSlots slots)
{
    private readonly ConcurrentDictionary<Slot, RunningTrial> _running = new();

    public SiloSlots Slots { get; } = slots;

    public IReadOnlyCollection<RunningTrial> Running => [.. _running.Values];

    public int Busy(SlotKind kind) => _running.Keys.Count(s => s.Kind == kind);

    public void Take(Slot slot, RunningTrial trial) => _running[slot] = trial;

    public void Free(Slot slot) => _running.TryRemove(slot, out _);
}
