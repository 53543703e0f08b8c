using System.Text.Json;
using ExperimentGrid.Core.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ExperimentGrid.Core.Modeling;

/// <summary>dense, activation, LayerNorm: transformers' BertPredictionHeadTransform.</summary>
public sealed class BertPredictionHeadTransform : Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;
    private readonly Func<Tensor, Tensor> _activation;
    private readonly MixedPrecision _precision;

    public BertPredictionHeadTransform(BertConfig config, MixedPrecision precision) : base(nameof(BertPredictionHeadTransform))
    {
        dense = Linear(config.HiddenSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        _activation = BertIntermediate.Activation(config.HiddenAct);
        _precision = precision;
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return _precision.Norm(LayerNorm, _activation(_precision.Linear(dense, hidden))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// transformers' BertLMPredictionHead. Its decoder is tied to the word embeddings, so the decoder weight is not a
/// parameter here: the embedding matrix is passed in at each call. One tensor, one optimizer slot, one gradient, and
/// no duplicate key in the state dict; only the per-token output <c>bias</c> is the head's own.
/// </summary>
public sealed class BertLMPredictionHead : Module<Tensor, Tensor, Tensor>
{
    private readonly BertPredictionHeadTransform transform;
    private readonly Parameter bias;
    private readonly MixedPrecision _precision;

    public BertLMPredictionHead(BertConfig config, MixedPrecision precision) : base(nameof(BertLMPredictionHead))
    {
        transform = new BertPredictionHeadTransform(config, precision);
        bias = new Parameter(zeros(config.VocabSize));
        _precision = precision;
        RegisterComponents();
    }

    /// <param name="hidden">Hidden states, [..., hidden].</param>
    /// <param name="wordEmbeddings">The decoder weight, [vocab, hidden].</param>
    /// <returns>Logits, [..., vocab], fp32.</returns>
    public override Tensor forward(Tensor hidden, Tensor wordEmbeddings)
    {
        using var scope = NewDisposeScope();
        return _precision.Fp32(_precision.Linear(transform.call(hidden), wordEmbeddings, bias)).MoveToOuterDisposeScope();
    }
}

/// <summary>transformers' BertOnlyMLMHead: it exists for the <c>cls.predictions.</c> level of the checkpoint keys.</summary>
public sealed class BertOnlyMLMHead : Module<Tensor, Tensor, Tensor>
{
    private readonly BertLMPredictionHead predictions;

    public BertOnlyMLMHead(BertConfig config, MixedPrecision precision) : base(nameof(BertOnlyMLMHead))
    {
        predictions = new BertLMPredictionHead(config, precision);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor wordEmbeddings) => predictions.call(hidden, wordEmbeddings);
}

/// <summary>
/// transformers' BertForMaskedLM: the encoder without pooler, then the prediction head scored against the word
/// embeddings. State-dict keys are <c>bert.*</c> and <c>cls.predictions.{bias, transform.dense.*, transform.LayerNorm.*}</c>:
/// what save_pretrained writes to safetensors, which drops the tied aliases cls.predictions.decoder.weight and
/// cls.predictions.decoder.bias. Older checkpoints that carry them load with both reported unused, because the
/// embeddings and cls.predictions.bias are the same tensors in a tied model.
/// </summary>
public sealed class BertForMaskedLM : Module<Tensor, Tensor, Tensor, Tensor>, IEncoderHead
{
    private readonly BertModel bert;
    private readonly BertOnlyMLMHead cls;

    public BertForMaskedLM(BertConfig config) : base(nameof(BertForMaskedLM))
    {
        // An untied checkpoint's decoder would be silently replaced by the embeddings: refuse it instead.
        if (config.Extra is { } extra && extra.TryGetValue("tie_word_embeddings", out var tie) && tie.ValueKind == JsonValueKind.False)
            throw new NotSupportedException("config.json sets tie_word_embeddings to false; only masked-LM heads tied to the word embeddings are supported.");
        bert = new BertModel(config, addPoolingLayer: false);
        cls = new BertOnlyMLMHead(config, bert.Precision);
        RegisterComponents();
        BertInitialization.Apply(cls, config.InitializerRange);
    }

    public BertModel Bert => bert;
    public static string Architecture => nameof(BertForMaskedLM);
    public static IReadOnlyList<string> HeadPrefixes { get; } = ["cls."];

    /// <returns>Logits over the vocabulary, [batch, tokens, vocab].</returns>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        return cls.call(bert.call(inputIds, attentionMask, tokenTypeIds), bert.WordEmbeddings.weight!).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Logits at chosen positions only, [positions, vocab]. The vocabulary projection costs about as much per token
    /// as the whole MiniLM encoder, and masked-LM scores only about 15% of tokens, so this skips most of it.
    /// </summary>
    /// <param name="positions">Indices into the flattened batch × tokens, int64.</param>
    public Tensor LogitsAt(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds, Tensor positions)
    {
        using var scope = NewDisposeScope();
        var hidden = bert.call(inputIds, attentionMask, tokenTypeIds);
        var selected = hidden.reshape(-1, hidden.shape[^1]).index_select(0, positions);
        return cls.call(selected, bert.WordEmbeddings.weight!).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Cross-entropy at the labelled positions (labels other than -100), transformers' masked_lm_loss. The mean over
    /// no labelled position is 0 rather than NaN, so a batch that happens to mask nothing cannot poison the weights.
    /// </summary>
    /// <param name="labels">[batch, tokens]: the original ids at masked positions, -100 elsewhere.</param>
    public Tensor Loss(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds, Tensor labels, Reduction reduction = Reduction.Mean)
    {
        using var scope = NewDisposeScope();
        var (logits, targets) = LabelledLogits(inputIds, attentionMask, tokenTypeIds, labels);
        if (reduction != Reduction.Mean) return nn.functional.cross_entropy(logits, targets, reduction: reduction).MoveToOuterDisposeScope();
        using Scalar labelled = Math.Max(1, targets.shape[0]);
        return nn.functional.cross_entropy(logits, targets, reduction: Reduction.Sum).div(labelled).MoveToOuterDisposeScope();
    }

    /// <summary>Logits at the labelled positions (labels other than -100), [positions, vocab], and their target ids.</summary>
    public (Tensor Logits, Tensor Targets) LabelledLogits(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds, Tensor labels)
    {
        using var scope = NewDisposeScope();
        var flat = labels.reshape(-1);
        var positions = flat.ne(Batching.IgnoredLabel).nonzero().squeeze(1);
        var logits = LogitsAt(inputIds, attentionMask, tokenTypeIds, positions);
        var targets = flat.index_select(0, positions);
        return (logits.MoveToOuterDisposeScope(), targets.MoveToOuterDisposeScope());
    }
}
