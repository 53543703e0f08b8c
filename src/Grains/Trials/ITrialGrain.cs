namespace ExperimentGrid.Grains.Trials;

/// <summary>Where a trial is in its life. Only <see cref="TrialGrain"/> moves a trial from one to another.</summary>
public enum TrialStatus
{
    /// <summary>Waiting in the work queue for a free slot (first run, retry, resume or pause).</summary>
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

/// <summary>Whether a sweep's objective improves upwards or downwards.</summary>
public enum ObjectiveDirection
{
    Maximize,
    Minimize,
}

/// <summary>What a trial does next, as the trial grain tells the slot running it.</summary>
public enum TrialDirective
{
    Continue,

    /// <summary>The scheduler paused the trial: its checkpoint is kept and it waits in the queue again.</summary>
    Pause,

    /// <summary>The scheduler ended the trial early; the slot reports the result so far.</summary>
    Stop,

    /// <summary>The slot no longer holds the trial (cancelled, or its lease expired and it moved); it drops it.</summary>
    Abandon,
}

/// <summary>A sweep's objective: a metric by its Core name (f1, perplexity, ...) and the direction it improves in.</summary>
[GenerateSerializer, Immutable]
public sealed record Objective([property: Id(0)] string Metric, [property: Id(1)] ObjectiveDirection Direction)
{
    /// <summary>The value turned so that higher is better; NaN ranks below everything.</summary>
    public double Score(double value) => double.IsNaN(value) ? double.NegativeInfinity : Direction == ObjectiveDirection.Maximize ? value : -value;
}

/// <summary>A hyperparameter the sweep varies, and this trial's value of it as the spec wrote it.</summary>
[GenerateSerializer, Immutable]
public sealed record HyperparameterValue([property: Id(0)] string Field, [property: Id(1)] string Value);

/// <summary>
/// One trial as its sweep defines it. <paramref name="SpecJson"/> is Core's resolved TrialSpec in TrialRunner's JSON:
/// an opaque payload for the slot that runs it, so that grain state does not depend on Core's type layout.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TrialDefinition(
    [property: Id(0)] string SweepId,
    [property: Id(1)] string TrialId,
    [property: Id(2)] string SpecJson,
    [property: Id(3)] IReadOnlyList<HyperparameterValue> Hyperparameters,
    [property: Id(4)] Objective Objective,
    [property: Id(5)] int MaxAttempts,
    [property: Id(6)] int Epochs,
    [property: Id(7)] int CheckpointEvery)
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

/// <summary>Live training progress, as a slot last reported it.</summary>
[GenerateSerializer, Immutable]
public sealed record TrialProgress(
    [property: Id(0)] int Epoch,
    [property: Id(1)] int Epochs,
    [property: Id(2)] int Step,
    [property: Id(3)] int TotalSteps,
    [property: Id(4)] double Loss,
    [property: Id(5)] double SamplesPerSecond,
    [property: Id(6)] double TokensPerSecond);

/// <summary>A metric's name (as Core spells it) and value.</summary>
[GenerateSerializer, Immutable]
public sealed record MetricReading([property: Id(0)] string Metric, [property: Id(1)] double Value);

/// <summary>An epoch's end: its evaluation, and the checkpoint written after it.</summary>
[GenerateSerializer, Immutable]
public sealed record EpochReport(
    [property: Id(0)] int Epoch,
    [property: Id(1)] int GlobalStep,
    [property: Id(2)] double TrainLoss,
    [property: Id(3)] double Objective,
    [property: Id(4)] IReadOnlyList<MetricReading> Metrics,
    [property: Id(5)] string Checkpoint);

/// <summary>
/// A finished trial's result: its objective and the final metrics. <paramref name="Seconds"/> is how long the last
/// attempt held its slot, from claiming the trial to its final evaluation: model loading and evaluation included,
/// the grid's own messaging and queueing not. <paramref name="Model"/> is the trained model, a Hugging Face directory
/// under the checkpoint directory that `grid predict --model` (or transformers) loads.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TrialOutcome(
    [property: Id(0)] double Objective,
    [property: Id(1)] IReadOnlyList<MetricReading> Metrics,
    [property: Id(2)] int EpochsTrained,
    [property: Id(3)] int GlobalStep,
    [property: Id(4)] double SamplesPerSecond,
    [property: Id(5)] double Seconds,
    [property: Id(6)] string? Model = null);

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
    [property: Id(4)] TrialProgress? Progress,
    [property: Id(5)] IReadOnlyList<MetricReading> LastEval,
    [property: Id(6)] string? Checkpoint,
    [property: Id(7)] int? ResumedFromStep,
    [property: Id(8)] TrialOutcome? Outcome,
    [property: Id(9)] string? Error,
    [property: Id(10)] int CheckpointStep);

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
    /// Renews the lease of <paramref name="attempt"/> and keeps its progress, in memory only: a heartbeat comes every
    /// second from every running trial, and what it carries is stale a second later. Abandon when the slot lost the trial.
    /// </summary>
    Task<TrialDirective> HeartbeatAsync(int attempt, TrialProgress progress);

    /// <summary>Records an epoch and its checkpoint, and asks the sweep's scheduler what comes next.</summary>
    Task<TrialDirective> ReportEpochAsync(int attempt, EpochReport report);

    /// <summary>Records a checkpoint written within an epoch; Abandon when the slot lost the trial (the checkpoint is not the trial's).</summary>
    Task<TrialDirective> ReportCheckpointAsync(int attempt, int globalStep, string checkpoint);

    /// <summary>Records the result and puts it on the leaderboard; false when the slot no longer held the trial.</summary>
    Task<bool> CompleteAsync(int attempt, TrialOutcome outcome);

    /// <summary>
    /// The slot's silo is stopping: the trial goes back to the queue, to resume from <paramref name="checkpoint"/>
    /// (written at <paramref name="globalStep"/>) or, when that is null, from the checkpoint it had. Not a failure.
    /// </summary>
    Task ReleaseAsync(int attempt, int globalStep, string? checkpoint);

    /// <summary>The attempt threw: the trial is retried while attempts remain, else it is failed with the error.</summary>
    Task FailAsync(int attempt, string error);

    Task CancelAsync();

    Task<TrialSnapshot> GetAsync();
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
