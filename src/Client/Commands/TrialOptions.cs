using System.CommandLine;
using ExperimentGrid.Core.Import;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Client.Commands;

/// <summary>The flags that describe a trial, shared by every command that builds one; names are TrialConfig's in kebab case.</summary>
internal sealed class TrialOptions
{
    public Option<FileInfo?> Config { get; } = new("--config") { Description = "A YAML or JSON trial file with the same keys as the flags (snake_case); flags override it." };
    public Option<string?> Task { get; } = new("--task") { Description = $"The task: {string.Join(", ", TaskKinds.Names)}. Default text-classification." };
    public Option<string?> Model { get; } = new("--model", "-m") { Description = $"A bundled model ({string.Join(", ", BundledModels.All.Select(m => m.Name))}) or a Hugging Face model directory. Default {BundledModels.Default}." };
    public Option<string?> Dataset { get; } = new("--dataset", "-d") { Description = "A dataset name under the data root (rotten_tomatoes, conll2003, wnut17), a directory of split files, or one file. Default rotten_tomatoes." };
    public Option<string?> DataRoot { get; } = new("--data-root") { Description = "Where dataset names resolve. Default $EXPERIMENTGRID_DATA, else ../shared/datasets beside the repository." };
    public Option<string?> TextColumn { get; } = new("--text-column") { Description = "Field holding the text. Default text." };
    public Option<string?> LabelColumn { get; } = new("--label-column") { Description = "Field holding the integer class id. Default label." };
    public Option<string?> TrainSplit { get; } = new("--train-split") { Description = "Default train." };
    public Option<string?> EvalSplit { get; } = new("--eval-split") { Description = "Evaluated after every epoch. Default validation." };
    public Option<string?> TestSplit { get; } = new("--test-split") { Description = "Evaluated once at the end ('none' to skip). Default test." };
    public Option<int?> TrainLimit { get; } = new("--train-limit") { Description = "Train on a seeded random slice of this many examples." };
    public Option<int?> EvalLimit { get; } = new("--eval-limit") { Description = "Evaluate on a seeded random slice of this many examples." };
    public Option<string?> LabelNames { get; } = new("--label-names") { Description = "Comma-separated class names by id, e.g. neg,pos (token classification: IOB2 tags, default taken from the data); saved as id2label." };
    public Option<int?> Epochs { get; } = new("--epochs", "-e") { Description = "Default 1." };
    public Option<double?> LearningRate { get; } = new("--learning-rate", "--lr") { Description = "Peak AdamW learning rate. Default 2e-5." };
    public Option<int?> BatchSize { get; } = new("--batch-size", "-b") { Description = "Default 16." };
    public Option<int?> MicroBatchSize { get; } = new("--micro-batch-size") { Description = "Examples per forward pass, gradients accumulated over the batch (same result, less memory). Default the batch size; halved automatically on out of memory." };
    public Option<int?> EvalBatchSize { get; } = new("--eval-batch-size") { Description = "Default 64." };
    public Option<double?> WeightDecay { get; } = new("--weight-decay") { Description = "AdamW weight decay, not applied to biases and LayerNorm weights. Default 0.01." };
    public Option<double?> WarmupRatio { get; } = new("--warmup-ratio") { Description = "Fraction of steps with a linear warm-up before the linear decay. Default 0." };
    public Option<double?> MaxGradNorm { get; } = new("--max-grad-norm") { Description = "Gradient clipping norm. Default 1.0." };
    public Option<int?> Seed { get; } = new("--seed") { Description = "Fixes the head's initialisation, dropout, shuffling and slices. Default 42." };
    public Option<int?> MaxLength { get; } = new("--max-length") { Description = "Truncate texts to this many tokens, [CLS] and [SEP] included. Default 512." };
    public Option<string?> Freeze { get; } = new("--freeze") { Description = "Freeze the embeddings and the bottom k encoder layers (k), or everything but the head (all). Default 0." };
    public Option<string?> Device { get; } = new("--device") { Description = "auto, cpu, cuda or cuda:N. Default auto." };
    public Option<string?> Precision { get; } = new("--precision") { Description = $"{string.Join(" or ", ComputePrecisions.Names)}: bf16 computes matmuls in bfloat16 with fp32 weights, optimizer, LayerNorm and loss (mixed precision). Default fp32." };
    public Option<bool?> Tf32 { get; } = new("--tf32") { Description = "true or false: let fp32 matmuls on CUDA use TF32 tensor cores (no effect on the CPU). Default true.", Arity = ArgumentArity.ExactlyOne };
    public Option<string?> Masking { get; } = new("--masking") { Description = "masked-lm: token or whole-word (a piece with its ## pieces). Default token." };
    public Option<double?> MlmProbability { get; } = new("--mlm-probability") { Description = "masked-lm: share of pieces chosen as targets. Default 0.15." };
    public Option<int?> SamplesPerClass { get; } = new("--samples-per-class") { Description = "setfit: labelled examples drawn per class; 0 trains zero-shot on the label names. Default 16." };
    public Option<int?> Iterations { get; } = new("--iterations") { Description = "setfit: pair rounds; each pairs every example once with its class and once against it. Default 20." };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[]
        {
            Config, Task, Model, Dataset, DataRoot, TextColumn, LabelColumn, TrainSplit, EvalSplit, TestSplit, TrainLimit, EvalLimit,
            LabelNames, Epochs, LearningRate, BatchSize, MicroBatchSize, EvalBatchSize, WeightDecay, WarmupRatio, MaxGradNorm, Seed, MaxLength,
            Freeze, Device, Precision, Tf32, Masking, MlmProbability, SamplesPerClass, Iterations,
        })
            command.Options.Add(option);
    }

    /// <summary>The --config file with the flags laid over it, validated.</summary>
    public TrialSpec Read(ParseResult parse, string commandName)
    {
        var configPath = parse.GetValue(Config);
        var fromFile = configPath is null ? new TrialConfig() : TrialConfig.Load(configPath.FullName);
        var flags = new TrialConfig
        {
            Task = parse.GetValue(Task),
            Model = parse.GetValue(Model),
            Dataset = parse.GetValue(Dataset),
            DataRoot = parse.GetValue(DataRoot),
            TextColumn = parse.GetValue(TextColumn),
            LabelColumn = parse.GetValue(LabelColumn),
            TrainSplit = parse.GetValue(TrainSplit),
            EvalSplit = parse.GetValue(EvalSplit),
            TestSplit = parse.GetValue(TestSplit),
            TrainLimit = parse.GetValue(TrainLimit),
            EvalLimit = parse.GetValue(EvalLimit),
            LabelNames = parse.GetValue(LabelNames)?.Split(',', StringSplitOptions.TrimEntries).ToList(),
            Epochs = parse.GetValue(Epochs),
            LearningRate = parse.GetValue(LearningRate),
            BatchSize = parse.GetValue(BatchSize),
            MicroBatchSize = parse.GetValue(MicroBatchSize),
            EvalBatchSize = parse.GetValue(EvalBatchSize),
            WeightDecay = parse.GetValue(WeightDecay),
            WarmupRatio = parse.GetValue(WarmupRatio),
            MaxGradNorm = parse.GetValue(MaxGradNorm),
            Seed = parse.GetValue(Seed),
            MaxLength = parse.GetValue(MaxLength),
            Freeze = parse.GetValue(Freeze),
            Device = parse.GetValue(Device),
            Precision = parse.GetValue(Precision),
            Tf32 = parse.GetValue(Tf32),
            Masking = parse.GetValue(Masking),
            MlmProbability = parse.GetValue(MlmProbability),
            SamplesPerClass = parse.GetValue(SamplesPerClass),
            Iterations = parse.GetValue(Iterations),
        };
        return fromFile.Overlay(flags).ToSpec(configPath?.FullName ?? commandName);
    }
}
