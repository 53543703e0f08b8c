using System.Globalization;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Modeling;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace ExperimentGrid.Core.Trials;

/// <summary>
/// A trial as written by people: a YAML or JSON file with snake_case keys, or CLI flags laid over one. Every field is
/// optional here; <see cref="ToSpec"/> fills defaults and rejects bad values, naming each field and what is allowed.
/// </summary>
public sealed class TrialConfig
{
    public string? Task { get; set; }
    public string? Model { get; set; }
    public string? Dataset { get; set; }
    public string? DataRoot { get; set; }
    public string? TextColumn { get; set; }
    public string? LabelColumn { get; set; }
    public string? TrainSplit { get; set; }
    public string? EvalSplit { get; set; }
    public string? TestSplit { get; set; }
    public int? TrainLimit { get; set; }
    public int? EvalLimit { get; set; }
    public List<string>? LabelNames { get; set; }
    public int? Epochs { get; set; }
    public double? LearningRate { get; set; }
    public int? BatchSize { get; set; }
    public int? MicroBatchSize { get; set; }
    public int? EvalBatchSize { get; set; }
    public double? WeightDecay { get; set; }
    public double? WarmupRatio { get; set; }
    public double? MaxGradNorm { get; set; }
    public int? Seed { get; set; }
    public int? MaxLength { get; set; }
    public string? Freeze { get; set; }
    public string? Device { get; set; }
    public string? Precision { get; set; }
    public bool? Tf32 { get; set; }
    public string? Masking { get; set; }
    public double? MlmProbability { get; set; }
    public int? SamplesPerClass { get; set; }
    public int? Iterations { get; set; }

    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .Build();

    /// <summary>Reads a YAML (or JSON, a subset of YAML) trial file; an unknown key or bad value names its line.</summary>
    public static TrialConfig Load(string path)
    {
        if (!File.Exists(path)) throw new TrialSpecException($"{path}: config file not found.");
        try
        {
            return Yaml.Deserialize<TrialConfig?>(File.ReadAllText(path)) ?? new TrialConfig();
        }
        catch (YamlException e)
        {
            var inner = e.InnerException is { } i ? $" ({i.Message})" : "";
            throw new TrialSpecException($"{path}:{e.Start.Line}: {e.Message}{inner}");
        }
    }

    /// <summary>Sets each field that <paramref name="overrides"/> sets; flags win over the file.</summary>
    public TrialConfig Overlay(TrialConfig overrides)
    {
        foreach (var property in typeof(TrialConfig).GetProperties())
            if (property.GetValue(overrides) is { } value) property.SetValue(this, value);
        return this;
    }

    public TrialSpec ToSpec(string source = "trial")
    {
        var problems = new List<string>();
        var spec = TryToSpec(problems);
        if (spec is null)
            throw new TrialSpecException($"{source}: {problems.Count} invalid field(s):\n  - {string.Join("\n  - ", problems)}");
        return spec;
    }

    /// <summary>
    /// The spec, or null after adding each problem to <paramref name="problems"/> as "field: what is wrong"; a sweep
    /// gathers these over all its trials and says where in its file each field was set.
    /// </summary>
    internal TrialSpec? TryToSpec(List<string> problems)
    {
        var before = problems.Count;
        var defaults = new TrialSpec();

        var task = defaults.Task;
        if (Task is not null && !TaskKinds.TryParse(Task, out task))
            problems.Add($"task: '{Task}' is not a task (allowed: {string.Join(", ", TaskKinds.Names)})");

        var freeze = defaults.Freeze;
        if (Freeze is not null)
        {
            try
            {
                freeze = FreezeDepth.Parse(Freeze);
            }
            catch (FormatException e)
            {
                problems.Add($"freeze: {e.Message.TrimEnd('.')}");
            }
        }

        void Positive(string field, int? value)
        {
            if (value is <= 0) problems.Add($"{field}: must be a positive integer, got {value}");
        }
        void Range(string field, double? value, double min, double max, bool minInclusive = true)
        {
            if (value is not { } v) return;
            if (double.IsNaN(v) || (minInclusive ? v < min : v <= min) || v > max)
                problems.Add($"{field}: must be in {(minInclusive ? "[" : "(")}{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}], got {v.ToString(CultureInfo.InvariantCulture)}");
        }
        Positive("epochs", Epochs);
        Positive("batch_size", BatchSize);
        Positive("micro_batch_size", MicroBatchSize);
        if (MicroBatchSize > (BatchSize ?? defaults.BatchSize))
            problems.Add($"micro_batch_size: {MicroBatchSize} exceeds batch_size {BatchSize ?? defaults.BatchSize}; a micro-batch is a slice of a batch");
        Positive("eval_batch_size", EvalBatchSize);
        Positive("train_limit", TrainLimit);
        Positive("eval_limit", EvalLimit);
        Range("learning_rate", LearningRate, 0, 1, minInclusive: false);
        Range("weight_decay", WeightDecay, 0, 1);
        Range("warmup_ratio", WarmupRatio, 0, 1);
        Range("max_grad_norm", MaxGradNorm, 0, double.MaxValue, minInclusive: false);
        if (MaxLength is { } maxLength && (maxLength < 8 || maxLength > 8192))
            problems.Add($"max_length: must be between 8 and 8192 tokens, got {maxLength}");
        if (Device is not null && !Devices.IsValid(Device))
            problems.Add($"device: '{Device}' is not a device (allowed: auto, cpu, cuda, cuda:N)");
        var precision = defaults.Precision;
        if (Precision is not null && !ComputePrecisions.TryParse(Precision, out precision))
            problems.Add($"precision: '{Precision}' is not a precision (allowed: {string.Join(", ", ComputePrecisions.Names)})");
        if (LabelNames is { } names && (names.Count < 2 || names.Distinct().Count() != names.Count || names.Any(string.IsNullOrWhiteSpace)))
            problems.Add("label_names: need at least two distinct, non-empty names");
        foreach (var (field, value) in new[] { ("model", Model), ("dataset", Dataset), ("text_column", TextColumn), ("label_column", LabelColumn), ("train_split", TrainSplit), ("eval_split", EvalSplit) })
            if (value is not null && string.IsNullOrWhiteSpace(value)) problems.Add($"{field}: must not be empty");

        var masking = defaults.Masking;
        if (Masking is not null && !TryParseMasking(Masking, out masking))
            problems.Add($"masking: '{Masking}' is not a masking (allowed: token, whole-word)");
        Range("mlm_probability", MlmProbability, 0, 1, minInclusive: false);
        if (SamplesPerClass is < 0) problems.Add($"samples_per_class: must be 0 (zero-shot) or more, got {SamplesPerClass}");
        Positive("iterations", Iterations);
        void OnlyFor(TaskKind owner, string field, object? value)
        {
            if (value is not null && task != owner)
                problems.Add($"{field}: applies only to task {TaskKinds.Name(owner)}, not {TaskKinds.Name(task)}");
        }
        OnlyFor(TaskKind.MaskedLm, "masking", Masking);
        OnlyFor(TaskKind.MaskedLm, "mlm_probability", MlmProbability);
        OnlyFor(TaskKind.SetFit, "samples_per_class", SamplesPerClass);
        OnlyFor(TaskKind.SetFit, "iterations", Iterations);
        if (task == TaskKind.SetFit && SamplesPerClass == 0 && LabelNames is null)
            problems.Add("samples_per_class: 0 trains zero-shot from the label names, so label_names must be given");

        if (problems.Count > before) return null;

        return new TrialSpec
        {
            Task = task,
            Model = Model ?? defaults.Model,
            Dataset = Dataset ?? defaults.Dataset,
            DataRoot = DataRoot,
            TextColumn = TextColumn ?? defaults.TextColumn,
            LabelColumn = LabelColumn ?? defaults.LabelColumn,
            TrainSplit = TrainSplit ?? defaults.TrainSplit,
            EvalSplit = EvalSplit ?? defaults.EvalSplit,
            TestSplit = TestSplit is null ? defaults.TestSplit : TestSplit is "" or "none" ? null : TestSplit,
            TrainLimit = TrainLimit,
            EvalLimit = EvalLimit,
            LabelNames = LabelNames,
            Epochs = Epochs ?? defaults.Epochs,
            LearningRate = LearningRate ?? defaults.LearningRate,
            BatchSize = BatchSize ?? defaults.BatchSize,
            MicroBatchSize = MicroBatchSize,
            EvalBatchSize = EvalBatchSize ?? defaults.EvalBatchSize,
            WeightDecay = WeightDecay ?? defaults.WeightDecay,
            WarmupRatio = WarmupRatio ?? defaults.WarmupRatio,
            MaxGradNorm = MaxGradNorm ?? defaults.MaxGradNorm,
            Seed = Seed ?? defaults.Seed,
            MaxLength = MaxLength ?? defaults.MaxLength,
            Freeze = freeze,
            Device = Device ?? defaults.Device,
            Precision = precision,
            Tf32 = Tf32 ?? defaults.Tf32,
            Masking = masking,
            MlmProbability = MlmProbability ?? defaults.MlmProbability,
            SamplesPerClass = SamplesPerClass ?? defaults.SamplesPerClass,
            Iterations = Iterations ?? defaults.Iterations,
        };
    }

    private static bool TryParseMasking(string text, out MaskingStrategy masking)
    {
        masking = default;
        switch (text.Trim().ToLowerInvariant())
        {
            case "token": masking = MaskingStrategy.Token; return true;
            case "whole-word" or "whole_word": masking = MaskingStrategy.WholeWord; return true;
            default: return false;
        }
    }
}

public sealed class TrialSpecException(string message) : Exception(message);
