namespace ExperimentGrid.Core.Metrics;

/// <summary>
/// Metrics of one evaluation. F1 follows evaluate's "f1": for two classes, F1 of the positive class (id 1); for more,
/// the unweighted mean of per-class F1 (macro). A class never predicted and never present scores 0, as scikit-learn's
/// zero_division=0 does.
/// </summary>
public sealed record ClassificationMetrics(
    int Examples,
    double Accuracy,
    double F1,
    double Precision,
    double Recall,
    double Loss,
    IReadOnlyList<double> F1PerClass) : EvaluationMetrics(Examples, Loss)
{
    public override IReadOnlyList<MetricValue> Values() =>
    [
        new(EvaluationMetric.F1, F1), new(EvaluationMetric.Accuracy, Accuracy), new(EvaluationMetric.Precision, Precision),
        new(EvaluationMetric.Recall, Recall), new(EvaluationMetric.Loss, Loss),
    ];

    public static ClassificationMetrics Compute(IReadOnlyList<int> predictions, IReadOnlyList<int> references, int classCount, double meanLoss)
    {
        if (predictions.Count != references.Count)
            throw new ArgumentException($"{predictions.Count} predictions for {references.Count} references.");
        if (predictions.Count == 0) throw new ArgumentException("no examples to score.");
        if (classCount < 2) throw new ArgumentOutOfRangeException(nameof(classCount), classCount, "at least two classes");

        var truePositive = new int[classCount];
        var predicted = new int[classCount];
        var actual = new int[classCount];
        var correct = 0;
        for (var i = 0; i < predictions.Count; i++)
        {
            var (p, r) = (predictions[i], references[i]);
            if ((uint)p >= classCount || (uint)r >= classCount)
                throw new ArgumentOutOfRangeException(nameof(predictions), $"class id outside 0..{classCount - 1} at index {i}");
            predicted[p]++;
            actual[r]++;
            if (p == r)
            {
                truePositive[p]++;
                correct++;
            }
        }

        static double Ratio(int numerator, int denominator) => denominator == 0 ? 0 : (double)numerator / denominator;
        var precision = Enumerable.Range(0, classCount).Select(c => Ratio(truePositive[c], predicted[c])).ToArray();
        var recall = Enumerable.Range(0, classCount).Select(c => Ratio(truePositive[c], actual[c])).ToArray();
        var f1 = Enumerable.Range(0, classCount)
            .Select(c => precision[c] + recall[c] == 0 ? 0 : 2 * precision[c] * recall[c] / (precision[c] + recall[c]))
            .ToArray();

        var binary = classCount == 2;
        return new ClassificationMetrics(
            predictions.Count,
            (double)correct / predictions.Count,
            binary ? f1[1] : f1.Average(),
            binary ? precision[1] : precision.Average(),
            binary ? recall[1] : recall.Average(),
            meanLoss,
            f1);
    }
}
