using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Grains.Trials;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace ExperimentGrid.Grains.Sweeps;

// Reentrant: trials call their sweep (updates, epoch reports) while the sweep may be awaiting one of them (creating
// or cancelling trials, reading their progress); without interleaving those cycles would deadlock. State writes go
// through SaveAsync, and creating trials through one fill at a time.
[Reentrant]
public sealed class SweepGrain(
    [PersistentState("sweep", StorageNames.Grid)] IPersistentState<SweepState> state,
    IOptions<GridOptions> options,
    ILogger<SweepGrain> logger) : Grain, ISweepGrain, IRemindable
{
    private const string WakeReminder = "wake";

    public const string Exhausted = "searcher exhausted";
    public const string MaxTrials = "max_trials reached";
    public const string TimeBudget = "time_budget spent";
    public const string MaxFailures = "max_failures exceeded";
    public const string ByUser = "cancelled by the user";

    private SweepState S => state.State;
    private SweepPlan? _plan;
    private ISearcher? _searcher;
    private ITrialScheduler? _scheduler;
    private readonly Dictionary<string, SweepTrialRecord> _records = [];
    private readonly HashSet<(string Trial, int Epoch)> _reported = [];

    /// <summary>The suggestions of trials that have not ended: what re-initializing a trial after a crash needs.</summary>
    private readonly Dictionary<string, Suggestion> _active = [];

    /// <summary>Created trials whose grain has not yet been initialized, for the timer to try again.</summary>
    private readonly HashSet<string> _uninitialized = [];

    /// <summary>Which active trials are running now; the rest wait in the queue. Kept in memory only: a restart re-reads it.</summary>
    private readonly HashSet<string> _running = [];

    private IGrainTimer? _timer;
    private Task _writing = Task.CompletedTask;
    private bool _filling;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Plan is null) return Task.CompletedTask;
        Load(SweepPlan.FromJson(S.Plan));
        if (S.Status != SweepStatus.Running) return Task.CompletedTask;
        // Trials created just before a crash may not have reached their grain: the first tick, at once, initializes
        // them again. Not here: activation holds every call to this grain, a trial's report to its sweep included, so
        // calling a trial that is itself waiting on this sweep would stall both until the call timed out.
        StartTimer(dueTime: TimeSpan.Zero, resume: true);
        return Task.CompletedTask;
    }

    public async Task<SweepSnapshot> SubmitAsync(SweepSubmission submission)
    {
        if (S.Submission is not null)
        {
            if (S.Submission.Text != submission.Text) throw new ArgumentException($"sweep {this.GetPrimaryKeyString()} already exists with another spec.");
            return await GetAsync();
        }
        // The id names the sweep's checkpoint directory, and any client may choose it.
        var id = this.GetPrimaryKeyString();
        if (!SweepNames.IsId(id)) throw new SweepRejectedException($"sweep id '{id}' {SweepNames.Rule(SweepNames.IdLength)}");
        SweepPlan plan;
        try
        {
            plan = SweepSpec.Parse(submission.Text, submission.Source).Expand(options.Value.Roots);
        }
        catch (SweepSpecException e)
        {
            throw new SweepRejectedException(e.Message);
        }
        Load(plan);
        S.Submission = submission;
        S.Plan = plan.ToJson();
        S.Name = plan.Name;
        S.Status = SweepStatus.Running;
        S.SubmittedAt = DateTimeOffset.UtcNow;
        await SaveAsync();
        await GrainFactory.GetGrain<ISweepIndexGrain>(0).AddAsync(this.GetPrimaryKeyString());
        // The reminder wakes the sweep after a whole-cluster restart, so that its timer and budget run again.
        await this.RegisterOrUpdateReminder(WakeReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        StartTimer();
        await FillAsync();
        return await GetAsync();
    }

    public async Task OnTrialUpdateAsync(TrialUpdate update)
    {
        if (!_records.TryGetValue(update.TrialId, out var record) || record.Status.IsFinal()) return;
        if (!update.Status.IsFinal())
        {
            if (update.Status == TrialStatus.Running) _running.Add(update.TrialId);
            else _running.Remove(update.TrialId);
            FillSoon();
            return;
        }
        record.Status = update.Status;
        record.Objective = update.Objective;
        record.Error = update.Error;
        record.Attempts = update.Attempts;
        _running.Remove(update.TrialId);
        _active.Remove(update.TrialId);
        var ended = update.Status == TrialStatus.Completed ? Ended(update) : new SweepEvent(SweepEventKind.Ended, update.TrialId);
        S.Events.Add(ended);
        _searcher!.OnTrialEnd(update.TrialId, ended.Objectives);
        await SaveAsync();
        // A fill checks the budgets first: this end may have spent one (max_failures, max_trials).
        if (S.EndReason is not null) await FinishIfIdleAsync(S.EndReason);
        else FillSoon();
    }

    public async Task<SchedulerDecision> OnEpochAsync(TrialReport report)
    {
        if (_scheduler is null) return SchedulerDecision.Continue;
        var decision = _scheduler.OnResult(report);
        // A trial resumed from an earlier checkpoint repeats epochs: the scheduler gave the same decision, and the
        // searcher and the log hear each epoch once.
        if (_reported.Add((report.TrialId, report.Epoch)))
        {
            _searcher!.OnEpoch(report);
            S.Events.Add(new SweepEvent(SweepEventKind.Epoch, report.TrialId, report.Epoch, report.Objective));
            await SaveAsync();
        }
        return decision;
    }

    public Task CancelAsync() => StopAsync(ByUser);

    public async Task<SweepSnapshot> GetAsync()
    {
        // Ended trials are as the sweep kept them; active ones are read from their grains, all at once, for progress.
        var live = await Task.WhenAll(S.Trials.Where(t => !t.Status.IsFinal()).Select(async t =>
        {
            try
            {
                return (t.TrialId, Snapshot: (TrialSnapshot?)await Trial(t.TrialId).GetAsync());
            }
            catch (Exception e) when (ClusterFaults.IsUnreachable(e))
            {
                return (t.TrialId, Snapshot: null);
            }
        }));
        var snapshots = live.Where(l => l.Snapshot?.Definition is not null).ToDictionary(l => l.TrialId, l => l.Snapshot!);
        return new SweepSnapshot(
            this.GetPrimaryKeyString(),
            S.Name,
            S.Submission is null ? SweepStatus.Unknown : S.Status,
            _plan?.Objective,
            _plan?.MaxConcurrentTrials,
            [.. S.Trials.Select(t => snapshots.TryGetValue(t.TrialId, out var trial)
                ? new SweepTrialView(t.TrialId, trial.Status, t.Hyperparameters, trial.Attempts, trial.Silo, trial.Progress,
                    trial.Outcome?.Objective ?? trial.LastEval.Where(m => m.Metric == _plan!.Objective.Metric).Select(m => (double?)m.Value).FirstOrDefault(), trial.Error)
                : new SweepTrialView(t.TrialId, t.Status, t.Hyperparameters, t.Attempts, null, null, t.Objective, t.Error))],
            S.SubmittedAt,
            _plan?.Trials.Count ?? 0,
            S.EndReason,
            _plan?.Objectives,
            S.Submission,
            Upcoming());
    }

    /// <summary>How many not-yet-created trials a snapshot shows: enough to fill a screen, few enough to stay cheap for a grid of 10^5.</summary>
    private const int UpcomingShown = 20;

    private List<SweepTrialView> Upcoming()
    {
        if (S.Status != SweepStatus.Running || S.EndReason is not null || _searcher is null) return [];
        var count = Math.Min(UpcomingShown, _plan!.Budget.MaxTrials is { } most ? most - S.Trials.Count : int.MaxValue);
        return [.. _searcher.Upcoming(count).Select(s => new SweepTrialView(s.Id, TrialStatus.Pending, s.Hyperparameters.ToList(), 0, null, null, null, null))];
    }

    /// <summary>
    /// A completed trial's end as the log keeps it: the first objective, and with several objectives each one's value,
    /// read from the trial's metrics (NaN where it did not measure one, which ranks it last).
    /// </summary>
    private SweepEvent Ended(TrialUpdate update)
    {
        List<double>? values = _plan!.Objectives.Count > 1 && update.Metrics is { } metrics ? [.. _plan.Objectives.Select(o => metrics.ValueOf(o.Metric))] : null;
        return new SweepEvent(SweepEventKind.Ended, update.TrialId, Value: update.Objective, Values: values);
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        // Activation did the work (timer, re-initializing); a finished sweep needs no more waking.
        if (S.Status != SweepStatus.Running) await EndTimersAsync();
    }

    /// <summary>Rebuilds the searcher and scheduler by replaying every call made to them, in order.</summary>
    private void Load(SweepPlan plan)
    {
        _plan = plan;
        _searcher = plan.CreateSearcher();
        _scheduler = plan.CreateScheduler();
        _records.Clear();
        foreach (var record in S.Trials) _records[record.TrialId] = record;
        var replayed = new Queue<Suggestion>();
        foreach (var e in S.Events)
        {
            switch (e.Kind)
            {
                case SweepEventKind.Suggested:
                    var again = _searcher.Suggest(1);
                    if (again is not [var suggestion] || suggestion.Id != e.TrialId)
                        throw new InvalidOperationException($"sweep {this.GetPrimaryKeyString()}: its searcher replayed {(again.Count == 0 ? "no trial" : again[0].Id)} where it had suggested {e.TrialId}.");
                    if (!_records[e.TrialId].Status.IsFinal()) _active[e.TrialId] = suggestion;
                    break;
                case SweepEventKind.Epoch:
                    var report = new TrialReport(e.TrialId, e.Epoch, e.Value ?? double.NaN);
                    _scheduler.OnResult(report);
                    _searcher.OnEpoch(report);
                    _reported.Add((e.TrialId, e.Epoch));
                    break;
                case SweepEventKind.Ended:
                    _searcher.OnTrialEnd(e.TrialId, e.Objectives);
                    break;
            }
        }
    }

    /// <summary>
    /// Asks the searcher for trials while the queue ahead of the free slots is short, fewer than
    /// max_concurrent_trials are active and the budget allows; ends the sweep when nothing is left to run. One fill
    /// runs at a time: a trial's update that arrives meanwhile is covered by the fill's next round.
    /// </summary>
    private async Task FillAsync()
    {
        if (_filling || S.Status != SweepStatus.Running || S.EndReason is not null) return;
        _filling = true;
        try
        {
            while (true)
            {
                if (BudgetSpent() is { } reason)
                {
                    await StopAsync(reason);
                    return;
                }
                var waiting = _active.Count - _running.Count;
                var want = Math.Min(options.Value.QueueAhead - waiting, (_plan!.MaxConcurrentTrials ?? int.MaxValue) - _active.Count);
                if (_plan.Budget.MaxTrials is { } most) want = Math.Min(want, most - S.Trials.Count);
                var suggestions = want > 0 ? _searcher!.Suggest(want) : [];
                if (suggestions.Count == 0) break;
                foreach (var suggestion in suggestions) Record(suggestion);
                await SaveAsync();
                // A stop (a cancel, a budget) may have come while the state was written: its trials then end here.
                if (S.EndReason is not null) break;
                await InitializeAsync(suggestions.Where(s => s.Spec is not null).Select(s => s.Id));
            }
            await FinishIfIdleAsync(_searcher!.Exhausted ? Exhausted : null);
        }
        finally
        {
            _filling = false;
        }
    }

    /// <summary>
    /// Fills after the current call has returned: a trial that tells its sweep it started or ended is waiting on a
    /// slot's thread, and creating the next trial (a state write, the trial's own write, its reminder, the queue) is no
    /// reason to hold that slot. Reentrancy runs the fill between other calls; a failure is the next tick's to repair.
    /// </summary>
    private void FillSoon() => _ = FillOrLogAsync();

    private async Task FillOrLogAsync()
    {
        try
        {
            await FillAsync();
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Sweep {Sweep}: creating trials failed; the next tick tries again", this.GetPrimaryKeyString());
        }
    }

    /// <summary>
    /// Initializes created trials' grains, which queues them. One that is not reached (its silo is being declared dead)
    /// stays in <see cref="_uninitialized"/> for the timer's next tick: until then it exists only in this sweep's state.
    /// </summary>
    private async Task InitializeAsync(IEnumerable<string> trialIds)
    {
        foreach (var id in trialIds.ToList())
        {
            // Stopping: a trial not yet initialized is ended by the sweep itself (CancelActiveAsync), never queued.
            if (S.EndReason is not null || !_active.TryGetValue(id, out var suggestion)) continue;
            try
            {
                await Trial(id).InitializeAsync(Definition(suggestion));
                _uninitialized.Remove(id);
                // Cancelled while its initialization was on its way: the grain, queued now, is told so too.
                if (_records[id].Status.IsFinal()) await Trial(id).CancelAsync();
            }
            catch (Exception e) when (ClusterFaults.IsUnreachable(e))
            {
                _uninitialized.Add(id);
                logger.LogDebug(e, "Initializing trial {Trial} did not reach it", id);
            }
        }
    }

    /// <summary>Keeps a suggested trial; one whose values are invalid together ends failed here, naming why, without running.</summary>
    private void Record(Suggestion suggestion)
    {
        var record = new SweepTrialRecord
        {
            TrialId = suggestion.Id,
            // A List, not a collection expression: the embedded store writes the runtime type's name, and a
            // compiler-made read-only list type cannot be resolved when the state is read back.
            Hyperparameters = [.. suggestion.Hyperparameters],
            Status = suggestion.Spec is null ? TrialStatus.Failed : TrialStatus.Pending,
            Error = suggestion.Problem,
        };
        S.Trials.Add(record);
        _records[record.TrialId] = record;
        S.Events.Add(new SweepEvent(SweepEventKind.Suggested, suggestion.Id));
        if (suggestion.Spec is null)
        {
            logger.LogWarning("Sweep {Sweep}: trial {Trial} is invalid and does not run: {Problem}", this.GetPrimaryKeyString(), suggestion.Id, suggestion.Problem);
            S.Events.Add(new SweepEvent(SweepEventKind.Ended, suggestion.Id));
            _searcher!.OnTrialEnd(suggestion.Id, null);
        }
        else
        {
            _active[suggestion.Id] = suggestion;
            _uninitialized.Add(suggestion.Id);
        }
    }

    private string? BudgetSpent()
    {
        var budget = _plan!.Budget;
        if (budget.TimeBudget is { } time && DateTimeOffset.UtcNow - S.SubmittedAt >= time) return TimeBudget;
        if (budget.MaxFailures is { } failures && Count(TrialStatus.Failed) > failures) return MaxFailures;
        if (budget.MaxTrials is { } trials && S.Trials.Count >= trials && _active.Count == 0) return MaxTrials;
        return null;
    }

    /// <summary>
    /// Starts no more trials and cancels the active ones; the sweep is Finished (or, cancelled by its user, Cancelled)
    /// once they have all ended, so that a sweep shown as ended has no trial still waiting or running.
    /// </summary>
    private async Task StopAsync(string reason)
    {
        if (S.Status != SweepStatus.Running || S.EndReason is not null) return;
        logger.LogInformation("Sweep {Sweep}: {Reason}", this.GetPrimaryKeyString(), reason);
        S.EndReason = reason;
        await SaveAsync();
        await CancelActiveAsync();
        await FinishIfIdleAsync(reason);
    }

    /// <summary>Ends the sweep once no trial is active and nothing more will start.</summary>
    private async Task FinishIfIdleAsync(string? reason)
    {
        if (_active.Count > 0 || reason is null) return;
        if (S.Status == SweepStatus.Running)
        {
            S.EndReason ??= reason;
            S.Status = S.EndReason == ByUser ? SweepStatus.Cancelled : SweepStatus.Finished;
            await SaveAsync();
        }
        await EndTimersAsync();
    }

    /// <summary>Checks the time budget, and at activation re-initializes the active trials, whose creation may not have reached them.</summary>
    private void StartTimer(TimeSpan? dueTime = null, bool resume = false)
    {
        var first = resume;
        _timer ??= this.RegisterGrainTimer(async _ =>
        {
            if (first)
            {
                first = false;
                await ResumeAsync();
            }
            else if (_uninitialized.Count > 0) await InitializeAsync(_uninitialized);
            if (S.EndReason is not null) await CancelActiveAsync();
            else if (S.Status == SweepStatus.Running && BudgetSpent() is { } reason) await StopAsync(reason);
        }, new GrainTimerCreationOptions
        {
            DueTime = dueTime ?? options.Value.LeaseCheckInterval,
            Period = options.Value.LeaseCheckInterval,
            // A running sweep stays active so that its budget is checked between trial calls.
            KeepAlive = true,
            Interleave = true,
        });
    }

    /// <summary>
    /// After an activation: initializes the active trials again (a crash may have come between creating one and
    /// initializing it; initializing twice changes nothing), learns which run, and fills.
    /// </summary>
    private async Task ResumeAsync()
    {
        await InitializeAsync(_active.Keys);
        foreach (var id in _active.Keys.Except(_uninitialized).ToList())
        {
            try
            {
                if ((await Trial(id).GetAsync()).Status == TrialStatus.Running) _running.Add(id);
            }
            catch (Exception e) when (ClusterFaults.IsUnreachable(e))
            {
                logger.LogDebug(e, "Reading trial {Trial} did not reach it", id);
            }
        }
        await FillAsync();
    }

    /// <summary>
    /// Cancels every active trial. One whose grain is moving misses it; a stopping sweep's timer cancels it again at
    /// its next tick.
    /// </summary>
    private async Task CancelActiveAsync()
    {
        var endedHere = 0;
        foreach (var id in _active.Keys.ToList())
        {
            if (_uninitialized.Contains(id))
            {
                // No grain knows this trial yet: the sweep is its only owner, as it is of an invalid suggestion's.
                EndUnstarted(id);
                endedHere++;
                continue;
            }
            try
            {
                await Trial(id).CancelAsync();
            }
            catch (Exception e) when (ClusterFaults.IsUnreachable(e))
            {
                logger.LogDebug(e, "Cancelling trial {Trial} did not reach it", id);
            }
        }
        if (endedHere == 0) return;
        await SaveAsync();
        await FinishIfIdleAsync(S.EndReason);
    }

    private void EndUnstarted(string trialId)
    {
        _records[trialId].Status = TrialStatus.Cancelled;
        _active.Remove(trialId);
        _running.Remove(trialId);
        _uninitialized.Remove(trialId);
        S.Events.Add(new SweepEvent(SweepEventKind.Ended, trialId));
        _searcher!.OnTrialEnd(trialId, null);
    }

    private async Task EndTimersAsync()
    {
        _timer?.Dispose();
        _timer = null;
        if (await this.GetReminder(WakeReminder) is { } reminder) await this.UnregisterReminder(reminder);
    }

    /// <summary>Grain writes must not overlap; in a reentrant grain, each waits for the one before.</summary>
    private async Task SaveAsync()
    {
        while (!_writing.IsCompleted) await _writing;
        _writing = state.WriteOrDeactivateAsync(this);
        await _writing;
    }

    private int Count(TrialStatus status) => S.Trials.Count(t => t.Status == status);


    private ITrialGrain Trial(string trialId) => GrainFactory.GetGrain<ITrialGrain>(TrialKeys.Format(this.GetPrimaryKeyString(), trialId));

    private TrialDefinition Definition(Suggestion suggestion) => new(
        this.GetPrimaryKeyString(),
        suggestion.Id,
        suggestion.Spec!,
        suggestion.Hyperparameters,
        _plan!.Objective,
        _plan.Retries + 1,
        suggestion.Spec!.Epochs,
        _plan.CheckpointEvery,
        _plan.Objectives.Count > 1 ? [.. _plan.Objectives] : null,
        _plan.Trials.FreezeDepths is { Count: > 1 } depths ? depths : null);
}
