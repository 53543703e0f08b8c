using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Import;
using ExperimentGrid.Core.Modeling;

namespace ExperimentGrid.Core.Trials;

/// <summary>
/// One trial: task + model + dataset + hyperparameters. The same names serve every task where they mean the same
/// thing, so a sweep varies them uniformly. Each property is declared once here, with its default and a
/// <see cref="TrialFieldAttribute"/>; <see cref="TrialSchema"/> derives flags, file keys and validation from them, and
/// <see cref="TrialValues"/> builds a checked spec from what people write.
/// </summary>
public sealed record TrialSpec
{
    [TrialField("What the trial trains.")]
    public TaskKind Task { get; init; } = TaskKind.TextClassification;

    [TrialField("A bundled model (grid models lists them) or a Hugging Face model directory.", Aliases = ["-m"])]
    public string Model { get; init; } = BundledModels.Default;

    [TrialField("A dataset name under the data root (rotten_tomatoes, conll2003, wnut17), a directory of split files, or one file.", Aliases = ["-d"])]
    public string Dataset { get; init; } = "rotten_tomatoes";

    [TrialField("Where dataset names resolve; unset, $EXPERIMENTGRID_DATA, else ../shared/datasets beside the repository.")]
    public string? DataRoot { get; init; }

    [TrialField("Field holding the text.")]
    public string TextColumn { get; init; } = "text";

    [TrialField("Field holding the integer class id.")]
    public string LabelColumn { get; init; } = "label";

    [TrialField("The split trained on.")]
    public string TrainSplit { get; init; } = "train";

    [TrialField("Evaluated after every epoch.")]
    public string EvalSplit { get; init; } = "validation";

    [TrialField("Evaluated once at the end ('none' to skip).")]
    public string? TestSplit { get; init; } = "test";

    [TrialField("Train on a seeded random slice of this many examples.", Min = 1)]
    public int? TrainLimit { get; init; }

    [TrialField("Evaluate on a seeded random slice of this many examples.", Min = 1)]
    public int? EvalLimit { get; init; }

    [TrialField("Comma-separated class names by id, e.g. neg,pos (token classification: IOB2 tags, default taken from the data); saved as id2label.",
        Sweepable = false, Check = nameof(DistinctLabelNames))]
    public IReadOnlyList<string>? LabelNames { get; init; }

    [TrialField("Passes over the training split.", Aliases = ["-e"], Min = 1)]
    public int Epochs { get; init; } = 1;

    [TrialField("Peak AdamW learning rate.", Aliases = ["--lr"], Min = 0, MinExclusive = true, Max = 1)]
    public double LearningRate { get; init; } = 2e-5;

    [TrialField("Examples per optimizer step.", Aliases = ["-b"], Min = 1)]
    public int BatchSize { get; init; } = 16;

    [TrialField("Examples per forward pass, gradients accumulated over the batch (the same step, less memory); unset, the whole batch. A trial that runs out of memory halves it and redoes the step.",
        Min = 1)]
    public int? MicroBatchSize { get; init; }

    [TrialField("Examples per forward pass in evaluation.", Min = 1)]
    public int EvalBatchSize { get; init; } = 64;

    [TrialField("AdamW weight decay, not applied to biases and LayerNorm weights.", Min = 0, Max = 1)]
    public double WeightDecay { get; init; } = 0.01;

    [TrialField("Fraction of steps with a linear warm-up before the linear decay.", Min = 0, Max = 1)]
    public double WarmupRatio { get; init; }

    [TrialField("Gradient clipping norm.", Min = 0, MinExclusive = true)]
    public double MaxGradNorm { get; init; } = 1.0;

    [TrialField("Fixes the head's initialisation, dropout, shuffling and slices.")]
    public int Seed { get; init; } = 42;

    [TrialField("Truncate texts to this many tokens, [CLS] and [SEP] included.", Min = 8, Max = 8192, Unit = "tokens")]
    public int MaxLength { get; init; } = 512;

    [TrialField("Freeze the embeddings and the bottom k encoder layers (k), or everything but the head (all; for setfit, no contrastive training: the head alone is fitted on the model's embeddings).")]
    public FreezeDepth Freeze { get; init; } = FreezeDepth.None;

    /// <remarks>On by default: it changes no result beyond floating-point noise; off, for comparison or to save disk.</remarks>
    [TrialField("Read the frozen prefix's outputs (embeddings and the bottom freeze layers) from the shared cache, computed once for every trial and epoch with the same model and data, instead of running it in every forward pass (text and token classification, fp32).")]
    public bool PrefixCache { get; init; } = true;

    /// <remarks>Not sweepable: a sweep's trials run on the device of the slot that takes them.</remarks>
    [TrialField("auto, cpu, cuda or cuda:N.", Sweepable = false, Check = nameof(KnownDevice))]
    public string Device { get; init; } = "auto";

    [TrialField("The arithmetic of forward and backward passes: bf16 computes matmuls in bfloat16 with fp32 weights, optimizer, LayerNorm and loss (mixed precision).")]
    public ComputePrecision Precision { get; init; } = ComputePrecision.Fp32;

    [TrialField("Let fp32 matmuls and convolutions on CUDA use TF32 tensor cores (no effect on the CPU).")]
    public bool Tf32 { get; init; } = true;

    [TrialField("How targets are chosen: single word pieces (token), or a piece with its ## pieces (whole-word).", Tasks = [TaskKind.MaskedLm])]
    public MaskingStrategy Masking { get; init; } = MaskingStrategy.Token;

    [TrialField("Share of pieces chosen as targets.", Tasks = [TaskKind.MaskedLm], Min = 0, MinExclusive = true, Max = 1)]
    public double MlmProbability { get; init; } = Data.Masking.DefaultProbability;

    /// <remarks>
    /// Both tasks draw the same examples for the same seed, so that a few-shot comparison trains SetFit and a fine-tune
    /// on one sample.
    /// </remarks>
    [TrialField("Labelled examples drawn per class from the training split by a seeded shuffle; setfit: 0 trains zero-shot on the label names. Unset: 16 for setfit, every example for text-classification.",
        Tasks = [TaskKind.SetFit, TaskKind.TextClassification], Min = 0)]
    public int? SamplesPerClass { get; init; }

    /// <summary>SetFit's examples per class where the spec sets none: the seed notebook's 16-shot run.</summary>
    public const int SetFitSamplesPerClass = 16;

    [TrialField("Pair-generation rounds; each pairs every sampled example once with its class and once against it.", Tasks = [TaskKind.SetFit], Min = 1)]
    public int Iterations { get; init; } = 20;

    private static string? DistinctLabelNames(IReadOnlyList<string> names) =>
        names.Count < 2 || names.Distinct().Count() != names.Count || names.Any(string.IsNullOrWhiteSpace)
            ? "need at least two distinct, non-empty names"
            : null;

    private static string? KnownDevice(string device) =>
        Devices.IsValid(device) ? null : $"'{device}' is not a device (allowed: auto, cpu, cuda, cuda:N)";
}
