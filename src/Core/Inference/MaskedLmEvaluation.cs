using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Inference;

/// <summary>Masked-LM quality on a masked set: mean cross-entropy over its masked positions, and perplexity = exp(loss).</summary>
public sealed record MaskedLmScore(double Loss, double Perplexity, long MaskedTokens);

public static class MaskedLmEvaluation
{
    /// <summary>
    /// Scores <paramref name="examples"/>, which should carry a fixed mask (one seed, one epoch of
    /// <see cref="MaskedSequences"/>) so scores compare across checkpoints. The loss is the mean over every masked
    /// position, not the mean of batch means, so it does not depend on the batch size.
    /// </summary>
    public static MaskedLmScore Evaluate(BertForMaskedLM model, IReadOnlyList<EncodedTokens> examples, int padId, Device device, int batchSize = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var masked = examples.Sum(e => (long)e.Labels.Count(l => l != Batching.IgnoredLabel));
        if (masked == 0) throw new ArgumentException("no masked position to score; mask the sequences first.", nameof(examples));

        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            var total = 0.0;
            // Length order pads least; the summed loss does not depend on the order.
            foreach (var indices in Batching.LengthSortedBatches(examples, e => e.Ids.Length, batchSize))
            {
                using var scope = NewDisposeScope();
                using var batch = Batching.CollateTokens([.. indices.Select(i => examples[i])], padId, device);
                total += model.Loss(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, batch.Labels, nn.Reduction.Sum).item<float>();
            }
            var loss = total / masked;
            return new MaskedLmScore(loss, Math.Exp(loss), masked);
        }
        finally
        {
            model.train(wasTraining);
        }
    }
}
