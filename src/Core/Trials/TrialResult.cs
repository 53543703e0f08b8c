using System.Text.Json.Serialization;
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
/// sizes are those it ended with: below the spec's when it ran out of memory and halved them. A run resumed from a
/// checkpoint lists only the epochs it trained itself, and measures throughput and wall time over them;
/// <paramref name="EpochsTrained"/> and <paramref name="GlobalStep"/> count the trial's whole training.
/// <paramref name="Validation"/> is set only for a run that trained no epoch (resumed with every epoch done) and has no
/// test split: the validation of the weights it resumed, its result.
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
    int EvalBatchSize,
    int EpochsTrained,
    int GlobalStep,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] EvaluationMetrics? Validation = null)
{
    /// <summary>The test metrics where a test split exists, else the last validation.</summary>
    public EvaluationMetrics Final => Test ?? (Epochs is [.., var last] ? last.Validation : Validation)
        ?? throw new InvalidOperationException("a result without epochs has its test or validation metrics.");
}
