using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;

namespace ExperimentGrid.Core.Training;

/// <summary>
/// Ray Tune's trainable contract: set up once, then step (one epoch of training and its evaluation) until done,
/// checkpointing between steps so a scheduler can pause, move or resume the trial.
/// </summary>
public interface ITrainable : IDisposable
{
    int Epochs { get; }
    int CompletedEpochs { get; }
    int GlobalStep { get; }

    /// <summary>Loads the model, reads and tokenizes the data, builds the optimizer. Throws on bad input, naming it.</summary>
    void Setup();

    /// <summary>Trains one epoch and evaluates it.</summary>
    EpochResult Step(CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes everything resuming needs: weights, optimizer moments, counters and RNG state. Call it between steps, or
    /// from the progress callback, which runs on the training thread after each optimizer step, for a mid-epoch checkpoint.
    /// </summary>
    void SaveCheckpoint(string directory);

    /// <summary>Restores a checkpoint written by <see cref="SaveCheckpoint"/> after <see cref="Setup"/>.</summary>
    void LoadCheckpoint(string directory);
}

/// <summary>A trainable that fine-tunes an encoder for a labelled task: what running a whole trial needs of it.</summary>
public interface ISupervisedTrainable : ITrainable
{
    IReadOnlyList<LossPoint> LossCurve { get; }
    long TrainableParameters { get; }
    long TotalParameters { get; }
    string DeviceName { get; }

    /// <summary>Examples per training forward pass now: below the batch size after an out-of-memory error.</summary>
    int MicroBatchSize { get; }

    /// <summary>Examples per evaluation forward pass now: below eval_batch_size after an out-of-memory error.</summary>
    int EvalBatchSize { get; }

    /// <summary>Metrics on another split of the trial's dataset (the test split, say).</summary>
    Metrics.EvaluationMetrics EvaluateSplit(string split, int? limit = null);

    /// <summary>Writes the trained model as a Hugging Face directory.</summary>
    void SaveModel(string directory);
}

/// <summary>Live training progress, reported after every optimizer step; the micro-batch as it stands after any out-of-memory retry.</summary>
public sealed record TrainingProgress(
    int Epoch,
    int Epochs,
    int Step,
    int TotalSteps,
    double Loss,
    double LearningRate,
    double SamplesPerSecond,
    double TokensPerSecond,
    TimeSpan Elapsed,
    int MicroBatchSize)
{
    /// <summary>This epoch's training time per optimizer step so far (<see cref="Elapsed"/> is the epoch's); null before its first step.</summary>
    public TimeSpan? StepTime()
    {
        if (Epochs <= 0 || TotalSteps <= 0) return null;
        var stepsThisEpoch = Step - (Epoch - 1) * (TotalSteps / Epochs);
        return stepsThisEpoch > 0 && Elapsed > TimeSpan.Zero ? Elapsed / stepsThisEpoch : null;
    }

    /// <summary>
    /// The training time left at <see cref="StepTime"/>: evaluations and checkpoints are not counted. Null before the
    /// epoch's first step.
    /// </summary>
    public TimeSpan? EstimatedRemaining() => StepTime() * Math.Max(0, TotalSteps - Step);
}

/// <summary>
/// How a trial's trainable is made: <see cref="TrialRunner.Create"/> in production; tests and benchmarks of the grid
/// supply fakes that train nothing. The progress it is given is the session's, which checkpoints from it.
/// </summary>
public delegate ISupervisedTrainable TrainableFactory(TrialSpec spec, ILogger logger, IProgress<TrainingProgress> progress);

/// <summary>Training produced a non-finite loss; the trial fails instead of training on garbage.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
