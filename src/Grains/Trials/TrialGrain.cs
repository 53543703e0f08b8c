using ExperimentGrid.Grains.Leaderboard;
using ExperimentGrid.Grains.Queue;
using ExperimentGrid.Grains.Sweeps;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ExperimentGrid.Grains.Trials;

public sealed class TrialGrain(
    [PersistentState("trial", StorageNames.Grid)] IPersistentState<TrialState> state,
    IOptions<GridOptions> options,
    ILogger<TrialGrain> logger) : Grain, ITrialGrain
{
    private TrialState S => state.State;
    private TrialDefinition Definition => S.Definition ?? throw new InvalidOperationException($"trial {this.GetPrimaryKeyString()} was never initialized.");
    private ISweepGrain Sweep => GrainFactory.GetGrain<ISweepGrain>(Definition.SweepId);
    private IWorkQueueGrain Queue => GrainFactory.GetGrain<IWorkQueueGrain>(0);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A grain activated anew was unreachable for a while (its silo died, or the cluster restarted), so its slot's
        // heartbeats could not renew the lease either. The slot gets a full lease to reach this activation before the
        // trial is taken from it; a slot that died too loses the trial one lease later.
        if (S.Status == TrialStatus.Running)
        {
            var grace = DateTimeOffset.UtcNow + options.Value.LeaseDuration;
            if (S.LeaseExpires < grace) S.LeaseExpires = grace;
        }
        return Task.CompletedTask;
    }

    public async Task InitializeAsync(TrialDefinition definition)
    {
        if (S.Definition is null)
        {
            S.Definition = definition;
            S.Status = TrialStatus.Pending;
            await state.WriteStateAsync();
        }
        if (S.Status == TrialStatus.Pending) await Queue.EnqueueAsync(Definition.Key);
    }

    public async Task<TrialAssignment?> StartAsync(string silo)
    {
        if (S.Definition is null || S.Status != TrialStatus.Pending) return null;
        S.Status = TrialStatus.Running;
        S.Attempts++;
        S.Silo = silo;
        S.LeaseExpires = DateTimeOffset.UtcNow + options.Value.LeaseDuration;
        S.ResumedFromStep = S.Checkpoint is null ? null : S.CheckpointStep;
        S.Progress = null;
        await state.WriteStateAsync();
        await Sweep.OnTrialStatusAsync(Definition.TrialId, S.Status);
        return new TrialAssignment(Definition, S.Attempts, S.Checkpoint, options.Value.LeaseDuration);
    }

    public async Task<TrialDirective> HeartbeatAsync(int attempt, TrialProgress progress)
    {
        if (!Holds(attempt)) return TrialDirective.Abandon;
        S.Progress = progress;
        S.LeaseExpires = DateTimeOffset.UtcNow + options.Value.LeaseDuration;
        await state.WriteStateAsync();
        return TrialDirective.Continue;
    }

    public async Task<TrialDirective> ReportEpochAsync(int attempt, EpochReport report)
    {
        if (!Holds(attempt)) return TrialDirective.Abandon;
        S.Checkpoint = report.Checkpoint;
        S.CheckpointStep = report.GlobalStep;
        S.LastEval = [.. report.Metrics];
        S.LeaseExpires = DateTimeOffset.UtcNow + options.Value.LeaseDuration;
        await state.WriteStateAsync();
        var decision = await Sweep.OnEpochAsync(new SchedulerReport(Definition.TrialId, report.Epoch, report.Objective));
        if (decision != TrialDirective.Pause) return decision;
        // Paused: back to the queue's end, to resume from this epoch's checkpoint once a slot is free.
        await RequeueAsync();
        return TrialDirective.Pause;
    }

    public async Task<TrialDirective> ReportCheckpointAsync(int attempt, int globalStep, string checkpoint)
    {
        if (!Holds(attempt)) return TrialDirective.Abandon;
        S.Checkpoint = checkpoint;
        S.CheckpointStep = globalStep;
        S.LeaseExpires = DateTimeOffset.UtcNow + options.Value.LeaseDuration;
        await state.WriteStateAsync();
        return TrialDirective.Continue;
    }

    public async Task<bool> CompleteAsync(int attempt, TrialOutcome outcome)
    {
        if (!Holds(attempt)) return false;
        // The leaderboard first: it ignores a second record of this trial, so a crash between the two writes
        // (the trial runs again) cannot put the trial on the board twice or leave it off.
        await GrainFactory.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).RecordAsync(new LeaderboardEntry(
            Definition.SweepId, Definition.TrialId, Definition.Objective, outcome.Objective, Definition.Hyperparameters, outcome.Metrics, DateTimeOffset.UtcNow,
            outcome.Model));
        S.Outcome = outcome;
        S.Progress = null;
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

    public async Task CancelAsync()
    {
        if (S.Definition is null || S.Status is TrialStatus.Completed or TrialStatus.Failed or TrialStatus.Cancelled) return;
        await EndAsync(TrialStatus.Cancelled);
    }

    public async Task<TrialStatus?> CheckLeaseAsync()
    {
        if (S.Definition is null) return null;
        switch (S.Status)
        {
            case TrialStatus.Running when DateTimeOffset.UtcNow > S.LeaseExpires:
                logger.LogWarning("Trial {Trial}: lease of {Silo} expired; re-queued to resume from {Checkpoint}", Definition.Key, S.Silo, S.Checkpoint ?? "the start");
                await RequeueAsync();
                break;
            case TrialStatus.Pending:
                // A slot that claimed the trial and died before starting it took its queue entry with it. Queueing is
                // idempotent, and a second claim of a started trial gets null, so re-queueing a waiting trial is safe.
                await Queue.EnqueueAsync(Definition.Key);
                break;
        }
        return S.Status;
    }

    public Task<TrialSnapshot> GetAsync() => Task.FromResult(new TrialSnapshot(
        S.Definition, S.Status, S.Attempts, S.Silo, S.Progress, [.. S.LastEval], S.Checkpoint, S.ResumedFromStep, S.Outcome, S.Error, S.CheckpointStep));

    /// <summary>Whether <paramref name="attempt"/> is the running attempt: calls from a slot that lost the trial change nothing.</summary>
    private bool Holds(int attempt) => S.Definition is not null && S.Status == TrialStatus.Running && S.Attempts == attempt;

    private async Task RequeueAsync()
    {
        S.Status = TrialStatus.Pending;
        S.Silo = null;
        S.Progress = null;
        await state.WriteStateAsync();
        // Both calls may fail while a silo is being declared dead; the sweep's next lease check repeats both.
        await Queue.EnqueueAsync(Definition.Key);
        await Sweep.OnTrialStatusAsync(Definition.TrialId, S.Status);
    }

    private async Task EndAsync(TrialStatus status)
    {
        S.Status = status;
        S.Silo = null;
        S.Progress = null;
        await state.WriteStateAsync();
        await Sweep.OnTrialStatusAsync(Definition.TrialId, status);
    }
}
