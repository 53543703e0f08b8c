using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ExperimentGrid.Core.Modeling;

/// <summary>
/// The sentence-transformers body SetFit fine-tunes: the encoder without pooler, the mean of the last hidden states
/// over real tokens, L2-normalised (the Transformer, Pooling and Normalize modules of all-MiniLM-L6-v2 and
/// all-mpnet-base-v2). Keys are <c>bert.*</c>, so the saved directory loads as a transformers BertModel.
/// </summary>
public sealed class SentenceEncoder : Module<Tensor, Tensor, Tensor, Tensor>, IEncoderHead
{
    private readonly BertModel bert;

    public SentenceEncoder(BertConfig config) : base(nameof(SentenceEncoder))
    {
        bert = new BertModel(config, addPoolingLayer: false);
        RegisterComponents();
    }

    public BertModel Bert => bert;
    public int Dimension => bert.Config.HiddenSize;
    public static string Architecture => nameof(BertModel);
    public static IReadOnlyList<string> HeadPrefixes { get; } = [];

    /// <returns>Unit-length embeddings, [batch, hidden].</returns>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        return MeanPool(bert.call(inputIds, attentionMask, tokenTypeIds), attentionMask).MoveToOuterDisposeScope();
    }

    private static readonly Scalar LeastTokenCount = 1e-9;

    /// <summary>Masked mean over tokens, then L2 normalisation; [batch, tokens, hidden] → [batch, hidden].</summary>
    public static Tensor MeanPool(Tensor hidden, Tensor attentionMask)
    {
        var mask = attentionMask.unsqueeze(-1).to_type(hidden.dtype);
        var mean = (hidden * mask).sum(1) / mask.sum(1).clamp_min(LeastTokenCount);
        return functional.normalize(mean, p: 2, dim: 1);
    }
}
