using System.Diagnostics;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using ExperimentGrid.Grains.Queue;
using ExperimentGrid.Grains.Trials;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace ExperimentGrid.Grains.Slots;

/// <summary>
/// One dedicated thread per slot, started once the silo is active. Training is long, CPU-bound, synchronous work:
/// on the Orleans scheduler it would starve every grain of this silo, so each slot trains on its own thread, pulls the
/// next trial from the work queue only when free, and talks to grains as any client does.
/// </summary>
public sealed class SlotWorkers(
    SlotActivity activity,
    TrainableFactory createTrainable,
    IGrainFactory grains,
    IOptions<GridOptions> options,
    ILocalSiloDetails silo,
    ILoggerFactory loggers) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly ILogger _logger = loggers.CreateLogger<SlotWorkers>();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Thread> _threads = [];

    /// <summary>
    /// How long a stopping silo waits for its slots to checkpoint and give back their trials. A slot notices the stop
    /// between two optimizer steps; one still in an evaluation may take longer, and its trial then waits for its lease.
    /// </summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(60);

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SlotWorkers), ServiceLifecycleStage.Active, _ => StartAsync(), StopAsync);

    private Task StartAsync()
    {
        foreach (var slot in activity.Slots.All)
        {
            var thread = new Thread(() => Loop(slot)) { IsBackground = true, Name = $"slot {slot}" };
            _threads.Add(thread);
            thread.Start();
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Each slot checkpoints its trial at the step it reached and gives it back to the queue, so that another silo,
    /// or this one started again, resumes it at once and without losing a step. Waiting for epochs to end could take
    /// hours; a silo that does not get to drain (SIGKILL, a cut cable) costs its trials a lease and the steps since
    /// their last checkpoint.
    /// </summary>
    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(DrainTimeout);
        var drained = _threads.Select(t => Task.Run(() => t.Join(Timeout.InfiniteTimeSpan), CancellationToken.None));
        try
        {
            await Task.WhenAll(drained).WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _logger.LogWarning("Slots did not give back their trials within {Timeout}; those trials resume when their leases run out", DrainTimeout);
        }
    }

    private string SiloName => $"{silo.SiloAddress.Endpoint}";

    private void Loop(Slot slot)
    {
        var stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var key = grains.GetGrain<IWorkQueueGrain>(0).ClaimAsync().GetAwaiter().GetResult();
                if (key is null)
                {
                    stopping.WaitHandle.WaitOne(options.Value.IdlePollInterval);
                    continue;
                }
                // Null for a trial that moved on while it waited (cancelled, or started from a duplicate entry): the
                // next one may be waiting already, so the slot asks again at once.
                var assignment = grains.GetGrain<ITrialGrain>(key).StartAsync($"{SiloName} {slot}").GetAwaiter().GetResult();
                if (assignment is not null) Run(slot, assignment, stopping);
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                // The cluster is unreachable for a moment (a silo joining or leaving); the slot tries again.
                _logger.LogWarning(e, "Slot {Slot}: cannot reach the work queue", slot);
                stopping.WaitHandle.WaitOne(options.Value.IdlePollInterval);
            }
            catch (Exception) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private void Run(Slot slot, TrialAssignment assignment, CancellationToken stopping)
    {
        var held = Stopwatch.StartNew();
        var definition = assignment.Definition;
        var trial = grains.GetGrain<ITrialGrain>(definition.Key);
        var metric = Enum.Parse<EvaluationMetric>(definition.Objective.Metric.Replace("-", ""), ignoreCase: true);
        var running = new RunningTrial(definition.SweepId, definition.TrialId, definition.Objective.Metric);
        // Cancelled when the trial grain says this slot no longer holds the trial (cancelled, or moved after a lost lease).
        using var lost = new CancellationTokenSource();
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(stopping, lost.Token);
        using var ended = new CancellationTokenSource();
        var listener = new StepListener();
        activity.Take(slot, running);
        var heartbeat = Task.Run(() => HeartbeatAsync(trial, assignment, running, listener, lost, ended.Token), CancellationToken.None);
        try
        {
            var spec = System.Text.Json.JsonSerializer.Deserialize<TrialSpec>(definition.SpecJson, TrialRunner.Json)! with { Device = slot.Device };
            _logger.LogInformation("Slot {Slot}: trial {Trial}, attempt {Attempt}{Resume}", slot, definition.Key, assignment.Attempt,
                assignment.ResumeCheckpoint is null ? "" : $", resuming from {assignment.ResumeCheckpoint}");
            using var trainable = createTrainable(spec, loggers.CreateLogger($"trial {definition.Key}"), listener);
            trainable.Setup();
            if (assignment.ResumeCheckpoint is { } checkpoint) trainable.LoadCheckpoint(checkpoint);
            var recorded = trainable.GlobalStep;
            listener.AfterStep = p =>
            {
                if (CheckpointWithinEpoch(slot, trial, assignment, trainable, p, lost)) recorded = p.Step;
            };
            try
            {
                Train(trial, assignment, spec, trainable, running, metric, held, step => recorded = step, abandon.Token);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested && !lost.IsCancellationRequested)
            {
                GiveBack(slot, trial, assignment, trainable, recorded);
            }
        }
        catch (OperationCanceledException) when (abandon.IsCancellationRequested)
        {
            _logger.LogInformation("Slot {Slot}: dropped trial {Trial} (cancelled, moved or the silo is stopping)", slot, definition.Key);
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            // Whatever the trial threw (NaN loss, bad data, out of memory) fails this attempt, not the silo.
            _logger.LogWarning(e, "Slot {Slot}: trial {Trial} failed", slot, definition.Key);
            try
            {
                trial.FailAsync(assignment.Attempt, e.Message).GetAwaiter().GetResult();
            }
            catch (Exception report)
            {
                // The lease runs out and the trial is re-queued; the failure itself is lost, which costs one retry.
                _logger.LogWarning(report, "Slot {Slot}: cannot report the failure of {Trial}", slot, definition.Key);
            }
        }
        finally
        {
            ended.Cancel();
            heartbeat.GetAwaiter().GetResult();
            activity.Free(slot);
        }
    }

    /// <summary>Trains the remaining epochs, checkpointing and reporting each, then reports the trial's result.</summary>
    private void Train(ITrialGrain trial, TrialAssignment assignment, TrialSpec spec, ISupervisedTrainable trainable, RunningTrial running,
        EvaluationMetric metric, Stopwatch held, Action<int> recorded, CancellationToken abandon)
    {
        var epochs = new List<EpochResult>();
        while (trainable.CompletedEpochs < trainable.Epochs)
        {
            var epoch = trainable.Step(abandon);
            epochs.Add(epoch);
            var saved = Checkpoint(assignment, trainable);
            var objective = epoch.Validation.Value(metric) ?? double.NaN;
            running.LastEval = objective;
            var directive = trial.ReportEpochAsync(assignment.Attempt, new EpochReport(
                epoch.Epoch, epoch.GlobalStep, epoch.TrainLoss, objective, Readings(epoch.Validation), saved)).GetAwaiter().GetResult();
            if (directive is TrialDirective.Abandon or TrialDirective.Pause) return;
            recorded(epoch.GlobalStep);
            // Only now is the new checkpoint the trial's; until then a resume needs the one before.
            DeleteOlderCheckpoints(saved);
            if (directive == TrialDirective.Stop) break;
        }
        var final = spec.TestSplit is { } test ? trainable.EvaluateSplit(test, spec.EvalLimit) : epochs.Count > 0 ? epochs[^1].Validation : null;
        if (final is null)
            throw new InvalidOperationException("the trial ended without an evaluation: its checkpoint had every epoch done, and it has no test split.");
        var trainSeconds = epochs.Sum(e => e.TrainSeconds);
        var definition = assignment.Definition;
        var model = Path.GetFullPath(Path.Combine(options.Value.Roots.CheckpointRoot, definition.SweepId, definition.TrialId, $"a{assignment.Attempt}-model"));
        trainable.SaveModel(model);
        var accepted = trial.CompleteAsync(assignment.Attempt, new TrialOutcome(
            final.Value(metric) ?? double.NaN,
            Readings(final),
            trainable.CompletedEpochs,
            trainable.GlobalStep,
            trainSeconds > 0 ? epochs.Sum(e => e.SamplesPerSecond * e.TrainSeconds) / trainSeconds : 0,
            held.Elapsed.TotalSeconds,
            model)).GetAwaiter().GetResult();
        // A finished trial resumes no more: its model stays, its checkpoints go. A slot that lost the trial leaves
        // them to the slot that holds it.
        if (accepted) DeleteOlderCheckpoints(model);
        else Directory.Delete(model, recursive: true);
    }

    /// <summary>
    /// The silo is stopping: checkpoints the trial at the step it reached (unless its last recorded checkpoint is
    /// there already) and hands it back to the queue.
    /// </summary>
    private void GiveBack(Slot slot, ITrialGrain trial, TrialAssignment assignment, ITrainable trainable, int recorded)
    {
        var saved = trainable.GlobalStep > recorded ? Checkpoint(assignment, trainable) : null;
        try
        {
            trial.ReleaseAsync(assignment.Attempt, trainable.GlobalStep, saved).WaitAsync(DrainTimeout).GetAwaiter().GetResult();
            if (saved is not null) DeleteOlderCheckpoints(saved);
            _logger.LogInformation("Slot {Slot}: gave back trial {Trial} at step {Step}", slot, assignment.Definition.Key, trainable.GlobalStep);
        }
        catch (Exception e) when (ClusterFaults.IsUnreachable(e))
        {
            _logger.LogWarning(e, "Slot {Slot}: cannot give back trial {Trial}; it resumes when its lease runs out", slot, assignment.Definition.Key);
        }
    }

    /// <summary>
    /// Every checkpoint_every optimizer steps, on the training thread between two steps: writes a checkpoint and makes
    /// it the trial's. An epoch's last step is left to the checkpoint written after its evaluation.
    /// </summary>
    /// <returns>Whether a checkpoint was written and is now the trial's.</returns>
    private bool CheckpointWithinEpoch(Slot slot, ITrialGrain trial, TrialAssignment assignment, ITrainable trainable, TrainingProgress step, CancellationTokenSource lost)
    {
        var every = assignment.Definition.CheckpointEvery;
        if (every <= 0 || step.Step % every != 0 || step.Step % (step.TotalSteps / step.Epochs) == 0 || lost.IsCancellationRequested) return false;
        var saved = Checkpoint(assignment, trainable);
        try
        {
            if (trial.ReportCheckpointAsync(assignment.Attempt, step.Step, saved).GetAwaiter().GetResult() == TrialDirective.Abandon)
            {
                lost.Cancel();
                return false;
            }
            DeleteOlderCheckpoints(saved);
            return true;
        }
        catch (Exception e) when (ClusterFaults.IsUnreachable(e))
        {
            // The trial grain is moving; training goes on, and the next checkpoint is recorded instead.
            _logger.LogWarning(e, "Slot {Slot}: cannot record the checkpoint of {Trial} at step {Step}", slot, assignment.Definition.Key, step.Step);
            return false;
        }
    }

    /// <summary>
    /// Renews the lease and sends progress, one call at a time: a heartbeat that waits on a silo being declared dead
    /// holds no thread, and the next is not sent until it returns.
    /// </summary>
    private async Task HeartbeatAsync(ITrialGrain trial, TrialAssignment assignment, RunningTrial running, StepListener listener, CancellationTokenSource lost, CancellationToken ended)
    {
        using var timer = new PeriodicTimer(options.Value.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ended))
            {
                if (listener.Latest is { } p) running.Progress = new TrialProgress(p.Epoch, p.Epochs, p.Step, p.TotalSteps, p.Loss, p.SamplesPerSecond, p.TokensPerSecond);
                try
                {
                    var progress = running.Progress ?? new TrialProgress(0, assignment.Definition.Epochs, 0, 0, double.NaN, 0, 0);
                    if (await trial.HeartbeatAsync(assignment.Attempt, progress).WaitAsync(ended) == TrialDirective.Abandon)
                    {
                        await lost.CancelAsync();
                        return;
                    }
                }
                catch (Exception e) when (!ended.IsCancellationRequested)
                {
                    // A missed heartbeat only shortens what is left of the lease; the next one renews it.
                    _logger.LogDebug(e, "Heartbeat of {Trial} failed", assignment.Definition.Key);
                }
            }
        }
        catch (OperationCanceledException) when (ended.IsCancellationRequested)
        {
            // The trial ended on this slot.
        }
    }

    /// <summary>
    /// Writes the trainable's checkpoint as {checkpoints}/{sweep}/{trial}/a{attempt}-step-{N}. The attempt in the name
    /// keeps a slot that lost the trial (and does not know it yet) from writing over its successor's checkpoint.
    /// </summary>
    private string Checkpoint(TrialAssignment assignment, ITrainable trainable)
    {
        var definition = assignment.Definition;
        var directory = Path.Combine(options.Value.Roots.CheckpointRoot, definition.SweepId, definition.TrialId, $"a{assignment.Attempt}-step-{trainable.GlobalStep}");
        trainable.SaveCheckpoint(directory);
        return Path.GetFullPath(directory);
    }

    private static void DeleteOlderCheckpoints(string latest)
    {
        foreach (var other in Directory.EnumerateDirectories(Path.GetDirectoryName(latest)!))
            if (other != latest) Directory.Delete(other, recursive: true);
    }

    private static List<MetricReading> Readings(EvaluationMetrics metrics) =>
        [.. metrics.Values().Select(v => new MetricReading(TrialRunner.Name(v.Metric), v.Value))];

    /// <summary>
    /// Keeps the latest progress report, which the heartbeat sends, and runs <see cref="AfterStep"/> on the training
    /// thread after each optimizer step.
    /// </summary>
    private sealed class StepListener : IProgress<TrainingProgress>
    {
        public volatile TrainingProgress? Latest;

        public Action<TrainingProgress>? AfterStep { get; set; }

        public void Report(TrainingProgress value)
        {
            Latest = value;
            AfterStep?.Invoke(value);
        }
    }
}

/// <summary>How a slot makes a trial's trainable: the training core's; tests of slot scheduling supply one that trains nothing.</summary>
public delegate ISupervisedTrainable TrainableFactory(TrialSpec spec, ILogger logger, IProgress<TrainingProgress> progress);
