using System.Diagnostics;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;

namespace ExperimentGrid.Core.Training;

/// <summary>
/// Whoever runs a trial through a <see cref="TrialSession"/>: the grid's slot (backed by the trial grain, which fences
/// stale runs by their attempt) or `grid train` (a progress bar). Every call comes on the training thread, in order.
/// A run that learns it no longer holds the trial (cancelled, or its lease ran out and the trial moved on) says so by
/// cancelling the session's cancellation token; from <see cref="OnEpoch"/> it then throws
/// <see cref="OperationCanceledException"/>, since no decision applies to a trial that is no longer its own.
/// </summary>
public interface ITrialObserver
{
    /// <summary>
    /// After every optimizer step, between two steps: training waits for it, so it only keeps the latest progress
    /// (a heartbeat sends it on) or draws it.
    /// </summary>
    void OnProgress(TrainingProgress progress);

    /// <summary>
    /// An epoch ended, evaluated, and was saved to <paramref name="checkpoint"/> (null where the session writes no
    /// checkpoints). The answer is the scheduler's: Pause ends the run at once, the trial to resume from this checkpoint
    /// later; Stop skips the remaining epochs and goes to the final evaluation.
    /// </summary>
    SchedulerDecision OnEpoch(EpochResult epoch, string? checkpoint);

    /// <summary>
    /// A checkpoint written within an epoch. True when it is now the one the trial resumes from, which lets the session
    /// delete the older ones; false (the trial's record is out of reach, or the run lost the trial) keeps them.
    /// </summary>
    bool OnCheckpoint(int globalStep, string checkpoint);

    /// <summary>
    /// The trial finished. True when the result is the trial's; false when another run holds the trial now, and the
    /// model this run saved is deleted, so that only the holder's model remains.
    /// </summary>
    bool OnCompleted(TrialResult result);

    /// <summary>
    /// The session was drained: the trial goes back, to resume at <paramref name="globalStep"/> from
    /// <paramref name="checkpoint"/>, or from the checkpoint it had where that is null (nothing was trained since).
    /// True when the trial took it back, which lets the session delete the older checkpoints.
    /// </summary>
    bool OnGivenBack(int globalStep, string? checkpoint);
}

/// <summary>How a session trains a trial; every member may be left out (no resume, no checkpoints, no saved model).</summary>
public sealed record TrialSessionOptions
{
    /// <summary>A checkpoint to resume from, written by an earlier run of the same trial.</summary>
    public string? ResumeFrom { get; init; }

    /// <summary>Where this run writes its checkpoints. Null writes none: the run cannot be paused or resumed.</summary>
    public CheckpointFolder? Checkpoints { get; init; }

    /// <summary>
    /// A checkpoint every this many optimizer steps within an epoch, so that a run lost mid-epoch (a killed silo)
    /// costs at most this many steps; 0 checkpoints at epoch ends only. A step that ends an epoch is left to the
    /// epoch's own checkpoint, written after its evaluation. Needs <see cref="Checkpoints"/>.
    /// </summary>
    public int CheckpointEvery { get; init; }

    /// <summary>Where the trained model goes as a Hugging Face directory; null saves none.</summary>
    public string? ModelDirectory { get; init; }
}

/// <summary>
/// Where one run of a trial writes its checkpoints: {Directory}/{RunPrefix}step-{N}. Every run of a trial shares the
/// directory, so that each run can delete what its predecessors left; the prefix (the grid's attempt, "a3-") keeps a
/// run that lost the trial, and does not know it yet, from writing over its successor's checkpoints.
/// </summary>
public sealed record CheckpointFolder(string Directory, string RunPrefix = "")
{
    /// <summary>The checkpoint at <paramref name="globalStep"/>.</summary>
    public string At(int globalStep) => Entry($"step-{globalStep}");

    /// <summary>This run's entry <paramref name="name"/> in the folder (its model, say), as a full path.</summary>
    public string Entry(string name) => Path.GetFullPath(Path.Combine(Directory, RunPrefix + name));

    /// <summary>
    /// Deletes every directory in the folder but <paramref name="keep"/>. Only once <paramref name="keep"/> is what the
    /// trial resumes from (or its finished model) can nothing else be needed.
    /// </summary>
    internal void DeleteAllBut(string? keep)
    {
        if (!System.IO.Directory.Exists(Directory)) return;
        foreach (var other in System.IO.Directory.EnumerateDirectories(Path.GetFullPath(Directory)))
            if (other != keep) System.IO.Directory.Delete(other, recursive: true);
    }
}

/// <summary>
/// One run of a trial around its trainable's step(), as Ray Tune's train() is: setup or resume, the remaining epochs,
/// checkpoints within and after epochs, the scheduler's decision after each, the final evaluation, the saved model and
/// the throughput. The grid's slots, `grid train` and `grid eval` all run trials through it, so a trial trains the
/// same way wherever it runs; they differ only in their <see cref="ITrialObserver"/> and options.
/// </summary>
public sealed class TrialSession : IDisposable
{
    private readonly TrialSpec _spec;
    private readonly TrialSessionOptions _options;
    private readonly ISupervisedTrainable _trainable;
    private readonly StepRelay _steps;
    private readonly Stopwatch _clock;
    private readonly ILogger _logger;

    private TrialSession(TrialSpec spec, TrialSessionOptions options, ISupervisedTrainable trainable, StepRelay steps, Stopwatch clock, ILogger logger) =>
        (_spec, _options, _trainable, _steps, _clock, _logger) = (spec, options, trainable, steps, clock, logger);

    /// <summary>
    /// Makes the trainable, sets it up and loads <see cref="TrialSessionOptions.ResumeFrom"/>. Throws as the trainable
    /// does on bad input, and <see cref="UnreadableCheckpointException"/> when the checkpoint cannot be loaded; the wall
    /// time of the trial's result counts from here, setup included.
    /// </summary>
    public static TrialSession Open(TrialSpec spec, TrialSessionOptions options, TrainableFactory create, ILogger logger)
    {
        var clock = Stopwatch.StartNew();
        var steps = new StepRelay();
        var trainable = create(spec, logger, steps);
        try
        {
            trainable.Setup();
            if (options.ResumeFrom is { } checkpoint) Load(trainable, checkpoint);
        }
        catch
        {
            trainable.Dispose();
            throw;
        }
        return new TrialSession(spec, options, trainable, steps, clock, logger);
    }

    /// <summary>
    /// Set up, the trainable has read the spec, the data and the model: a failure now is the checkpoint's (truncated,
    /// corrupt, hidden by a mount, another trial's), and the same checkpoint would fail every later attempt the same way.
    /// </summary>
    private static void Load(ISupervisedTrainable trainable, string checkpoint)
    {
        try
        {
            trainable.LoadCheckpoint(checkpoint);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new UnreadableCheckpointException(checkpoint, e);
        }
    }

    /// <summary>The model as it stands on another split of the trial's dataset: `grid eval` and the final evaluation.</summary>
    public EvaluationMetrics Evaluate(string split) => _trainable.EvaluateSplit(split, _spec.EvalLimit);

    /// <summary>
    /// Trains the remaining epochs and finishes the trial, telling <paramref name="observer"/> as it goes. Returns the
    /// result, or null when the trial is not finished here: paused, given back, or its result not accepted.
    /// <paramref name="drain"/> (a stopping silo) hands the trial back at the step it reached: checkpointed there and
    /// reported through <see cref="ITrialObserver.OnGivenBack"/>, so that it resumes elsewhere without losing a step.
    /// <paramref name="cancellation"/> (the trial lost) drops it: the run ends with
    /// <see cref="OperationCanceledException"/> and writes nothing more. Both are seen between optimizer steps; an
    /// evaluation under way finishes first.
    /// </summary>
    public TrialResult? Run(ITrialObserver observer, CancellationToken drain = default, CancellationToken cancellation = default)
    {
        // The step of the checkpoint the trial resumes from as far as this run knows: the one it was started from (or
        // none, at step 0), then each that the observer accepted. Giving back at that step needs no new checkpoint.
        var recorded = _trainable.GlobalStep;
        _steps.OnStep = progress =>
        {
            observer.OnProgress(progress);
            if (CheckpointWithinEpoch(observer, progress, cancellation)) recorded = progress.Step;
        };
        var epochs = new List<EpochResult>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(drain, cancellation);
        try
        {
            while (_trainable.CompletedEpochs < _trainable.Epochs)
            {
                var epoch = _trainable.Step(stop.Token);
                epochs.Add(epoch);
                var saved = Checkpoint();
                var decision = observer.OnEpoch(epoch, saved);
                // Paused, the trial may already run elsewhere: this run deletes nothing, its successor will.
                if (decision == SchedulerDecision.Pause) return null;
                // Only now is the new checkpoint the trial's; until then a resume needs the one before.
                if (saved is not null)
                {
                    recorded = epoch.GlobalStep;
                    _options.Checkpoints!.DeleteAllBut(saved);
                }
                if (decision == SchedulerDecision.Stop) break;
            }
        }
        catch (OperationCanceledException) when (drain.IsCancellationRequested && !cancellation.IsCancellationRequested)
        {
            GiveBack(observer, recorded);
            return null;
        }
        finally
        {
            _steps.OnStep = null;
        }
        return Complete(observer, epochs);
    }

    /// <summary>The final evaluation, the model, the result; a finished trial resumes no more, so its checkpoints go.</summary>
    private TrialResult? Complete(ITrialObserver observer, List<EpochResult> epochs)
    {
        var test = _spec.TestSplit is { } split ? Evaluate(split) : null;
        // Resumed with every epoch done (its silo died saving the model, or the disk was full then), the run trained no
        // epoch to report: the last epoch's validation, measured again on the same weights, is the trial's result.
        var validation = test is null && epochs.Count == 0 ? Evaluate(_spec.EvalSplit) : null;
        var model = _options.ModelDirectory is { } directory ? Path.GetFullPath(directory) : null;
        if (model is not null) _trainable.SaveModel(model);
        var trainSeconds = epochs.Sum(e => e.TrainSeconds);
        // Each epoch's rate weighted by its time: the rate of the whole run, which a plain mean of rates is not.
        double Throughput(Func<EpochResult, double> rate) => trainSeconds > 0 ? epochs.Sum(e => rate(e) * e.TrainSeconds) / trainSeconds : 0;
        var result = new TrialResult(
            _spec,
            epochs,
            test,
            _trainable.LossCurve,
            Throughput(e => e.SamplesPerSecond),
            Throughput(e => e.TokensPerSecond),
            _clock.Elapsed.TotalSeconds,
            _trainable.TrainableParameters,
            _trainable.TotalParameters,
            _trainable.DeviceName,
            model,
            _trainable.MicroBatchSize,
            _trainable.EvalBatchSize,
            _trainable.CompletedEpochs,
            _trainable.GlobalStep,
            validation);
        if (!observer.OnCompleted(result))
        {
            // Another run holds the trial and its checkpoints; this run's model is nobody's.
            if (model is not null) Directory.Delete(model, recursive: true);
            return null;
        }
        _options.Checkpoints?.DeleteAllBut(model);
        return result;
    }

    /// <summary>Checkpoints the trial at the step it reached, unless the trial's checkpoint is there already, and hands it back.</summary>
    private void GiveBack(ITrialObserver observer, int recorded)
    {
        var saved = _trainable.GlobalStep > recorded ? Checkpoint() : null;
        if (observer.OnGivenBack(_trainable.GlobalStep, saved) && saved is not null) _options.Checkpoints!.DeleteAllBut(saved);
    }

    /// <summary>
    /// Every <see cref="TrialSessionOptions.CheckpointEvery"/> optimizer steps, on the training thread between two
    /// steps: writes a checkpoint and offers it to the observer. Returns whether it is now the trial's.
    /// </summary>
    private bool CheckpointWithinEpoch(ITrialObserver observer, TrainingProgress step, CancellationToken cancellation)
    {
        var every = _options.CheckpointEvery;
        var stepsPerEpoch = step.TotalSteps / step.Epochs;
        if (_options.Checkpoints is not { } folder || every <= 0 || step.Step % every != 0 || step.Step % stepsPerEpoch == 0
            || cancellation.IsCancellationRequested)
            return false;
        if (TrySave(folder) is not { } saved) return false;
        if (!observer.OnCheckpoint(step.Step, saved)) return false;
        folder.DeleteAllBut(saved);
        return true;
    }

    /// <summary>Saves the trainable at its current step, or nothing where the session writes no checkpoints.</summary>
    private string? Checkpoint() => _options.Checkpoints is { } folder ? TrySave(folder) : null;

    /// <summary>
    /// The checkpoint written, or null where the disk refused it (full, read-only): a checkpoint only shortens what a
    /// lost run costs, so training goes on and the trial keeps resuming from the one before. The partial directory
    /// goes, so that nothing ever resumes from it. The final model has no such fallback: its failure fails the attempt.
    /// </summary>
    private string? TrySave(CheckpointFolder folder)
    {
        var directory = folder.At(_trainable.GlobalStep);
        try
        {
            _trainable.SaveCheckpoint(directory);
            return directory;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Checkpoint at step {Step} not written to {Directory} ({Error}); training goes on, and the trial resumes from its last checkpoint if this run is lost",
                _trainable.GlobalStep, directory, e.Message);
            try
            {
                if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                _logger.LogWarning("Partial checkpoint {Directory} not removed ({Error}); the trial's next accepted checkpoint deletes it", directory, cleanup.Message);
            }
            return null;
        }
    }

    public void Dispose() => _trainable.Dispose();

    /// <summary>
    /// The progress the trainable reports to, made before the trainable and so before any observer: it passes each
    /// step on to the run under way, if any (setup and evaluation report none).
    /// </summary>
    private sealed class StepRelay : IProgress<TrainingProgress>
    {
        public Action<TrainingProgress>? OnStep { get; set; }

        public void Report(TrainingProgress value) => OnStep?.Invoke(value);
    }
}

/// <summary>
/// The checkpoint a run was to resume from cannot be loaded. Retrying it would fail the same way every time, so the
/// trial drops it and starts again from step 0 (the grid's trial grain does, counting it), rather than fail. The
/// message is the trainable's own, which names the file and what is wrong with it.
/// </summary>
public sealed class UnreadableCheckpointException(string checkpoint, Exception inner) : Exception(inner.Message, inner)
{
    public string Checkpoint { get; } = checkpoint;
}
