using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Inference;

public static class MaskedLmEvaluation
{
    /// <summary>
    /// Scores <paramref name="examples"/>, which should carry a fixed mask (one seed, one epoch of
    /// <see cref="MaskedSequences"/>) so scores compare across checkpoints. Losses are summed over every masked
    /// position and divided once, so the result does not depend on the batch size.
    /// </summary>
    public static MaskedLmMetrics Evaluate(BertForMaskedLM model, IReadOnlyList<EncodedTokens> examples, int padId, Device device, int batchSize = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var masked = examples.Sum(e => (long)e.Labels.Count(l => l != Batching.IgnoredLabel));
        if (masked == 0) throw new ArgumentException("no masked position to score; mask the sequences first.", nameof(examples));

        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            var lossSum = 0.0;
            long correct = 0;
            // Length order pads least; the sums do not depend on the order.
            foreach (var indices in Batching.LengthSortedBatches(examples, e => e.Ids.Length, batchSize))
            {
                using var scope = NewDisposeScope();
                using var batch = Batching.CollateTokens([.. indices.Select(i => examples[i])], padId, device);
                var (logits, targets) = model.LabelledLogits(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, batch.Labels);
                if (targets.shape[0] == 0) continue;
                lossSum += nn.functional.cross_entropy(logits, targets, reduction: nn.Reduction.Sum).item<float>();
                correct += logits.argmax(1).eq(targets).sum().item<long>();
            }
            return MaskedLmMetrics.FromSums(examples.Count, lossSum, correct, masked);
        }
        finally
        {
            model.train(wasTraining);
        }
    }
}
