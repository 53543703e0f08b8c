using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ExperimentGrid.Core.Training;

/// <summary>
/// `grid train` and `grid eval` on this machine: a trial's session with no checkpoints, run in one go, its model and
/// metrics.json saved to a directory; and the real trainable for each task, which the grid's slots use too.
/// </summary>
public static class TrialRunner
{
    public const string MetricsFile = "metrics.json";

    /// <param name="cache">Shares work with earlier and later runs (a frozen prefix); null computes everything.</param>
    public static TrialResult Run(TrialSpec spec, string? outputDirectory, ILogger? logger = null,
        IProgress<TrainingProgress>? progress = null, Caching.WorkCache? cache = null, CancellationToken cancellationToken = default)
    {
        using var session = TrialSession.Open(spec, new TrialSessionOptions { ModelDirectory = outputDirectory },
            (s, l, p) => Create(s, l, p, cache), logger ?? NullLogger.Instance);
        var result = session.Run(new ProgressObserver(progress), cancellation: cancellationToken)
            ?? throw new UnreachableException("a run that is never paused, drained or refused ends with its result.");
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
        using var session = TrialSession.Open(spec, new TrialSessionOptions(), Create, logger ?? NullLogger.Instance);
        return session.Evaluate(split);
    }

    /// <summary>The trainable for the spec's task, not yet set up: the <see cref="TrainableFactory"/> every session uses outside tests.</summary>
    public static ISupervisedTrainable Create(TrialSpec spec, ILogger? logger, IProgress<TrainingProgress>? progress) =>
        Create(spec, logger, progress, null);

    /// <summary>The trainable for the spec's task, sharing work with other trials through <paramref name="cache"/> where not null.</summary>
    public static ISupervisedTrainable Create(TrialSpec spec, ILogger? logger, IProgress<TrainingProgress>? progress, Caching.WorkCache? cache) => spec.Task switch
    {
        TaskKind.TextClassification => new TextClassificationTrainable(spec, logger, progress, cache),
        TaskKind.TokenClassification => new TokenClassificationTrainable(spec, logger, progress, cache),
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

    /// <summary>A run on this machine alone: nobody schedules, drains or takes over the trial; progress goes to the caller.</summary>
    private sealed class ProgressObserver(IProgress<TrainingProgress>? progress) : ITrialObserver
    {
        public void OnProgress(TrainingProgress value) => progress?.Report(value);

        public SchedulerDecision OnEpoch(EpochResult epoch, string? checkpoint) => SchedulerDecision.Continue;

        public bool OnCheckpoint(int globalStep, string checkpoint) => true;

        public bool OnCompleted(TrialResult result) => true;

        public bool OnGivenBack(int globalStep, string? checkpoint) => true;
    }

    private sealed class FreezeDepthConverter : JsonConverter<Modeling.FreezeDepth>
    {
        public override Modeling.FreezeDepth Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            Modeling.FreezeDepth.Parse(reader.TokenType == JsonTokenType.Number ? reader.GetInt32().ToString() : reader.GetString() ?? "");

        public override void Write(Utf8JsonWriter writer, Modeling.FreezeDepth value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value.ToString());
    }
}
