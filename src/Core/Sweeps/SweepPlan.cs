using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// A checked sweep: its trials in the order they are suggested, and how they are judged and run. Everything in it is
/// resolved (absolute paths, sampled values), so any silo runs a trial the same way.
/// </summary>
public sealed record SweepPlan(
    string Name,
    IReadOnlyList<SweepTrial> Trials,
    SweepObjective Objective,
    int? MaxConcurrentTrials,
    int Retries,
    SchedulerSettings Scheduler,
    int CheckpointEvery)
{
    public ITrialScheduler CreateScheduler() => Scheduler.Create(Objective);
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
