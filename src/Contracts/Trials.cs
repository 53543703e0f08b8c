using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using Orleans.Concurrency;

namespace ExperimentGrid.Contracts;

/// <summary>Where a trial is in its life. Only the trial grain moves a trial from one to another.</summary>
public enum TrialStatus
{
    /// <summary>Waiting in the work queue for a free slot (first run, retry, resume or pause).</summary>
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

public static class TrialStatuses
{
    /// <summary>Whether a trial in this status has ended: it will not run again, and its sweep has it as done.</summary>
    public static bool IsFinal(this TrialStatus status) => status is TrialStatus.Completed or TrialStatus.Failed or TrialStatus.Cancelled;
}

/// <summary>
/// One trial as its sweep defines it: Core's resolved spec, and how the sweep judges and retries it.
/// <paramref name="Objectives"/> is set for a sweep with several objectives, its first being <paramref name="Objective"/>.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TrialDefinition(
    [property: Id(0)] string SweepId,
    [property: Id(1)] string TrialId,
    [property: Id(2)] TrialSpec Spec,
    [property: Id(3)] IReadOnlyList<Hyperparameter> Hyperparameters,
    [property: Id(4)] SweepObjective Objective,
    [property: Id(5)] int MaxAttempts,
    [property: Id(6)] int Epochs,
    [property: Id(7)] int CheckpointEvery,
    [property: Id(8)] IReadOnlyList<SweepObjective>? Objectives = null,
    [property: Id(9)] IReadOnlyList<FreezeDepth>? SweepFreezeDepths = null)
{
    public string Key => TrialKeys.Format(SweepId, TrialId);
}

/// <summary>What a slot gets when it starts a trial. <paramref name="Attempt"/> is its lease token for later calls.</summary>
[GenerateSerializer, Immutable]
public sealed record TrialAssignment(
    [property: Id(0)] TrialDefinition Definition,
    [property: Id(1)] int Attempt,
    [property: Id(2)] string? ResumeCheckpoint,
    [property: Id(3)] TimeSpan LeaseDuration);

/// <summary>An epoch's end: its evaluation, and the checkpoint written after it (null where the disk refused it: the trial keeps the one it had).</summary>
[GenerateSerializer, Immutable]
public sealed record EpochReport(
    [property: Id(0)] int Epoch,
    [property: Id(1)] int GlobalStep,
    [property: Id(2)] double TrainLoss,
    [property: Id(3)] double Objective,
    [property: Id(4)] IReadOnlyList<MetricValue> Metrics,
    [property: Id(5)] string? Checkpoint);

/// <summary>
/// A finished trial's result: its objective and the final metrics. <paramref name="Seconds"/> is how long the last
/// attempt held its slot, from claiming the trial to its final evaluation: model loading and evaluation included,
/// the grid's own messaging and queueing not. <paramref name="Model"/> is the trained model, a Hugging Face directory
/// under the checkpoint directory that `grid predict --model` (or transformers) loads.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TrialOutcome(
    [property: Id(0)] double Objective,
    [property: Id(1)] IReadOnlyList<MetricValue> Metrics,
    [property: Id(2)] int EpochsTrained,
    [property: Id(3)] int GlobalStep,
    [property: Id(4)] double SamplesPerSecond,
    [property: Id(5)] double Seconds,
    [property: Id(6)] string? Model = null);

/// <summary>
/// A trial's learning curves: its training loss by step (the running mean of the epoch so far, as its heartbeats
/// carried it), at most a few hundred points spread evenly over the steps, the first and the latest among them; and
/// each epoch's report (its evaluation metrics) of the attempts that led to where the trial stands, by epoch.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TrialCurve(
    [property: Id(0)] IReadOnlyList<LossPoint> Loss,
    [property: Id(1)] IReadOnlyList<EpochReport> Epochs);

/// <summary>
/// Everything known about a trial, for the CLI, the sweep and tests. <paramref name="Definition"/> is null while the
/// sweep has not released the trial: its grain knows nothing of it yet, and the sweep's status for it stands.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TrialSnapshot(
    [property: Id(0)] TrialDefinition? Definition,
    [property: Id(1)] TrialStatus Status,
    [property: Id(2)] int Attempts,
    [property: Id(3)] string? Silo,
    [property: Id(4)] TrainingProgress? Progress,
    [property: Id(5)] IReadOnlyList<MetricValue> LastEval,
    [property: Id(6)] string? Checkpoint,
    [property: Id(7)] int? ResumedFromStep,
    [property: Id(8)] TrialOutcome? Outcome,
    [property: Id(9)] string? Error,
    [property: Id(10)] int CheckpointStep,
    [property: Id(11)] int CheckpointsDropped = 0);

/// <summary>
/// One trial of a sweep, keyed "sweepId/trialId"; the only place a trial's status changes. It owns its lease: a timer
/// re-queues it when its slot stops renewing the lease, and a reminder brings it back after its own silo died.
/// </summary>
public interface ITrialGrain : IGrainWithStringKey
{
    /// <summary>Stores the definition and queues the trial; a second call (a sweep re-activated mid-dispatch) changes nothing.</summary>
    Task InitializeAsync(TrialDefinition definition);

    /// <summary>A slot claims the trial: null unless it is pending (cancelled meanwhile, or already taken).</summary>
    Task<TrialAssignment?> StartAsync(string silo);

    /// <summary>
    /// Renews the lease of <paramref name="attempt"/> and keeps its progress (null while it sets up), in memory only: a heartbeat comes every
    /// second from every running trial, and what it carries is stale a second later. False when the slot no longer holds
    /// the trial (cancelled, or its lease expired and it moved): the slot drops it.
    /// </summary>
    Task<bool> HeartbeatAsync(int attempt, TrainingProgress? progress);

    /// <summary>Records an epoch and its checkpoint, and asks the sweep's scheduler what comes next; null when the slot no longer holds the trial.</summary>
    Task<SchedulerDecision?> ReportEpochAsync(int attempt, EpochReport report);

    /// <summary>Records a checkpoint written within an epoch; false when the slot no longer holds the trial (the checkpoint is not the trial's).</summary>
    Task<bool> ReportCheckpointAsync(int attempt, int globalStep, string checkpoint);

    /// <summary>
    /// Records the result and puts it on the leaderboard; false when the slot no longer held the trial. True again for
    /// the attempt that completed it, so that a call retried after a lost answer keeps its result.
    /// </summary>
    Task<bool> CompleteAsync(int attempt, TrialOutcome outcome);

    /// <summary>
    /// The slot's silo is stopping: the trial goes back to the queue, to resume from <paramref name="checkpoint"/>
    /// (written at <paramref name="globalStep"/>) or, when that is null, from the checkpoint it had. Not a failure.
    /// </summary>
    Task ReleaseAsync(int attempt, int globalStep, string? checkpoint);

    /// <summary>The attempt threw: the trial is retried while attempts remain, else it is failed with the error.</summary>
    Task FailAsync(int attempt, string error);

    /// <summary>
    /// The attempt could not load <paramref name="checkpoint"/>, the one it was to resume from: the trial forgets it and
    /// goes back to the queue to start again from step 0. Not a failure: the same checkpoint would fail every attempt.
    /// </summary>
    Task DropCheckpointAsync(int attempt, string checkpoint, string error);

    Task CancelAsync();

    /// <summary>
    /// Interleaves with the call under way: a completion waiting on a leaderboard whose silo is frozen, say, holds the
    /// grain for the call's whole timeout, and the trial's state in memory is as good a snapshot meanwhile.
    /// </summary>
    [AlwaysInterleave]
    Task<TrialSnapshot> GetAsync();

    /// <summary>The trial's learning curves; interleaves as <see cref="GetAsync"/> does, for the same reason.</summary>
    [AlwaysInterleave]
    Task<TrialCurve> GetCurveAsync();
}

public static class TrialKeys
{
    public static string Format(string sweepId, string trialId) => $"{sweepId}/{trialId}";

    public static (string SweepId, string TrialId) Parse(string key)
    {
        var slash = key.LastIndexOf('/');
        if (slash <= 0 || slash == key.Length - 1) throw new ArgumentException($"'{key}' is not a trial key (sweepId/trialId).", nameof(key));
        return (key[..slash], key[(slash + 1)..]);
    }
}
