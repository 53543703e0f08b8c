using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Metrics;

/// <summary>What a finished trial reports: its final evaluation, then what its training cost.</summary>
public static class TrialMetrics
{
    /// <summary>Every task reports these, beside its evaluation: what a multi-objective sweep trades quality against.</summary>
    public static IReadOnlyList<EvaluationMetric> Costs { get; } = [EvaluationMetric.TrainSeconds, EvaluationMetric.TrainableParameters];

    /// <summary>The final evaluation's metrics (test, else the last validation), then the costs.</summary>
    public static IReadOnlyList<MetricValue> Of(TrialResult result) =>
    [
        .. result.Final.Values(),
        new(EvaluationMetric.TrainSeconds, result.Epochs.Sum(e => e.TrainSeconds)),
        new(EvaluationMetric.TrainableParameters, result.TrainableParameters),
    ];

    /// <summary>A metric's value in <paramref name="metrics"/>, NaN where it is missing: a trial that did not measure it ranks last.</summary>
    public static double ValueOf(this IReadOnlyList<MetricValue> metrics, EvaluationMetric metric)
    {
        foreach (var value in metrics)
            if (value.Metric == metric) return value.Value;
        return double.NaN;
    }
}
