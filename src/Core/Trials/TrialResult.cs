using ExperimentGrid.Core.Metrics;

namespace ExperimentGrid.Core.Trials;

public sealed record LossPoint(int Step, double Loss);

/// <summary>What one epoch (one step of a trainable) produced.</summary>
public sealed record EpochResult(
    int Epoch,
    int GlobalStep,
    double TrainLoss,
    EvaluationMetrics Validation,
    double TrainSeconds,
    double SamplesPerSecond,
    double TokensPerSecond);

/// <summary>
/// A finished trial: the metrics of every epoch, the test metrics, throughput and where the model was saved. The batch
/// sizes are those it ended with: below the spec's when it ran out of memory and halved them.
/// </summary>
public sealed record TrialResult(
    TrialSpec Spec,
    IReadOnlyList<EpochResult> Epochs,
    EvaluationMetrics? Test,
    IReadOnlyList<LossPoint> LossCurve,
    double SamplesPerSecond,
    double TokensPerSecond,
    double WallSeconds,
    long TrainableParameters,
    long TotalParameters,
    string Device,
    string? ModelDirectory,
    int MicroBatchSize,
    int EvalBatchSize)
{
    /// <summary>The test metrics where a test split exists, else the last validation.</summary>
    public EvaluationMetrics Final => Test ?? Epochs[^1].Validation;
}
