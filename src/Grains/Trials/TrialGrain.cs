using System.Runtime.CompilerServices;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Caching;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using ExperimentGrid.Grains.Leaderboard;
using ExperimentGrid.Grains.Queue;
using ExperimentGrid.Grains.Sweeps;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ExperimentGrid.Grains.Trials;

public sealed class TrialGrain(
    [PersistentState("trial", StorageNames.Grid)] IPersistentState<TrialState> state,
    IOptions<GridOptions> options,
    ILogger<TrialGrain> logger) : Grain, ITrialGrain, IRemindable
{
    /// <summary>
    /// Registered while the trial is active, and until its sweep has heard how it ended. Its ticks bring the grain back
    /// after its silo died (nothing else would call a trial whose slot died with it), re-queue a waiting trial whose
    /// queue entry was lost, and tell the sweep an end it missed.
    /// </summary>
    private const string WatchReminder = "watch";

    private TrialState S => state.State;
    private TrialDefinition Definition => S.Definition ?? throw new InvalidOperationException($"trial {this.GetPrimaryKeyString()} was never initialized.");
    private ISweepGrain Sweep => GrainFactory.GetGrain<ISweepGrain>(Definition.SweepId);
    private IWorkQueueGrain Queue => GrainFactory.GetGrain<IWorkQueueGrain>(0);

    /// <summary>The running attempt's last heartbeat: volatile, so never written.</summary>
    private TrainingProgress? _progress;

    private IGrainTimer? _leaseTimer;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A grain activated anew was unreachable for a while (its silo died, or the cluster restarted), so its slot's
        // heartbeats could not renew the lease either; and heartbeats are not written, so the stored lease is old. The
        // slot gets a full lease to reach this activation before the trial is taken from it; a slot that died too
        // loses the trial one lease later.
        if (S.Status == TrialStatus.Running)
        {
            S.LeaseExpires = DateTimeOffset.UtcNow + options.Value.LeaseDuration;
            StartLeaseTimer();
        }
        return Task.CompletedTask;
    }

    public async Task InitializeAsync(TrialDefinition definition)
    {
        if (S.Definition is null)
        {
            S.Definition = definition;
            S.Status = TrialStatus.Pending;
            await state.WriteOrDeactivateAsync(this);
            await this.RegisterOrUpdateReminder(WatchReminder, options.Value.WatchPeriod, options.Value.WatchPeriod);
        }
        if (S.Status == TrialStatus.Pending) await Queue.EnqueueAsync(Definition.Key, FrozenPrefix.Family(Definition.Spec));
    }

    public async Task<TrialAssignment?> StartAsync(string silo)
    {
        if (S.Definition is null || S.Status != TrialStatus.Pending) return null;
        S.Status = TrialStatus.Running;
        S.Attempts++;
        S.Silo = silo;
        S.LeaseExpires = DateTimeOffset.UtcNow + options.Value.LeaseDuration;
        S.ResumedFromStep = S.Checkpoint is null ? null : S.CheckpointStep;
        // The attempt trains again whatever came after its checkpoint: those points and epochs are no longer the trial's.
        var resumeStep = S.ResumedFromStep ?? 0;
        S.LossCurve.TruncateAfter(resumeStep);
        S.Epochs.RemoveAll(e => e.GlobalStep > resumeStep);
        _progress = null;
        await state.WriteOrDeactivateAsync(this);
        StartLeaseTimer();
        await TellSweepAsync(new TrialUpdate(Definition.TrialId, TrialStatus.Running));
        return new TrialAssignment(Definition, S.Attempts, S.Checkpoint, options.Value.LeaseDuration);
    }

    public Task<bool> HeartbeatAsync(int attempt, TrainingProgress? progress)
    {
        if (!Holds(attempt)) return Task.FromResult(false);
        _progress = progress;
        if (progress is not null) S.LossCurve.Add(new LossPoint(progress.Step, progress.Loss));
        S.LeaseExpires = DateTimeOffset.UtcNow + options.Value.LeaseDuration;
        return Task.FromResult(true);
    }

    public async Task<SchedulerDecision?> ReportEpochAsync(int attempt, EpochReport report)
    {
        if (!Holds(attempt)) return null;
        if (report.Checkpoint is { } checkpoint) (S.Checkpoint, S.CheckpointStep) = (checkpoint, report.GlobalStep);
        S.LastEval = [.. report.Metrics];
        // A report retried after its answer was lost comes twice.
        S.Epochs.RemoveAll(e => e.Epoch >= report.Epoch);
        S.Epochs.Add(report);
        // The epoch's mean loss is the running mean at its last step: the curve's point there, whatever the heartbeats
        // caught. A trial with nothing to train (SetFit with its body frozen) has no curve.
        if (report.GlobalStep > 0) S.LossCurve.Add(new LossPoint(report.GlobalStep, report.TrainLoss));
        S.LeaseExpires = DateTimeOffset.UtcNow + options.Value.LeaseDuration;
        await state.WriteOrDeactivateAsync(this);
        var decision = await DecideAsync(new TrialReport(Definition.TrialId, report.Epoch, report.Objective));
        // Paused: back to the queue's end, to resume from this epoch's checkpoint once a slot is free.
        if (decision == SchedulerDecision.Pause) await RequeueAsync();
        return decision;
    }

    /// <summary>
    /// The sweep's decision after an epoch. A sweep whose silo is leaving cannot answer for a while; the trial goes on
    /// rather than fail, and that epoch is left out of the sweep's scheduler and searcher, which is the lesser harm.
    /// </summary>
    private async Task<SchedulerDecision> DecideAsync(TrialReport report)
    {
        try
        {
            return await Sweep.OnEpochAsync(report);
        }
        catch (Exception e) when (ClusterFaults.IsUnreachable(e))
        {
            logger.LogWarning(e, "Trial {Trial}: its sweep did not hear epoch {Epoch}; the trial goes on", Definition.Key, report.Epoch);
            return SchedulerDecision.Continue;
        }
    }

    public async Task<bool> ReportCheckpointAsync(int attempt, int globalStep, string checkpoint)
    {
        if (!Holds(attempt)) return false;
        S.Checkpoint = checkpoint;
        S.CheckpointStep = globalStep;
        S.LeaseExpires = DateTimeOffset.UtcNow + options.Value.LeaseDuration;
        await state.WriteOrDeactivateAsync(this);
        return true;
    }

    public async Task<bool> CompleteAsync(int attempt, TrialOutcome outcome)
    {
        // The same attempt again: its completion went through but the answer was lost on the way back (a silo between
        // died), and the slot asked again. It is this attempt's result; answering no would have the slot delete its model.
        if (S.Status == TrialStatus.Completed && S.Attempts == attempt) return true;
        if (!Holds(attempt)) return false;
        // The leaderboard first: it ignores a second record of this trial, so a crash between the two writes
        // (the trial runs again) cannot put the trial on the board twice or leave it off.
        await GrainFactory.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).RecordAsync(new LeaderboardEntry(
            Definition.SweepId, Definition.TrialId, Definition.Objective, outcome.Objective, Definition.Hyperparameters, outcome.Metrics, DateTimeOffset.UtcNow,
            outcome.Model, Definition.Objectives));
        S.Outcome = outcome;
        S.Error = null;
        await EndAsync(TrialStatus.Completed);
        return true;
    }

    public async Task ReleaseAsync(int attempt, int globalStep, string? checkpoint)
    {
        if (!Holds(attempt)) return;
        if (checkpoint is not null) (S.Checkpoint, S.CheckpointStep) = (checkpoint, globalStep);
        logger.LogInformation("Trial {Trial}: given back by stopping silo {Silo} at step {Step}; re-queued to resume from {Checkpoint}",
            Definition.Key, S.Silo, globalStep, S.Checkpoint ?? "the start");
        await RequeueAsync();
    }

    public async Task FailAsync(int attempt, string error)
    {
        if (!Holds(attempt)) return;
        S.Failures++;
        S.Error = error;
        logger.LogWarning("Trial {Trial} failed (attempt {Attempt} of {Max}): {Error}", Definition.Key, S.Failures, Definition.MaxAttempts, error);
        if (S.Failures < Definition.MaxAttempts) await RequeueAsync();
        else await EndAsync(TrialStatus.Failed);
    }

    public async Task DropCheckpointAsync(int attempt, string checkpoint, string error)
    {
        if (!Holds(attempt)) return;
        logger.LogWarning("Trial {Trial}: cannot resume from {Checkpoint} ({Error}); the checkpoint is dropped and the trial starts again from step 0",
            Definition.Key, checkpoint, error);
        if (S.Checkpoint == checkpoint) (S.Checkpoint, S.CheckpointStep) = (null, 0);
        S.CheckpointsDropped++;
        await RequeueAsync();
    }

    public async Task CancelAsync()
    {
        if (S.Definition is null || S.Status.IsFinal()) return;
        await EndAsync(TrialStatus.Cancelled);
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        switch (S.Status)
        {
            case TrialStatus.Pending when S.Definition is not null:
                // A slot that claimed the trial and died before starting it took its queue entry with it. Queueing is
                // idempotent, and a second claim of a started trial gets null, so re-queueing a waiting trial is safe.
                await Queue.EnqueueAsync(Definition.Key, FrozenPrefix.Family(Definition.Spec));
                break;
            case TrialStatus.Running:
                await CheckLeaseAsync();
                break;
            case var ended when ended.IsFinal():
                await TellSweepEndAsync();
                break;
        }
    }

    public Task<TrialSnapshot> GetAsync() => Task.FromResult(new TrialSnapshot(
        S.Definition, S.Status, S.Attempts, S.Silo, _progress, [.. S.LastEval], S.Checkpoint, S.ResumedFromStep, S.Outcome, S.Error, S.CheckpointStep, S.CheckpointsDropped));

    public Task<TrialCurve> GetCurveAsync() => Task.FromResult(new TrialCurve(S.LossCurve.Points, [.. S.Epochs]));

    /// <summary>
    /// Whether <paramref name="attempt"/> is the running attempt: calls from a slot that lost the trial (a silo
    /// stopped for longer than the lease, say, that has not heard yet) change nothing, and the refusal is logged.
    /// </summary>
    private bool Holds(int attempt, [CallerMemberName] string call = "")
    {
        if (S.Definition is not null && S.Status == TrialStatus.Running && S.Attempts == attempt) return true;
        logger.LogInformation("Trial {Trial}: {Call} of attempt {Attempt} refused; the trial is {Status} at attempt {Current}",
            S.Definition?.Key ?? this.GetPrimaryKeyString(), call.Replace("Async", "", StringComparison.Ordinal), attempt, S.Status, S.Attempts);
        return false;
    }


    /// <summary>While the trial runs, checks the lease between heartbeats: the lease is this grain's alone to judge.</summary>
    private void StartLeaseTimer() => _leaseTimer ??= this.RegisterGrainTimer(_ => CheckLeaseAsync(), new GrainTimerCreationOptions
    {
        DueTime = options.Value.LeaseCheckInterval,
        Period = options.Value.LeaseCheckInterval,
        // A running trial stays active, so that its lease is checked even when no slot calls it.
        KeepAlive = true,
        Interleave = false,
    });

    private void StopLeaseTimer()
    {
        _leaseTimer?.Dispose();
        _leaseTimer = null;
    }

    private async Task CheckLeaseAsync()
    {
        if (S.Status != TrialStatus.Running || DateTimeOffset.UtcNow <= S.LeaseExpires) return;
        logger.LogWarning("Trial {Trial}: lease of {Silo} expired; re-queued to resume from {Checkpoint}", Definition.Key, S.Silo, S.Checkpoint ?? "the start");
        await RequeueAsync();
    }

    private async Task RequeueAsync()
    {
        S.Status = TrialStatus.Pending;
        S.Silo = null;
        _progress = null;
        StopLeaseTimer();
        await state.WriteOrDeactivateAsync(this);
        // A lost enqueue is repeated by the reminder's next tick.
        await Queue.EnqueueAsync(Definition.Key, FrozenPrefix.Family(Definition.Spec));
        await TellSweepAsync(new TrialUpdate(Definition.TrialId, TrialStatus.Pending));
    }

    private async Task EndAsync(TrialStatus status)
    {
        S.Status = status;
        S.Silo = null;
        _progress = null;
        StopLeaseTimer();
        await state.WriteOrDeactivateAsync(this);
        await TellSweepEndAsync();
    }

    /// <summary>
    /// Tells the sweep how the trial ended, then drops the reminder; a sweep that cannot be reached (its silo is
    /// dying) hears it at the reminder's next tick instead, so that it never waits for a trial that has ended.
    /// </summary>
    private async Task TellSweepEndAsync()
    {
        var completed = S.Status == TrialStatus.Completed;
        var update = new TrialUpdate(Definition.TrialId, S.Status, completed ? S.Outcome?.Objective : null, S.Error, S.Attempts, completed ? S.Outcome?.Metrics : null);
        if (!await TellSweepAsync(update)) return;
        if (await this.GetReminder(WatchReminder) is { } reminder) await this.UnregisterReminder(reminder);
    }

    /// <summary>Whether the sweep heard it. Started and re-queued are news, not state: a sweep that misses them re-reads them.</summary>
    private async Task<bool> TellSweepAsync(TrialUpdate update)
    {
        try
        {
            await Sweep.OnTrialUpdateAsync(update);
            return true;
        }
        catch (Exception e) when (ClusterFaults.IsUnreachable(e))
        {
            logger.LogDebug(e, "Trial {Trial}: its sweep did not hear that it is {Status}", Definition.Key, update.Status);
            return false;
        }
    }
}
