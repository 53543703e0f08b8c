using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;

namespace ExperimentGrid.Contracts;

public enum SweepStatus
{
    /// <summary>Not submitted: the grain has no sweep.</summary>
    Unknown,
    Running,

    /// <summary>Ended: its searcher ran out or a budget was spent (<see cref="SweepSnapshot.EndReason"/> says which).</summary>
    Finished,
    Cancelled,
}

/// <summary>A sweep file's text as submitted; <paramref name="Source"/> names it in errors.</summary>
[GenerateSerializer, Immutable]
public sealed record SweepSubmission([property: Id(0)] string Source, [property: Id(1)] string Text);

/// <summary>
/// What a trial tells its sweep when its status changes: started (Running), back in the queue (Pending), or ended,
/// with the final objective and metrics of a completed trial (the metrics hold every objective of a multi-objective
/// sweep) and the error of a failed one. Telling it twice changes nothing.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TrialUpdate(
    [property: Id(0)] string TrialId,
    [property: Id(1)] TrialStatus Status,
    [property: Id(2)] double? Objective = null,
    [property: Id(3)] string? Error = null,
    [property: Id(4)] int Attempts = 0,
    [property: Id(5)] IReadOnlyList<MetricValue>? Metrics = null);

/// <summary>
/// A trial as the sweep shows it: what the sweep keeps (hyperparameters, status, final objective, error), with the
/// live part (attempts, silo, progress, last evaluation) read from the trial grain while the trial is active.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SweepTrialView(
    [property: Id(0)] string TrialId,
    [property: Id(1)] TrialStatus Status,
    [property: Id(2)] IReadOnlyList<Hyperparameter> Hyperparameters,
    [property: Id(3)] int Attempts,
    [property: Id(4)] string? Silo,
    [property: Id(5)] TrainingProgress? Progress,
    [property: Id(6)] double? Objective,
    [property: Id(7)] string? Error);

/// <summary>
/// A sweep and every trial it has started, in one call. <paramref name="SpaceSize"/> is how many configurations its
/// search space holds; trials exist only for those the searcher has suggested. <paramref name="Upcoming"/> are the
/// next few trials its searcher will suggest whatever it is told (a grid's next points, say), Pending and not yet
/// created, so that their configurations show before a slot frees up for them; not in <paramref name="Trials"/>.
/// <paramref name="Submission"/> is the spec as submitted.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SweepSnapshot(
    [property: Id(0)] string SweepId,
    [property: Id(1)] string Name,
    [property: Id(2)] SweepStatus Status,
    [property: Id(3)] SweepObjective? Objective,
    [property: Id(4)] int? MaxConcurrentTrials,
    [property: Id(5)] IReadOnlyList<SweepTrialView> Trials,
    [property: Id(6)] DateTimeOffset SubmittedAt,
    [property: Id(7)] int SpaceSize = 0,
    [property: Id(8)] string? EndReason = null,
    [property: Id(9)] IReadOnlyList<SweepObjective>? Objectives = null,
    [property: Id(10)] SweepSubmission? Submission = null,
    [property: Id(11)] IReadOnlyList<SweepTrialView>? Upcoming = null)
{
    public int Count(TrialStatus status) => Trials.Count(t => t.Status == status);

    /// <summary>
    /// A rough time to the sweep's end, from its running trials' pace alone: the training time they have left (see
    /// <see cref="TrainingProgress.EstimatedRemaining"/>), plus each trial still to run (waiting, loading, or not yet
    /// suggested) taken as long as a running trial's whole training at its pace, all shared by as many slots as trials
    /// run now. Evaluations are not counted. Null when no running trial has timed a step, or the sweep is ending.
    /// </summary>
    public TimeSpan? EstimatedRemaining()
    {
        var running = Trials.Where(t => t.Status == TrialStatus.Running).ToList();
        var timed = running.Where(t => t.Progress?.StepTime() is not null).Select(t => t.Progress!).ToList();
        if (Status != SweepStatus.Running || EndReason is not null || timed.Count == 0) return null;
        var left = timed.Select(p => p.EstimatedRemaining()!.Value).ToList();
        var wholeTrial = TimeSpan.FromTicks((long)timed.Average(p => (p.StepTime()!.Value * p.TotalSteps).Ticks));
        var toRun = Count(TrialStatus.Pending) + (running.Count - timed.Count) + Math.Max(0, SpaceSize - Trials.Count);
        var shared = (left.Aggregate(TimeSpan.Zero, (sum, l) => sum + l) + wholeTrial * toRun) / running.Count;
        return shared > left.Max() ? shared : left.Max();
    }
}

/// <summary>
/// One sweep (key: its id). It checks the submitted spec once and keeps the checked plan; it asks its searcher for
/// trials as slots free up, keeping a short queue ahead of them, tells the searcher and scheduler every result, and
/// ends when the searcher runs out or a budget is spent. Trial status it hears from the trial grains, which own it.
/// </summary>
public interface ISweepGrain : IGrainWithStringKey
{
    /// <summary>
    /// Checks the spec on the silo (its data, model and checkpoint roots) and starts the sweep. Throws the spec's
    /// errors, every problem named. Submitting the same text again changes nothing.
    /// </summary>
    Task<SweepSnapshot> SubmitAsync(SweepSubmission submission);

    /// <summary>A trial grain tells its sweep that the trial started, went back to the queue, or ended.</summary>
    Task OnTrialUpdateAsync(TrialUpdate update);

    /// <summary>The scheduler's decision after a trial's epoch: Continue, Pause or Stop.</summary>
    Task<SchedulerDecision> OnEpochAsync(TrialReport report);

    Task CancelAsync();

    /// <summary>The sweep and all its trials, live progress included: what `grid sweep status` and the live table show.</summary>
    Task<SweepSnapshot> GetAsync();
}

/// <summary>A submitted sweep spec that is invalid; the message names every problem (Core's SweepSpecException, across the wire).</summary>
[GenerateSerializer]
public sealed class SweepRejectedException(string message) : Exception(message);
