using ExperimentGrid.Grains.Trials;

namespace ExperimentGrid.Grains.Sweeps;

public enum SweepStatus
{
    /// <summary>Not submitted: the grain has no sweep.</summary>
    Unknown,
    Running,

    /// <summary>Every trial ended (completed, failed or cancelled by a scheduler stop).</summary>
    Finished,
    Cancelled,
}

/// <summary>A sweep file's text as submitted; <paramref name="Source"/> names it in errors.</summary>
[GenerateSerializer, Immutable]
public sealed record SweepSubmission([property: Id(0)] string Source, [property: Id(1)] string Text);

/// <summary>An epoch's objective, for the sweep's scheduler.</summary>
[GenerateSerializer, Immutable]
public sealed record SchedulerReport([property: Id(0)] string TrialId, [property: Id(1)] int Epoch, [property: Id(2)] double Objective);

[GenerateSerializer, Immutable]
public sealed record SweepTrialStatus([property: Id(0)] string TrialId, [property: Id(1)] TrialStatus Status);

[GenerateSerializer, Immutable]
public sealed record SweepSnapshot(
    [property: Id(0)] string SweepId,
    [property: Id(1)] string Name,
    [property: Id(2)] SweepStatus Status,
    [property: Id(3)] Objective? Objective,
    [property: Id(4)] int? MaxConcurrentTrials,
    [property: Id(5)] IReadOnlyList<SweepTrialStatus> Trials,
    [property: Id(6)] DateTimeOffset SubmittedAt)
{
    public int Count(TrialStatus status) => Trials.Count(t => t.Status == status);
}

/// <summary>
/// One sweep (key: its id): expands the submitted spec into trials, releases them to the work queue no faster than
/// max_concurrent_trials, runs the scheduler, and finds trials whose silo died. Trial status it only mirrors.
/// </summary>
public interface ISweepGrain : IGrainWithStringKey
{
    /// <summary>
    /// Checks and expands the spec on the silo (its data, model and checkpoint roots) and starts the sweep. Throws
    /// the spec's errors, every problem named. Submitting the same text again changes nothing.
    /// </summary>
    Task<SweepSnapshot> SubmitAsync(SweepSubmission submission);

    /// <summary>A trial grain tells its sweep its new status.</summary>
    Task OnTrialStatusAsync(string trialId, TrialStatus status);

    /// <summary>The scheduler's decision after a trial's epoch: Continue, Pause or Stop.</summary>
    Task<TrialDirective> OnEpochAsync(SchedulerReport report);

    Task CancelAsync();

    Task<SweepSnapshot> GetAsync();
}

/// <summary>A submitted sweep spec that is invalid; the message names every problem (Core's SweepSpecException, across the wire).</summary>
[GenerateSerializer]
public sealed class SweepRejectedException(string message) : Exception(message);
