using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;

namespace ExperimentGrid.Runtime.Slots;

/// <summary>
/// A slot's side of one attempt at a trial: the session's reports go to the trial grain, which answers for this
/// attempt only. When it answers that the slot no longer holds the trial, <paramref name="lost"/> is cancelled, which
/// is how the session learns to drop it. Grain calls block the slot's own thread, never the Orleans scheduler.
/// </summary>
internal sealed class TrialGrainObserver(
    ITrialGrain trial,
    TrialAssignment assignment,
    RunningTrial running,
    CancellationTokenSource lost,
    TimeSpan releaseTimeout,
    ILogger logger,
    Slot slot) : ITrialObserver
{
    private readonly EvaluationMetric _metric = assignment.Definition.Objective.Metric;
    private volatile TrainingProgress? _latest;

    /// <summary>The last optimizer step's progress, which the heartbeat sends: reporting each step would flood the grain.</summary>
    public TrainingProgress? Latest => _latest;

    private string Key => assignment.Definition.Key;

    public void OnProgress(TrainingProgress progress) => _latest = progress;

    public SchedulerDecision OnEpoch(EpochResult epoch, string? checkpoint)
    {
        var objective = epoch.Validation.Value(_metric) ?? double.NaN;
        running.LastEval = objective;
        var report = new EpochReport(epoch.Epoch, epoch.GlobalStep, epoch.TrainLoss, objective, epoch.Validation.Values(), checkpoint);
        return WhileReachable("report the epoch of", () => trial.ReportEpochAsync(assignment.Attempt, report)) ?? throw Lost();
    }

    public bool OnCheckpoint(int globalStep, string checkpoint)
    {
        try
        {
            if (trial.ReportCheckpointAsync(assignment.Attempt, globalStep, checkpoint).GetAwaiter().GetResult()) return true;
            // Called within the trainable's step: the session stops at the next step, seeing the cancellation.
            lost.Cancel();
            return false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The trial grain is moving, or cannot read or write its store for a moment: a checkpoint is not worth the
            // attempt, so training goes on, and the next checkpoint is recorded instead.
            logger.LogWarning(e, "Slot {Slot}: cannot record the checkpoint of {Trial} at step {Step}", slot, Key, globalStep);
            return false;
        }
    }

    public bool OnCompleted(TrialResult result)
    {
        var metrics = TrialMetrics.Of(result);
        return WhileReachable("complete", () => trial.CompleteAsync(assignment.Attempt, new TrialOutcome(
            metrics.ValueOf(_metric),
            metrics,
            result.EpochsTrained,
            result.GlobalStep,
            result.SamplesPerSecond,
            result.WallSeconds,
            result.ModelDirectory)));
    }

    public bool OnGivenBack(int globalStep, string? checkpoint)
    {
        try
        {
            trial.ReleaseAsync(assignment.Attempt, globalStep, checkpoint).WaitAsync(releaseTimeout).GetAwaiter().GetResult();
            logger.LogInformation("Slot {Slot}: gave back trial {Trial} at step {Step}", slot, Key, globalStep);
            return true;
        }
        catch (Exception e) when (ClusterFaults.IsUnreachable(e))
        {
            logger.LogWarning(e, "Slot {Slot}: cannot give back trial {Trial}; it resumes when its lease runs out", slot, Key);
            return false;
        }
    }

    /// <summary>
    /// A call that a silo leaving the cluster interrupts (the trial grain's, or a grain it calls) is made again, with a
    /// growing pause, for as long as the lease would last: the grain comes back on another silo once the cluster has
    /// declared the old one dead, and still knows this attempt. Past that the trial is dropped, not failed: its lease
    /// runs out and it resumes elsewhere from its last checkpoint, where failing it would spend a retry on a fault
    /// that is not the trial's. Any other error is retried over the same span too: a grain that could not be activated
    /// because its store was restarting sends back whatever the store threw (or Orleans' failure to serialize it), and
    /// a moment later it activates. Only an error that lasts the whole span, and is not the cluster's, fails the attempt.
    /// </summary>
    private T WhileReachable<T>(string what, Func<Task<T>> call)
    {
        var deadline = DateTime.UtcNow + assignment.LeaseDuration;
        for (var pause = TimeSpan.FromMilliseconds(500); ; pause *= 2)
        {
            try
            {
                return call().GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is not OperationCanceledException && !lost.IsCancellationRequested)
            {
                if (DateTime.UtcNow + pause > deadline)
                {
                    if (!ClusterFaults.IsUnreachable(e)) throw;
                    logger.LogWarning(e, "Slot {Slot}: cannot {What} trial {Trial}; dropped, it resumes when its lease runs out", slot, what, Key);
                    throw Lost();
                }
                logger.LogInformation("Slot {Slot}: cannot {What} trial {Trial} yet ({Error}); trying again in {Pause}", slot, what, Key, e.Message, pause);
                lost.Token.WaitHandle.WaitOne(pause);
            }
        }
    }

    private OperationCanceledException Lost()
    {
        lost.Cancel();
        return new OperationCanceledException(lost.Token);
    }
}
