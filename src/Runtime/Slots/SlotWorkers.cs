using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Caching;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using ExperimentGrid.Grains;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace ExperimentGrid.Runtime.Slots;

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
    WorkCache cache,
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
                var claim = new SlotClaim(SiloName, cache.RecentlyUsed(options.Value.PrefixAffinityWindow));
                var key = grains.GetGrain<IWorkQueueGrain>(0).ClaimAsync(claim).GetAwaiter().GetResult();
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

    /// <summary>
    /// Runs one attempt through a <see cref="TrialSession"/> whose observer is the trial grain. A stopping silo drains
    /// the session (the trial is given back); a lost trial cancels it (the trial is dropped, its holder carries on).
    /// </summary>
    private void Run(Slot slot, TrialAssignment assignment, CancellationToken stopping)
    {
        var definition = assignment.Definition;
        var trial = grains.GetGrain<ITrialGrain>(definition.Key);
        var running = new RunningTrial(definition.SweepId, definition.TrialId, definition.Objective.Metric);
        // Cancelled when the trial grain says this slot no longer holds the trial (cancelled, or moved after a lost lease).
        using var lost = new CancellationTokenSource();
        using var ended = new CancellationTokenSource();
        var observer = new TrialGrainObserver(trial, assignment, running, lost, DrainTimeout, _logger, slot);
        activity.Take(slot, running);
        var heartbeat = Task.Run(() => HeartbeatAsync(trial, assignment, running, observer, lost, ended.Token), CancellationToken.None);
        try
        {
            var spec = definition.Spec with { Device = slot.Device };
            if (definition.SweepFreezeDepths is { } depths && FrozenPrefix.Family(spec) is { } family) cache.Expect(family, depths);
            _logger.LogInformation("Slot {Slot}: trial {Trial}, attempt {Attempt}{Resume}", slot, definition.Key, assignment.Attempt,
                assignment.ResumeCheckpoint is null ? "" : $", resuming from {assignment.ResumeCheckpoint}");
            var checkpoints = new CheckpointFolder(CheckpointDirectory(definition, assignment.ResumeCheckpoint), $"a{assignment.Attempt}-");
            var settings = new TrialSessionOptions
            {
                ResumeFrom = assignment.ResumeCheckpoint,
                Checkpoints = checkpoints,
                CheckpointEvery = definition.CheckpointEvery,
                ModelDirectory = checkpoints.Entry("model"),
            };
            using var session = TrialSession.Open(spec, settings, createTrainable, loggers.CreateLogger($"trial {definition.Key}"));
            session.Run(observer, drain: stopping, cancellation: lost.Token);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested || lost.IsCancellationRequested)
        {
            _logger.LogInformation("Slot {Slot}: dropped trial {Trial} (cancelled, moved or the silo is stopping)", slot, definition.Key);
        }
        catch (UnreadableCheckpointException e) when (!stopping.IsCancellationRequested)
        {
            // Bad input, not a fault of the silo's: its message names the file, and a stack trace would add nothing.
            _logger.LogWarning("Slot {Slot}: trial {Trial} cannot resume from {Checkpoint}: {Reason}; the checkpoint is dropped", slot, definition.Key, e.Checkpoint, e.Message);
            Report(slot, definition, "drop the checkpoint of", () => trial.DropCheckpointAsync(assignment.Attempt, e.Checkpoint, e.Message));
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            // Whatever the trial threw (NaN loss, bad data, out of memory) fails this attempt, not the silo.
            _logger.LogWarning(e, "Slot {Slot}: trial {Trial} failed", slot, definition.Key);
            Report(slot, definition, "report the failure of", () => trial.FailAsync(assignment.Attempt, e.Message));
        }
        finally
        {
            ended.Cancel();
            heartbeat.GetAwaiter().GetResult();
            activity.Free(slot);
        }
    }

    /// <summary>How an attempt ended, told to its trial; where the trial cannot hear it, its lease runs out and it is re-queued.</summary>
    private void Report(Slot slot, TrialDefinition definition, string what, Func<Task> call)
    {
        try
        {
            call().GetAwaiter().GetResult();
        }
        catch (Exception report)
        {
            _logger.LogWarning(report, "Slot {Slot}: cannot {What} {Trial}", slot, what, definition.Key);
        }
    }

    /// <summary>
    /// {CheckpointRoot}/{sweep}/{trial}, which the attempt writes and prunes. The sweep grain checks its ids, but any
    /// client can define a trial: a directory or resume checkpoint that leads out of the root fails the attempt.
    /// </summary>
    private string CheckpointDirectory(TrialDefinition definition, string? resumeFrom)
    {
        var root = options.Value.Roots.CheckpointRoot;
        var realRoot = RootedPaths.Resolve(root);
        var directory = Path.Combine(root, definition.SweepId, definition.TrialId);
        if (RootedPaths.Outside(directory, realRoot) is { } leadsTo)
            throw new InvalidDataException($"trial {definition.Key}: its checkpoint directory is {leadsTo}, outside the checkpoint root {root}");
        if (resumeFrom is not null && RootedPaths.Outside(resumeFrom, realRoot) is { } resumeLeadsTo)
            throw new InvalidDataException($"trial {definition.Key}: its resume checkpoint is {resumeLeadsTo}, outside the checkpoint root {root}");
        return directory;
    }

    /// <summary>
    /// Renews the lease and sends progress, one call at a time: a heartbeat that waits on a silo being declared dead
    /// holds no thread, and the next is not sent until it returns.
    /// </summary>
    private async Task HeartbeatAsync(ITrialGrain trial, TrialAssignment assignment, RunningTrial running, TrialGrainObserver observer, CancellationTokenSource lost, CancellationToken ended)
    {
        using var timer = new PeriodicTimer(options.Value.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ended))
            {
                running.Progress = observer.Latest;
                try
                {
                    if (!await trial.HeartbeatAsync(assignment.Attempt, running.Progress).WaitAsync(ended))
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
}
