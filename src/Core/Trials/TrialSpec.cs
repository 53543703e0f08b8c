using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Modeling;

namespace ExperimentGrid.Core.Trials;

/// <summary>
/// One trial: task + model + dataset + hyperparameters. The same names serve every task where they mean the same
/// thing, so a sweep varies them uniformly. Build one from a <see cref="TrialConfig"/> (flags or YAML), which
/// validates every field and names each problem.
/// </summary>
public sealed record TrialSpec
{
    public TaskKind Task { get; init; } = TaskKind.TextClassification;
    public string Model { get; init; } = "minilm";
    public string Dataset { get; init; } = "rotten_tomatoes";
    public string? DataRoot { get; init; }
    public string TextColumn { get; init; } = "text";
    public string LabelColumn { get; init; } = "label";
    public string TrainSplit { get; init; } = "train";
    public string EvalSplit { get; init; } = "validation";
    public string? TestSplit { get; init; } = "test";
    public int? TrainLimit { get; init; }
    public int? EvalLimit { get; init; }
    public IReadOnlyList<string>? LabelNames { get; init; }

    public int Epochs { get; init; } = 1;
    public double LearningRate { get; init; } = 2e-5;
    public int BatchSize { get; init; } = 16;

    /// <summary>
    /// Examples per forward pass; a batch runs as several with gradients accumulated, the same step as one pass over
    /// the batch. Null: the whole batch. A trial that runs out of memory halves it and redoes the step.
    /// </summary>
    public int? MicroBatchSize { get; init; }

    public int EvalBatchSize { get; init; } = 64;
    public double WeightDecay { get; init; } = 0.01;
    public double WarmupRatio { get; init; }
    public double MaxGradNorm { get; init; } = 1.0;
    public int Seed { get; init; } = 42;
    public int MaxLength { get; init; } = 512;
    public FreezeDepth Freeze { get; init; } = FreezeDepth.None;
    public string Device { get; init; } = "auto";

    /// <summary>The arithmetic of forward and backward passes; weights and optimizer state stay fp32 either way.</summary>
    public ComputePrecision Precision { get; init; } = ComputePrecision.Fp32;

    /// <summary>Whether fp32 matmuls and convolutions on CUDA may use TF32 tensor cores; no effect on the CPU.</summary>
    public bool Tf32 { get; init; } = true;

    /// <summary>masked-lm: how targets are chosen.</summary>
    public MaskingStrategy Masking { get; init; } = MaskingStrategy.Token;

    /// <summary>masked-lm: the share of pieces chosen as targets.</summary>
    public double MlmProbability { get; init; } = Data.Masking.DefaultProbability;

    /// <summary>setfit: labelled examples drawn per class from the training split; 0 trains zero-shot on label names.</summary>
    public int SamplesPerClass { get; init; } = 16;

    /// <summary>setfit: pair-generation rounds; each pairs every sampled example once positively and once negatively.</summary>
    public int Iterations { get; init; } = 20;
}
