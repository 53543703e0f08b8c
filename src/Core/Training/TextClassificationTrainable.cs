using ExperimentGrid.Core.Caching;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.SetFit;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Training;

/// <summary>Sequence classification (BertForSequenceClassification) with a freeze depth, as one trainable.</summary>
public sealed class TextClassificationTrainable(TrialSpec spec, ILogger? logger = null, IProgress<TrainingProgress>? progress = null, WorkCache? cache = null)
    : EncoderTrainable<BertForSequenceClassification, EncodedExample>(spec, logger, progress, cache)
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
        _validation = Encode(eval, Spec.EvalSplit);
        return (Encode(train, Spec.TrainSplit), _validation.Count);
    }

    protected override BertForSequenceClassification CreateModel(BertConfig config) => new(config, LabelCount);

    protected override Func<EncodedExample, int[]> FixedTokenIds => example => example.Ids;

    protected override Batch Collate(IReadOnlyList<EncodedExample> examples) => Batching.Collate(examples, Tokenizer.PadId, Device);

    protected override Tensor LossSum(Batch batch) => nn.functional.cross_entropy(Forward(batch), batch.Labels, reduction: nn.Reduction.Sum);

    public override ClassificationMetrics EvaluateSplit(string split, int? limit = null)
    {
        var examples = Subset.Random(ReadSplit(split), limit, Spec.Seed);
        CheckLabels(examples, split);
        return Evaluate(WithCachedPrefix(Encode(examples, split), split));
    }

    protected override ClassificationMetrics Validate() => Evaluate(WithCachedPrefix(_validation, Spec.EvalSplit));

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

    /// <summary>Each split's rows, read once, and their token ids by row (equal rows tokenize alike).</summary>
    private readonly Dictionary<string, (IReadOnlyList<TextExample> Rows, Dictionary<TextExample, int[]>? Ids)> _splits = [];

    private IReadOnlyList<TextExample> ReadSplit(string split)
    {
        if (!_splits.TryGetValue(split, out var read))
            _splits[split] = read = (TextClassificationData.Read(SplitPath(split, DatasetLocator.Extensions), Spec.TextColumn, Spec.LabelColumn), null);
        return read.Rows;
    }

    private Dictionary<TextExample, int[]> TokenIds(string split)
    {
        var (rows, ids) = _splits[split];
        if (ids is not null) return ids;
        var encoded = TokenizedData.Encode(Cache!, Tokenizer, MaxLength, SplitPath(split, DatasetLocator.Extensions), $"text column {Spec.TextColumn}",
            rows, row => (Tokenizer.Encode(row.Text, MaxLength), null), Logger);
        ids = [];
        for (var i = 0; i < rows.Count; i++) ids.TryAdd(rows[i], encoded[i].Ids);
        _splits[split] = (rows, ids);
        return ids;
    }

    private void CheckLabels(IReadOnlyList<TextExample> examples, string split) =>
        ClassLabels.Check(examples, LabelCount, SplitPath(split, DatasetLocator.Extensions), Spec);

    /// <summary>Examples read from <paramref name="split"/> (or a slice of them) with their token ids.</summary>
    private List<EncodedExample> Encode(IReadOnlyList<TextExample> examples, string split)
    {
        // Without a cache to keep them for later trials, only the examples used are worth encoding.
        if (Cache is null) return [.. examples.Select(e => new EncodedExample(Tokenizer.Encode(e.Text, MaxLength), e.Label))];
        var ids = TokenIds(split);
        return [.. examples.Select(e => new EncodedExample(ids[e], e.Label))];
    }
}
