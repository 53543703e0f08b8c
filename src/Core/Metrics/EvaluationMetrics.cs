using System.Text.Json;
using System.Text.Json.Serialization;

namespace ExperimentGrid.Core.Metrics;

/// <summary>
/// A metric a trial can report, by the name a sweep's objective uses: what an evaluation measures, and what the
/// training itself costs (<see cref="TrainSeconds"/>, <see cref="TrainableParameters"/>), which a multi-objective
/// sweep trades against it.
/// </summary>
public enum EvaluationMetric
{
    Loss,
    Accuracy,
    F1,
    Precision,
    Recall,
    Perplexity,

    /// <summary>Seconds spent in training steps (evaluation excluded), over the epochs of the trial's last attempt.</summary>
    TrainSeconds,

    /// <summary>Parameters the optimizer updates: fewer under a deeper freeze.</summary>
    TrainableParameters,
}

public readonly record struct MetricValue(EvaluationMetric Metric, double Value);

/// <summary>
/// What one evaluation of any task reports. Each task's record lists the metrics it has in <see cref="Values"/>, in
/// the order people read them, headline first; an objective looks its metric up there.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(ClassificationMetrics), "classification")]
[JsonDerivedType(typeof(EntityMetrics), "entities")]
[JsonDerivedType(typeof(MaskedLmMetrics), "masked-lm")]
public abstract record EvaluationMetrics(int Examples, double Loss)
{
    public abstract IReadOnlyList<MetricValue> Values();

    [JsonIgnore]
    public MetricValue Headline => Values()[0];

    /// <summary>The metric's value, or null where this task does not measure it.</summary>
    public double? Value(EvaluationMetric metric)
    {
        foreach (var value in Values())
            if (value.Metric == metric) return value.Value;
        return null;
    }

    /// <summary>A metric's one spelling, in specs, JSON, logs, tables and metric labels: f1, accuracy, train_seconds.</summary>
    public static string Name(EvaluationMetric metric) => JsonNamingPolicy.SnakeCaseLower.ConvertName(metric.ToString());

    /// <summary>The metric <see cref="Name"/> spells as <paramref name="name"/>, ignoring case and surrounding space.</summary>
    public static bool TryParse(string name, out EvaluationMetric metric)
    {
        foreach (var candidate in Enum.GetValues<EvaluationMetric>())
        {
            if (!string.Equals(Name(candidate), name.Trim(), StringComparison.OrdinalIgnoreCase)) continue;
            metric = candidate;
            return true;
        }
        metric = default;
        return false;
    }

    /// <summary>Loss, perplexity and the costs improve downwards; every other metric upwards.</summary>
    public static bool LowerIsBetter(EvaluationMetric metric) =>
        metric is EvaluationMetric.Loss or EvaluationMetric.Perplexity or EvaluationMetric.TrainSeconds or EvaluationMetric.TrainableParameters;
}
