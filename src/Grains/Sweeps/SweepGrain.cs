using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Grains.Trials;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace ExperimentGrid.Grains.Sweeps;

// Reentrant: trials call their sweep (status, epoch reports) while the sweep may be awaiting one of them (releasing
// trials, checking leases); without interleaving those cycles would deadlock. State writes go through SaveAsync.
[Reentrant]
public sealed class SweepGrain(
    [PersistentState("sweep", StorageNames.Grid)] IPersistentState<SweepState> state,
    IOptions<GridOptions> options,
    ILogger<SweepGrain> logger) : Grain, ISweepGrain, IRemindable
{
    private const string WakeReminder = "wake";
    private SweepState S => state.State;
    private SweepPlan? _plan;
    private ITrialScheduler? _scheduler;
    private IGrainTimer? _leaseTimer;
    private Task _writing = Task.CompletedTask;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Submission is null || S.Status != SweepStatus.Running) return Task.CompletedTask;
        Load(S.Submission);
        // Trials released before a crash may not have reached their grain or the queue: the first lease check, at once,
        // releases them again. Not here: activation holds every call to this grain, a trial's report to its sweep
        // included, so calling a trial that is itself waiting on this sweep would stall both until the call timed out.
        StartLeaseTimer(dueTime: TimeSpan.Zero);
        return Task.CompletedTask;
    }

    public async Task<SweepSnapshot> SubmitAsync(SweepSubmission submission)
    {
        if (S.Submission is not null)
        {
            if (S.Submission.Text != submission.Text) throw new ArgumentException($"sweep {this.GetPrimaryKeyString()} already exists with another spec.");
            return Snapshot();
        }
        Load(submission);
        S.Submission = submission;
        S.Name = _plan!.Name;
        S.Status = SweepStatus.Running;
        S.SubmittedAt = DateTimeOffset.UtcNow;
        S.TrialIds = [.. _plan.Trials.Select(t => t.Id)];
        S.Objective = ToObjective(_plan.Objective);
        S.MaxConcurrentTrials = _plan.MaxConcurrentTrials;
        await SaveAsync();
        await GrainFactory.GetGrain<ISweepIndexGrain>(0).AddAsync(this.GetPrimaryKeyString());
        // The reminder wakes the sweep after a whole-cluster restart, so that its lease checks run again.
        await this.RegisterOrUpdateReminder(WakeReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        StartLeaseTimer();
        await ReleaseAsync();
        return Snapshot();
    }

    public async Task OnTrialStatusAsync(string trialId, TrialStatus status)
    {
        if (!S.Trials.TryGetValue(trialId, out var known) || known == status) return;
        S.Trials[trialId] = status;
        await SaveAsync();
        if (S.Status == SweepStatus.Running) await ReleaseAsync();
    }

    public async Task<TrialDirective> OnEpochAsync(SchedulerReport report)
    {
        if (_scheduler is null) return TrialDirective.Continue;
        var decision = _scheduler.OnResult(new TrialReport(report.TrialId, report.Epoch, report.Objective));
        if (!S.Reports.Exists(r => r.TrialId == report.TrialId && r.Epoch == report.Epoch))
        {
            S.Reports.Add(report);
            await SaveAsync();
        }
        return decision switch
        {
            SchedulerDecision.Pause => TrialDirective.Pause,
            SchedulerDecision.Stop => TrialDirective.Stop,
            _ => TrialDirective.Continue,
        };
    }

    public async Task CancelAsync()
    {
        if (S.Status != SweepStatus.Running) return;
        S.Status = SweepStatus.Cancelled;
        await SaveAsync();
        // Trials never released are cancelled too: they are recorded as such without a grain of their own.
        foreach (var id in S.TrialIds.Skip(S.Released)) S.Trials[id] = TrialStatus.Cancelled;
        S.Released = S.TrialIds.Count;
        await SaveAsync();
        foreach (var id in S.Trials.Keys.ToList()) await Trial(id).CancelAsync();
        await StopAsync();
    }

    public Task<SweepSnapshot> GetAsync() => Task.FromResult(Snapshot());

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        // Activation did the work (re-release, lease timer); a finished sweep needs no more waking.
        if (S.Status != SweepStatus.Running) await StopAsync();
    }

    private void Load(SweepSubmission submission)
    {
        try
        {
            _plan = SweepSpec.Parse(submission.Text, submission.Source).Expand(options.Value.Roots);
        }
        catch (SweepSpecException e)
        {
            throw new SweepRejectedException(e.Message);
        }
        _scheduler = _plan.CreateScheduler();
        foreach (var report in S.Reports) _scheduler.OnResult(new TrialReport(report.TrialId, report.Epoch, report.Objective));
    }

    /// <summary>Releases trials in plan order while fewer than max_concurrent_trials are waiting or running; ends the sweep when all have ended.</summary>
    private async Task ReleaseAsync()
    {
        var limit = S.MaxConcurrentTrials ?? int.MaxValue;
        while (S.Status == SweepStatus.Running && S.Released < S.TrialIds.Count
               && S.Trials.Values.Count(s => s is TrialStatus.Pending or TrialStatus.Running) < limit)
        {
            var trial = _plan!.Trials[S.Released];
            S.Trials[trial.Id] = TrialStatus.Pending;
            S.Released++;
            await SaveAsync();
            await Trial(trial.Id).InitializeAsync(Definition(trial));
        }
        if (S.Status == SweepStatus.Running && S.Released == S.TrialIds.Count
            && S.Trials.Values.All(s => s is TrialStatus.Completed or TrialStatus.Failed or TrialStatus.Cancelled))
        {
            S.Status = SweepStatus.Finished;
            await SaveAsync();
            await StopAsync();
        }
    }

    private void StartLeaseTimer(TimeSpan? dueTime = null)
    {
        _leaseTimer ??= this.RegisterGrainTimer(CheckLeasesAsync, new GrainTimerCreationOptions
        {
            DueTime = dueTime ?? options.Value.LeaseCheckInterval,
            Period = options.Value.LeaseCheckInterval,
            // A running sweep stays active so its checks keep running between trial calls.
            KeepAlive = true,
            Interleave = true,
        });
    }

    /// <summary>
    /// Re-queues trials whose silo died, and takes each unfinished trial's own status as the truth: a trial's report
    /// to its sweep is lost when the sweep's silo dies mid-call, and without this the sweep would wait for it forever.
    /// </summary>
    private async Task CheckLeasesAsync(CancellationToken cancellationToken)
    {
        foreach (var (id, status) in S.Trials.ToList())
        {
            if (status is not (TrialStatus.Running or TrialStatus.Pending)) continue;
            try
            {
                var actual = await Trial(id).CheckLeaseAsync();
                if (actual is null) await Trial(id).InitializeAsync(Definition(_plan!.Trials[S.TrialIds.IndexOf(id)]));
                else await OnTrialStatusAsync(id, actual.Value);
            }
            catch (Exception e) when (ClusterFaults.IsUnreachable(e))
            {
                // The trial's silo is being declared dead; its grain moves, and the next check reaches it.
                logger.LogDebug(e, "Lease check of trial {Trial} did not reach it", id);
            }
        }
    }

    private async Task StopAsync()
    {
        _leaseTimer?.Dispose();
        _leaseTimer = null;
        if (await this.GetReminder(WakeReminder) is { } reminder) await this.UnregisterReminder(reminder);
    }

    /// <summary>Grain writes must not overlap; in a reentrant grain, each waits for the one before.</summary>
    private async Task SaveAsync()
    {
        while (!_writing.IsCompleted) await _writing;
        _writing = state.WriteStateAsync();
        await _writing;
    }

    private ITrialGrain Trial(string trialId) => GrainFactory.GetGrain<ITrialGrain>(TrialKeys.Format(this.GetPrimaryKeyString(), trialId));

    private TrialDefinition Definition(SweepTrial trial) => new(
        this.GetPrimaryKeyString(),
        trial.Id,
        TrialRunner.ToJson(trial.Spec),
        // A List, not a collection expression: the embedded store writes the runtime type's name, and a compiler-made
        // read-only list type cannot be resolved when the state is read back.
        trial.Hyperparameters.Select(h => new HyperparameterValue(h.Field, h.Value)).ToList(),
        S.Objective!,
        _plan!.Retries + 1,
        trial.Spec.Epochs,
        _plan.CheckpointEvery);

    private static Objective ToObjective(SweepObjective objective) =>
        new(TrialRunner.Name(objective.Metric), objective.Mode == ObjectiveMode.Max ? ObjectiveDirection.Maximize : ObjectiveDirection.Minimize);

    private SweepSnapshot Snapshot() => new(
        this.GetPrimaryKeyString(),
        S.Name,
        S.Submission is null ? SweepStatus.Unknown : S.Status,
        S.Objective,
        S.MaxConcurrentTrials,
        [.. S.TrialIds.Select(id => new SweepTrialStatus(id, S.Trials.GetValueOrDefault(id, TrialStatus.Pending)))],
        S.SubmittedAt);
}
