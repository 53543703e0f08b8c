using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;

namespace ExperimentGrid.Core.Training;

/// <summary>Runs one trial to completion: setup, every epoch, the test evaluation, the saved model and metrics.json.</summary>
public static class TrialRunner
{
    public const string MetricsFile = "metrics.json";

    public static TrialResult Run(TrialSpec spec, string? outputDirectory, ILogger? logger = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        using var trainable = Create(spec, logger, progress);
        trainable.Setup();
        var epochs = new List<EpochResult>();
        while (trainable.CompletedEpochs < trainable.Epochs) epochs.Add(trainable.Step(cancellationToken));
        var test = spec.TestSplit is { } testSplit ? trainable.EvaluateSplit(testSplit, spec.EvalLimit) : null;

        if (outputDirectory is not null) trainable.SaveModel(outputDirectory);
        var trainSeconds = epochs.Sum(e => e.TrainSeconds);
        var result = new TrialResult(
            spec,
            epochs,
            test,
            trainable.LossCurve,
            epochs.Sum(e => e.SamplesPerSecond * e.TrainSeconds) / trainSeconds,
            epochs.Sum(e => e.TokensPerSecond * e.TrainSeconds) / trainSeconds,
            clock.Elapsed.TotalSeconds,
            trainable.TrainableParameters,
            trainable.TotalParameters,
            trainable.DeviceName,
            outputDirectory is null ? null : Path.GetFullPath(outputDirectory),
            trainable.MicroBatchSize,
            trainable.EvalBatchSize);
        if (outputDirectory is not null)
            File.WriteAllText(Path.Combine(outputDirectory, MetricsFile), ToJson(result));
        return result;
    }

    /// <summary>
    /// Measures the spec's model on one split without training it: what a checkpoint or a bundled model scores before
    /// a trial starts (for masked-LM, the perplexity that continued pretraining sets out to lower).
    /// </summary>
    public static Metrics.EvaluationMetrics Evaluate(TrialSpec spec, string split, ILogger? logger = null)
    {
        using var trainable = Create(spec, logger, progress: null);
        trainable.Setup();
        return trainable.EvaluateSplit(split, spec.EvalLimit);
    }

    /// <summary>The trainable for the spec's task, not yet set up: for callers that drive epochs themselves (the grid's slots).</summary>
    public static ISupervisedTrainable Create(TrialSpec spec, ILogger? logger, IProgress<TrainingProgress>? progress) => spec.Task switch
    {
        TaskKind.TextClassification => new TextClassificationTrainable(spec, logger, progress),
        TaskKind.TokenClassification => new TokenClassificationTrainable(spec, logger, progress),
        TaskKind.MaskedLm => new MaskedLmTrainable(spec, logger, progress),
        TaskKind.SetFit => new SetFitTrainable(spec, logger, progress),
        _ => throw new ArgumentOutOfRangeException(nameof(spec), spec.Task, "unknown task"),
    };

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower), new FreezeDepthConverter() },
    };

    public static string ToJson<T>(T value) => JsonSerializer.Serialize(value, Json);

    /// <summary>A metric's name as JSON, specs and logs write it: f1, accuracy, perplexity.</summary>
    public static string Name(Metrics.EvaluationMetric metric) => JsonNamingPolicy.KebabCaseLower.ConvertName(metric.ToString());

    private sealed class FreezeDepthConverter : JsonConverter<Modeling.FreezeDepth>
    {
        public override Modeling.FreezeDepth Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            Modeling.FreezeDepth.Parse(reader.TokenType == JsonTokenType.Number ? reader.GetInt32().ToString() : reader.GetString() ?? "");

        public override void Write(Utf8JsonWriter writer, Modeling.FreezeDepth value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value.ToString());
    }
}
