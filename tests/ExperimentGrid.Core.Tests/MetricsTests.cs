using ExperimentGrid.Core.Metrics;

namespace ExperimentGrid.Core.Tests;

public sealed class MetricsTests
{
    [Fact]
    public void Binary_f1_is_the_positive_class_f1_computed_by_hand()
    {
        // predictions 1 1 0 0 1 0 against references 1 0 0 1 1 0:
        // TP(1)=2, predicted 1 three times, actual 1 three times → precision 2/3, recall 2/3, F1 2/3; accuracy 4/6.
        var metrics = ClassificationMetrics.Compute([1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0], 2, 0.5);
        Assert.Equal(2.0 / 3, metrics.F1, 12);
        Assert.Equal(2.0 / 3, metrics.Precision, 12);
        Assert.Equal(2.0 / 3, metrics.Recall, 12);
        Assert.Equal(4.0 / 6, metrics.Accuracy, 12);
        Assert.Equal(0.5, metrics.Loss);
    }

    [Fact]
    public void Binary_f1_differs_from_accuracy_when_classes_are_skewed()
    {
        // Always predicting 1 on 3 positives and 1 negative: precision 3/4, recall 1, F1 = 2·0.75/1.75 = 6/7.
        var metrics = ClassificationMetrics.Compute([1, 1, 1, 1], [1, 1, 1, 0], 2, 0);
        Assert.Equal(6.0 / 7, metrics.F1, 12);
        Assert.Equal(0.75, metrics.Accuracy, 12);
    }

    [Fact]
    public void Never_predicting_the_positive_class_scores_zero_not_nan()
    {
        var metrics = ClassificationMetrics.Compute([0, 0, 0], [1, 0, 1], 2, 0);
        Assert.Equal(0.0, metrics.F1);
        Assert.Equal(0.0, metrics.Precision);
    }

    [Fact]
    public void Multiclass_f1_is_the_unweighted_mean_of_per_class_f1()
    {
        // class 0: P=1/1 R=1/2 F1=2/3; class 1: P=1/2 R=1/1 F1=2/3; class 2: P=1 R=1 F1=1 → macro (2/3+2/3+1)/3 = 7/9.
        var metrics = ClassificationMetrics.Compute([0, 1, 1, 2], [0, 0, 1, 2], 3, 0);
        Assert.Equal(7.0 / 9, metrics.F1, 12);
        Assert.Equal([2.0 / 3, 2.0 / 3, 1.0], metrics.F1PerClass, (a, b) => Math.Abs(a - b) < 1e-12);
    }

    [Fact]
    public void Mismatched_or_out_of_range_inputs_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Compute([0, 1], [0], 2, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassificationMetrics.Compute([0, 2], [0, 1], 2, 0));
    }
}
