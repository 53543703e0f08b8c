using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.TestSupport;

/// <summary>
/// The truth a <see cref="FakeTrainable"/> trains towards, written out so that tests can compute by hand what a run or a
/// sweep of fakes must find.
/// <code>
/// Quality = 0.9 − 0.1·log10(learning_rate / 3e-5)² − 0.02·log2(batch_size / 16)² − (weight_decay − 0.01)² − 0.02·frozen layers
/// F1(e)   = clamp(Quality · (1 − 0.5^e), 0, 1)    after epoch e, counted from 1 (0 before any training)
/// </code>
/// The optimum, 0.9 in the limit of many epochs, is at learning_rate 3e-5, batch_size 16, weight_decay 0.01 with nothing
/// frozen (freeze: all counts as 12 layers); more epochs always help. Every metric follows F1: f1 = accuracy =
/// precision = recall = F1(e) and loss = 1 − F1(e), so an objective of f1 max, accuracy max or loss min ranks alike.
/// Each epoch's own validation adds Noise·u, u uniform in [−1, 1) from the trial's generator (SplitMix64 seeded with
/// the spec's seed): the same seed gives the same noise. Any other split (the test split) is noiseless. The training
/// loss after optimizer step t, of S per epoch, is 1 − Quality·(1 − 0.5^(t/S)) + Noise·u.
/// </summary>
public static class FakeObjective
{
    public static double Quality(TrialSpec spec)
    {
        var frozen = spec.Freeze.All ? 12 : spec.Freeze.Layers;
        return 0.9
            - 0.1 * Square(Math.Log10(spec.LearningRate / 3e-5))
            - 0.02 * Square(Math.Log2(spec.BatchSize / 16.0))
            - Square(spec.WeightDecay - 0.01)
            - 0.02 * frozen;
    }

    /// <summary>The noiseless F1 after <paramref name="epochs"/> epochs.</summary>
    public static double F1(TrialSpec spec, int epochs) => Math.Clamp(Quality(spec) * (1 - Math.Pow(0.5, epochs)), 0, 1);

    internal static double TrainingLoss(TrialSpec spec, int step, int stepsPerEpoch) =>
        1 - Quality(spec) * (1 - Math.Pow(0.5, (double)step / stepsPerEpoch));

    internal static ClassificationMetrics Metrics(double f1, int examples) => new(examples, f1, f1, f1, f1, 1 - f1, [f1, f1]);

    private static double Square(double x) => x * x;
}
