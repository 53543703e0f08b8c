namespace ExperimentGrid.Core.Metrics;

/// <summary>
/// Masked-LM quality under a fixed mask: <see cref="EvaluationMetrics.Loss"/> is the mean cross-entropy over every
/// masked position (not a mean of batch means, so it does not depend on the batch size), perplexity is exp(loss), and
/// accuracy is the share of masked positions whose top prediction is the original token.
/// </summary>
public sealed record MaskedLmMetrics(int Examples, double Loss, double Perplexity, double Accuracy, long MaskedTokens)
    : EvaluationMetrics(Examples, Loss)
{
    public override IReadOnlyList<MetricValue> Values() =>
    [
        new(EvaluationMetric.Perplexity, Perplexity), new(EvaluationMetric.Loss, Loss), new(EvaluationMetric.Accuracy, Accuracy),
    ];

    public static MaskedLmMetrics FromSums(int examples, double lossSum, long correct, long maskedTokens)
    {
        if (maskedTokens <= 0) throw new ArgumentException("no masked position to score; mask the sequences first.", nameof(maskedTokens));
        var loss = lossSum / maskedTokens;
        return new MaskedLmMetrics(examples, loss, Math.Exp(loss), (double)correct / maskedTokens, maskedTokens);
    }
}
