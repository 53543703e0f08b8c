using ExperimentGrid.Core.Trials;
using static ExperimentGrid.Core.Metrics.EvaluationMetric;

namespace ExperimentGrid.Core.Metrics;

/// <summary>
/// The metrics each task's evaluation reports, in the order its metrics record lists them. A sweep needs this before
/// any trial runs, to refuse an objective that its task never reports.
/// </summary>
public static class TaskMetrics
{
    public static IReadOnlyList<EvaluationMetric> Reported(TaskKind task) => task switch
    {
        // SetFit ends in a classifier head, so it is scored as text classification is.
        TaskKind.TextClassification or TaskKind.SetFit => [F1, Accuracy, Precision, Recall, Loss],
        TaskKind.TokenClassification => [F1, Precision, Recall, Accuracy, Loss],
        TaskKind.MaskedLm => [Perplexity, Loss, Accuracy],
        _ => throw new ArgumentOutOfRangeException(nameof(task), task, "no metrics listed for this task"),
    };
}
