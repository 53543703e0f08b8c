using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Tests;

public sealed class TaskMetricsTests
{
    /// <summary>Each task's list must be what its metrics record actually reports, in the same order.</summary>
    public static TheoryData<TaskKind, EvaluationMetrics> Evaluations => new()
    {
        { TaskKind.TextClassification, new ClassificationMetrics(10, 0.8, 0.7, 0.6, 0.9, 0.4, [0.7, 0.7]) },
        { TaskKind.SetFit, new ClassificationMetrics(10, 0.8, 0.7, 0.6, 0.9, 0.4, [0.7, 0.7]) },
        { TaskKind.TokenClassification, new EntityMetrics(10, 0.9, 0.7, 0.6, 0.8, 0.3, new Dictionary<string, double>()) },
        { TaskKind.MaskedLm, new MaskedLmMetrics(10, 2.0, Math.Exp(2.0), 0.4, 100) },
    };

    [Theory]
    [MemberData(nameof(Evaluations))]
    public void The_metrics_listed_for_a_task_are_those_its_evaluation_reports(TaskKind task, EvaluationMetrics evaluation) =>
        Assert.Equal(evaluation.Values().Select(v => v.Metric), TaskMetrics.Reported(task));

    [Fact]
    public void Every_task_lists_its_metrics() =>
        Assert.Equal(Enum.GetValues<TaskKind>(), Evaluations.Select(row => (TaskKind)row[0]).Order());
}
