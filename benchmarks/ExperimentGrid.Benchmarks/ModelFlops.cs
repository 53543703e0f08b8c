using ExperimentGrid.Core.Modeling;

namespace ExperimentGrid.Benchmarks;

/// <summary>
/// Analytic FLOPs of BertForSequenceClassification, counting only matrix multiplications (2 FLOPs per multiply-add),
/// as model FLOPs utilisation is defined: LayerNorm, softmax, GELU, dropout, embedding look-ups and the optimizer
/// are the overhead the utilisation figure exposes, not work it credits.
/// </summary>
public static class ModelFlops
{
    public const string Formula =
        "step = 3 × forward; forward = L·[2·B·S·(4·H² + 2·H·I) + 2·2·B·S²·H] + 2·B·H² + 2·B·H·C";

    /// <param name="batch">B sequences, each of <paramref name="sequence"/> (S) tokens, none of them padding.</param>
    public static double Forward(BertConfig config, int batch, int sequence, int labels)
    {
        double b = batch, s = sequence, h = config.HiddenSize, i = config.IntermediateSize;
        // Every token goes through the query, key, value and attention-output projections (4·H²) and the two
        // feed-forward matrices (H·I each).
        var dense = 2 * b * s * (4 * h * h + 2 * h * i);
        // Scores Q·Kᵀ and context P·V, each S·S·head_dim per head, S²·H over all heads. Attention stays within a
        // sequence, so the cost is B·S², not (B·S)².
        var attention = 2 * 2 * b * s * s * h;
        // The pooler reads only [CLS], one token per sequence; the classifier maps it to C labels.
        var head = 2 * b * h * h + 2 * b * h * labels;
        return config.NumHiddenLayers * (dense + attention) + head;
    }

    /// <summary>The backward pass costs two forwards (gradients of activations and of weights), hence 3×.</summary>
    public static double TrainingStep(BertConfig config, int batch, int sequence, int labels) =>
        3 * Forward(config, batch, sequence, labels);
}
