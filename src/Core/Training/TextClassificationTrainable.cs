using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.SetFit;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Training;

/// <summary>Sequence classification (BertForSequenceClassification) with a freeze depth, as one trainable.</summary>
public sealed class TextClassificationTrainable(TrialSpec spec, ILogger? logger = null, IProgress<TrainingProgress>? progress = null)
    : EncoderTrainable<BertForSequenceClassification, EncodedExample>(spec, logger, progress)
{
    private List<EncodedExample> _validation = [];

    public int LabelCount { get; private set; }

    protected override (IReadOnlyList<EncodedExample> Train, int ValidationExamples) PrepareData(BertConfig config)
    {
        var train = Subset.Random(ReadSplit(Spec.TrainSplit), Spec.TrainLimit, Spec.Seed);
        var eval = Subset.Random(ReadSplit(Spec.EvalSplit), Spec.EvalLimit, Spec.Seed);
        var names = ClassLabels.Names(Spec, train);
        LabelCount = names.Count;
        CheckLabels(train, Spec.TrainSplit);
        if (Spec.SamplesPerClass is { } perClass)
        {
            // SetFit's draw, so that the same seed fine-tunes on the examples a SetFit trial was given.
            train = SetFitData.SampleEveryClass(train, perClass, Spec.Seed, names, SplitPath(Spec.TrainSplit, DatasetLocator.Extensions));
            Logger.LogInformation("{Count} examples sampled, up to {PerClass} per class", train.Count, perClass);
        }
        CheckLabels(eval, Spec.EvalSplit);
        config.SetLabels(names);
        Logger.LogInformation("{Labels} labels", LabelCount);
        _validation = Encode(eval);
        return (Encode(train), _validation.Count);
    }

    protected override BertForSequenceClassification CreateModel(BertConfig config) => new(config, LabelCount);

    protected override Batch Collate(IReadOnlyList<EncodedExample> examples) => Batching.Collate(examples, Tokenizer.PadId, Device);

    protected override Tensor LossSum(Batch batch) => nn.functional.cross_entropy(Forward(batch), batch.Labels, reduction: nn.Reduction.Sum);

    public override ClassificationMetrics EvaluateSplit(string split, int? limit = null)
    {
        var examples = Subset.Random(ReadSplit(split), limit, Spec.Seed);
        CheckLabels(examples, split);
        return Evaluate(Encode(examples));
    }

    protected override ClassificationMetrics Validate() => Evaluate(_validation);

    public ClassificationMetrics Evaluate(IReadOnlyList<EncodedExample> examples) => Evaluating(() =>
    {
        var predictions = new int[examples.Count];
        double lossSum = 0;
        ForEachEvaluationBatch(examples, e => e.Ids.Length, (indices, batch) =>
        {
            var logits = Forward(batch);
            lossSum += nn.functional.cross_entropy(logits, batch.Labels, reduction: nn.Reduction.Sum).item<float>();
            var predicted = logits.argmax(1).cpu().data<long>().ToArray();
            for (var k = 0; k < indices.Length; k++) predictions[indices[k]] = (int)predicted[k];
        });
        return ClassificationMetrics.Compute(predictions, [.. examples.Select(e => e.Label)], LabelCount, lossSum / examples.Count);
    });

    private IReadOnlyList<TextExample> ReadSplit(string split) =>
        TextClassificationData.Read(SplitPath(split, DatasetLocator.Extensions), Spec.TextColumn, Spec.LabelColumn);

    private void CheckLabels(IReadOnlyList<TextExample> examples, string split) =>
        ClassLabels.Check(examples, LabelCount, SplitPath(split, DatasetLocator.Extensions), Spec);

    private List<EncodedExample> Encode(IReadOnlyList<TextExample> examples) =>
        [.. examples.Select(e => new EncodedExample(Tokenizer.Encode(e.Text, MaxLength), e.Label))];
}
