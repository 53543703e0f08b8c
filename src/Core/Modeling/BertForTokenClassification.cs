using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ExperimentGrid.Core.Modeling;

/// <summary>
/// transformers' BertForTokenClassification: the encoder without a pooler, dropout, linear <c>classifier</c> per token.
/// State-dict keys are <c>bert.*</c> and <c>classifier.*</c>.
/// </summary>
public sealed class BertForTokenClassification : Module<Tensor, Tensor, Tensor, Tensor>, IEncoderHead
{
    private readonly BertModel bert;
    private readonly Dropout dropout;
    private readonly Linear classifier;

    public BertForTokenClassification(BertConfig config, int labelCount) : base(nameof(BertForTokenClassification))
    {
        if (labelCount < 2) throw new ArgumentOutOfRangeException(nameof(labelCount), labelCount, "a tagger needs at least two labels");
        bert = new BertModel(config, addPoolingLayer: false);
        dropout = Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        classifier = Linear(config.HiddenSize, labelCount);
        RegisterComponents();
        BertInitialization.Apply(classifier, config.InitializerRange);
    }

    public BertModel Bert => bert;
    public static string Architecture => nameof(BertForTokenClassification);
    public static IReadOnlyList<string> HeadPrefixes { get; } = ["classifier."];

    /// <returns>Logits, [batch, tokens, labels], fp32.</returns>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        var tagged = bert.Precision.Linear(classifier, dropout.call(bert.call(inputIds, attentionMask, tokenTypeIds)));
        return bert.Precision.Fp32(tagged).MoveToOuterDisposeScope();
    }
}
