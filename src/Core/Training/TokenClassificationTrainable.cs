using ExperimentGrid.Core.Caching;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Training;

/// <summary>
/// Token classification (NER) with BertForTokenClassification. Labels come from the training data (IOB2) and are
/// stored in config.json; evaluation is entity-level, over the labelled word pieces as the seed notebook scores them.
/// </summary>
public sealed class TokenClassificationTrainable(TrialSpec spec, ILogger? logger = null, IProgress<TrainingProgress>? progress = null, WorkCache? cache = null)
    : EncoderTrainable<BertForTokenClassification, EncodedTokens>(spec, logger, progress, cache)
{
    private IReadOnlyList<string> _labels = [];
    private Dictionary<string, int> _labelIds = [];
    private List<EncodedTokens> _validation = [];

    public IReadOnlyList<string> Labels => _labels;

    protected override (IReadOnlyList<EncodedTokens> Train, int ValidationExamples) PrepareData(BertConfig config)
    {
        var trainPath = SplitPath(Spec.TrainSplit, TokenClassificationData.Extensions);
        var evalPath = SplitPath(Spec.EvalSplit, TokenClassificationData.Extensions);
        var train = Subset.Random(Read(trainPath), Spec.TrainLimit, Spec.Seed);
        var eval = Subset.Random(Read(evalPath), Spec.EvalLimit, Spec.Seed);
        _labels = Spec.LabelNames ?? TokenClassificationData.LabelSet(Read(trainPath));
        _labelIds = _labels.Select((label, id) => (label, id)).ToDictionary(p => p.label, p => p.id);
        config.SetLabels(_labels);
        Logger.LogInformation("{Count} labels: {Labels}", _labels.Count, string.Join(", ", _labels));
        _validation = Encode(eval, evalPath);
        return (Encode(train, trainPath), _validation.Count);
    }

    protected override BertForTokenClassification CreateModel(BertConfig config) => new(config, _labels.Count);

    protected override Func<EncodedTokens, int[]> FixedTokenIds => example => example.Ids;

    protected override Batch Collate(IReadOnlyList<EncodedTokens> examples) => Batching.CollateTokens(examples, Tokenizer.PadId, Device);

    protected override Tensor LossSum(Batch batch)
    {
        var logits = Forward(batch);
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), batch.Labels.reshape(-1), ignore_index: Batching.IgnoredLabel,
            reduction: nn.Reduction.Sum);
    }

    public override EntityMetrics EvaluateSplit(string split, int? limit = null)
    {
        var path = SplitPath(split, TokenClassificationData.Extensions);
        return Evaluate(WithCachedPrefix(Encode(Subset.Random(Read(path), limit, Spec.Seed), path), split));
    }

    protected override EntityMetrics Validate() => Evaluate(WithCachedPrefix(_validation, Spec.EvalSplit));

    public EntityMetrics Evaluate(IReadOnlyList<EncodedTokens> examples) => Evaluating(() =>
    {
        var predicted = new IReadOnlyList<string>[examples.Count];
        var references = new IReadOnlyList<string>[examples.Count];
        double lossSum = 0;
        long labelled = 0;
        ForEachEvaluationBatch(examples, e => e.Ids.Length, (indices, batch) =>
        {
            var logits = Forward(batch);
            var flatLogits = logits.reshape(-1, logits.shape[^1]);
            var flatLabels = batch.Labels.reshape(-1);
            lossSum += nn.functional.cross_entropy(flatLogits, flatLabels, ignore_index: Batching.IgnoredLabel, reduction: nn.Reduction.Sum).item<float>();
            var argmax = logits.argmax(-1).cpu().data<long>().ToArray();
            var width = (int)logits.shape[1];
            for (var k = 0; k < indices.Length; k++)
            {
                var example = examples[indices[k]];
                var keep = Enumerable.Range(0, example.Labels.Length).Where(t => example.Labels[t] != Batching.IgnoredLabel).ToList();
                predicted[indices[k]] = [.. keep.Select(t => _labels[(int)argmax[k * width + t]])];
                references[indices[k]] = [.. keep.Select(t => _labels[(int)example.Labels[t]])];
                labelled += keep.Count;
            }
        });
        return EntityMetrics.Compute(predicted, references, lossSum / Math.Max(1, labelled));
    });

    /// <summary>Each file's sentences, read once, and their aligned ids and labels by sentence.</summary>
    private readonly Dictionary<string, (IReadOnlyList<TaggedSentence> Rows, Dictionary<TaggedSentence, EncodedTokens>? Encoded)> _files = [];

    private IReadOnlyList<TaggedSentence> Read(string path)
    {
        if (!_files.TryGetValue(path, out var read)) _files[path] = read = (TokenClassificationData.Read(path), null);
        return read.Rows;
    }

    private List<EncodedTokens> Encode(IReadOnlyList<TaggedSentence> sentences, string path)
    {
        if (Cache is null) return [.. sentences.Select(s => TokenClassificationData.Align(s, Tokenizer, _labelIds, MaxLength, path))];
        var (rows, encoded) = _files[path];
        if (encoded is null)
        {
            var aligned = TokenizedData.Encode(Cache, Tokenizer, MaxLength, path, $"tags {string.Join(",", _labels)}", rows, sentence =>
            {
                var tokens = TokenClassificationData.Align(sentence, Tokenizer, _labelIds, MaxLength, path);
                return (tokens.Ids, tokens.Labels);
            }, Logger);
            encoded = new(ReferenceEqualityComparer.Instance);
            for (var i = 0; i < rows.Count; i++) encoded[rows[i]] = new EncodedTokens(aligned[i].Ids, aligned[i].Labels!);
            _files[path] = (rows, encoded);
        }
        return [.. sentences.Select(s => encoded[s])];
    }
}
