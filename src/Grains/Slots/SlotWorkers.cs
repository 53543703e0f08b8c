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
    IGrainFactory grains,
    IOptions<GridOptions> options,
    ILocalSiloDetails silo,
    ILoggerFactory loggers) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly ILogger _logger = loggers.CreateLogger<SlotWorkers>();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Thread> _threads = [];

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SlotWorkers), ServiceLifecycleStage.Active, _ => StartAsync(), _ => StopAsync());

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

    private Task StopAsync()
    {
        // A trial in progress is left running in its grain: its lease runs out and another silo resumes it from the
        // last checkpoint, as if this silo had died. Waiting for an epoch to end could take hours.
        _stopping.Cancel();
        return Task.CompletedTask;
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
                var assignment = key is null ? null : grains.GetGrain<ITrialGrain>(key).StartAsync($"{SiloName} {slot}").GetAwaiter().GetResult();
                if (assignment is null)
                {
                    stopping.WaitHandle.WaitOne(options.Value.IdlePollInterval);
                    continue;
                }
                Run(slot, assignment, stopping);
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
        var definition = assignment.Definition;
        var trial = grains.GetGrain<ITrialGrain>(definition.Key);
        var metric = Enum.Parse<EvaluationMetric>(definition.Objective.Metric.Replace("-", ""), ignoreCase: true);
        var running = new RunningTrial(definition.SweepId, definition.TrialId, definition.Objective.Metric);
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var progress = new LatestProgress();
        activity.Take(slot, running);
        using var heartbeat = new Timer(_ => Heartbeat(), null, options.Value.HeartbeatInterval, options.Value.HeartbeatInterval);
        try
        {
            var spec = System.Text.Json.JsonSerializer.Deserialize<TrialSpec>(definition.SpecJson, TrialRunner.Json)!;
            if (slot.Kind == SlotKind.Gpu) spec = spec with { Device = $"cuda:{slot.Index}" };
            _logger.LogInformation("Slot {Slot}: trial {Trial}, attempt {Attempt}{Resume}", slot, definition.Key, assignment.Attempt,
                assignment.ResumeCheckpoint is null ? "" : $", resuming from {assignment.ResumeCheckpoint}");
            using var trainable = TrialRunner.Create(spec, loggers.CreateLogger($"trial {definition.Key}"), progress);
            trainable.Setup();
            if (assignment.ResumeCheckpoint is { } checkpoint) trainable.LoadCheckpoint(checkpoint);
            var epochs = new List<EpochResult>();
            while (trainable.CompletedEpochs < trainable.Epochs)
            {
                var epoch = trainable.Step(abandon.Token);
                epochs.Add(epoch);
                var saved = Checkpoint(definition, trainable);
                var objective = epoch.Validation.Value(metric) ?? double.NaN;
                running.LastEval = objective;
                var directive = trial.ReportEpochAsync(assignment.Attempt, new EpochReport(
                    epoch.Epoch, epoch.GlobalStep, epoch.TrainLoss, objective, Readings(epoch.Validation), saved)).GetAwaiter().GetResult();
                if (directive is TrialDirective.Abandon or TrialDirective.Pause) return;
                // Only now is the new checkpoint the trial's; until then a resume needs the one before.
                DeleteOlderCheckpoints(saved);
                if (directive == TrialDirective.Stop) break;
            }
            var final = spec.TestSplit is { } test ? trainable.EvaluateSplit(test, spec.EvalLimit) : epochs.Count > 0 ? epochs[^1].Validation : null;
            if (final is null)
                throw new InvalidOperationException("the trial ended without an evaluation: its checkpoint had every epoch done, and it has no test split.");
            var trainSeconds = epochs.Sum(e => e.TrainSeconds);
            trial.CompleteAsync(assignment.Attempt, new TrialOutcome(
                final.Value(metric) ?? double.NaN,
                Readings(final),
                trainable.CompletedEpochs,
                trainable.GlobalStep,
                trainSeconds > 0 ? epochs.Sum(e => e.SamplesPerSecond * e.TrainSeconds) / trainSeconds : 0)).GetAwaiter().GetResult();
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
            activity.Free(slot);
        }

        void Heartbeat()
        {
            if (progress.Latest is { } p) running.Progress = new TrialProgress(p.Epoch, p.Epochs, p.Step, p.TotalSteps, p.Loss, p.SamplesPerSecond, p.TokensPerSecond);
            try
            {
                var directive = trial.HeartbeatAsync(assignment.Attempt, running.Progress ?? new TrialProgress(0, definition.Epochs, 0, 0, double.NaN, 0, 0))
                    .GetAwaiter().GetResult();
                if (directive == TrialDirective.Abandon) abandon.Cancel();
            }
            catch (Exception e) when (e is not ObjectDisposedException)
            {
                // A missed heartbeat only shortens what is left of the lease; the next one renews it.
                _logger.LogDebug(e, "Heartbeat of {Trial} failed", definition.Key);
            }
            catch (ObjectDisposedException)
            {
                // The trial ended while this heartbeat was on its way.
            }
        }
    }

    /// <summary>Writes the trainable's checkpoint as {checkpoints}/{sweep}/{trial}/step-N.</summary>
    private string Checkpoint(TrialDefinition definition, ITrainable trainable)
    {
        var directory = Path.Combine(options.Value.Roots.CheckpointRoot, definition.SweepId, definition.TrialId, $"step-{trainable.GlobalStep}");
        trainable.SaveCheckpoint(directory);
        return Path.GetFullPath(directory);
    }

    private static void DeleteOlderCheckpoints(string latest)
    {
        foreach (var other in Directory.EnumerateDirectories(Path.GetDirectoryName(latest)!, "step-*"))
            if (other != latest) Directory.Delete(other, recursive: true);
    }

    private static List<MetricReading> Readings(EvaluationMetrics metrics) =>
        [.. metrics.Values().Select(v => new MetricReading(TrialRunner.Name(v.Metric), v.Value))];

    /// <summary>Keeps only the latest progress report: the training thread writes it, the heartbeat sends it.</summary>
    private sealed class LatestProgress : IProgress<TrainingProgress>
    {
        public volatile TrainingProgress? Latest;

        public void Report(TrainingProgress value) => Latest = value;
    }
}
