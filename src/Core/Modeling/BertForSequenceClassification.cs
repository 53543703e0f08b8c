using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ExperimentGrid.Core.Modeling;

/// <summary>
/// transformers' BertForSequenceClassification: pooler output, dropout, linear <c>classifier</c>.
/// State-dict keys are <c>bert.*</c> and <c>classifier.*</c>, exactly as a transformers checkpoint stores them.
/// </summary>
public sealed class BertForSequenceClassification : Module<Tensor, Tensor, Tensor, Tensor>, IEncoderHead
{
    private readonly BertModel bert;
    private readonly Dropout dropout;
    private readonly Linear classifier;

    public BertForSequenceClassification(BertConfig config, int labelCount) : base(nameof(BertForSequenceClassification))
    {
        if (labelCount < 2) throw new ArgumentOutOfRangeException(nameof(labelCount), labelCount, "a classifier needs at least two labels");
        bert = new BertModel(config, addPoolingLayer: true);
        dropout = Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        classifier = Linear(config.HiddenSize, labelCount);
        RegisterComponents();
        BertInitialization.Apply(classifier, config.InitializerRange);
    }

    public BertModel Bert => bert;
    public int LabelCount => (int)classifier.out_features;
    public static string Architecture => nameof(BertForSequenceClassification);
    public static IReadOnlyList<string> HeadPrefixes { get; } = ["classifier.", "bert.pooler."];

    /// <returns>Logits, [batch, labels], fp32.</returns>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        var pooled = bert.Pool(bert.call(inputIds, attentionMask, tokenTypeIds));
        return bert.Precision.Fp32(bert.Precision.Linear(classifier, dropout.call(pooled))).MoveToOuterDisposeScope();
    }
}

/// <summary>A task head wrapping the encoder under the state-dict prefix <c>bert.</c>.</summary>
public interface IEncoderHead
{
    BertModel Bert { get; }

    /// <summary>transformers' class name, written to config.json "architectures".</summary>
    static abstract string Architecture { get; }

    /// <summary>Keys a base checkpoint may lack; they keep their fresh initialisation instead of failing the load.</summary>
    static abstract IReadOnlyList<string> HeadPrefixes { get; }
}
