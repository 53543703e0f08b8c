using System.Text.Json;
using System.Text.Json.Nodes;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.SetFit;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Training;

/// <summary>
/// SetFit few-shot classification: a few labelled examples per class (or label-name templates, zero-shot), contrastive
/// fine-tuning of the mean-pooled sentence embedding on pairs of them with a cosine-similarity regression loss, then a
/// logistic-regression head on their embeddings. The head is refitted after every epoch, so each epoch's validation
/// scores the classifier a run ending there would save.
/// </summary>
public sealed class SetFitTrainable(TrialSpec spec, ILogger? logger = null, IProgress<TrainingProgress>? progress = null)
    : EncoderTrainable<SentenceEncoder, SentencePair>(spec, logger, progress)
{
    /// <summary>SetFit's own file: labels and whether embeddings are normalised before the head.</summary>
    public const string SetFitConfigFile = "config_setfit.json";
    public const string HeadFile = "model_head.json";

    private IReadOnlyList<string> _labels = [];
    private List<EncodedExample> _sampled = [];
    private List<EncodedExample> _validation = [];
    private LogisticRegression? _head;

    public IReadOnlyList<string> Labels => _labels;

    /// <summary>The head fitted on the sampled examples' current embeddings.</summary>
    public LogisticRegression Head => _head ??= FitHead();

    protected override (IReadOnlyList<SentencePair> Train, int ValidationExamples) PrepareData(BertConfig config)
    {
        IReadOnlyList<TextExample> sampled;
        if (Spec.SamplesPerClass == 0)
        {
            _labels = Spec.LabelNames!;
            sampled = SetFitData.ZeroShot(_labels);
            Logger.LogInformation("zero-shot: {Count} examples from the label names ('{Template}')", sampled.Count, SetFitData.ZeroShotTemplate);
        }
        else
        {
            var trainPath = SplitPath(Spec.TrainSplit, DatasetLocator.Extensions);
            var train = Subset.Random(TextClassificationData.Read(trainPath, Spec.TextColumn, Spec.LabelColumn), Spec.TrainLimit, Spec.Seed);
            _labels = ClassLabels.Names(Spec, train);
            ClassLabels.Check(train, _labels.Count, trainPath, Spec);
            var perClass = Spec.SamplesPerClass ?? TrialSpec.SetFitSamplesPerClass;
            sampled = SetFitData.SampleEveryClass(train, perClass, Spec.Seed, _labels, trainPath);
            Logger.LogInformation("{Count} examples sampled, up to {PerClass} per class", sampled.Count, perClass);
        }
        config.SetLabels(_labels);
        _sampled = Encode(sampled);

        var evalPath = SplitPath(Spec.EvalSplit, DatasetLocator.Extensions);
        var eval = Subset.Random(TextClassificationData.Read(evalPath, Spec.TextColumn, Spec.LabelColumn), Spec.EvalLimit, Spec.Seed);
        ClassLabels.Check(eval, _labels.Count, evalPath, Spec);
        _validation = Encode(eval);

        if (Spec.Freeze.All)
        {
            // The body is frozen, so pairs would train nothing: each epoch only fits the head, on the model's embeddings.
            Logger.LogInformation("freeze all: no contrastive pairs; the head alone is fitted");
            return ([], _validation.Count);
        }
        var pairs = SetFitData.Pairs([.. _sampled.Select(e => e.Label)], Spec.Iterations, new Random(Spec.Seed));
        Logger.LogInformation("{Pairs} pairs from {Iterations} iterations", pairs.Count, Spec.Iterations);
        return ([.. pairs.Select(p => new SentencePair(_sampled[p.First].Ids, _sampled[p.Second].Ids, p.Target))], _validation.Count);
    }

    protected override SentenceEncoder CreateModel(BertConfig config) => new(config);

    protected override Batch Collate(IReadOnlyList<SentencePair> examples) => Batching.CollatePairs(examples, Tokenizer.PadId, Device);

    /// <summary>sentence-transformers' CosineSimilarityLoss: squared error between cos(u, v) and the target.</summary>
    protected override Tensor LossSum(Batch batch)
    {
        var embeddings = Forward(batch);
        var pairs = batch.Labels.shape[0];
        var cosine = (embeddings.narrow(0, 0, pairs) * embeddings.narrow(0, pairs, pairs)).sum(1);
        return nn.functional.mse_loss(cosine, batch.Labels, nn.Reduction.Sum);
    }

    protected override ClassificationMetrics Validate()
    {
        _head = FitHead();
        return Evaluate(_validation);
    }

    public override ClassificationMetrics EvaluateSplit(string split, int? limit = null)
    {
        var path = SplitPath(split, DatasetLocator.Extensions);
        var examples = Subset.Random(TextClassificationData.Read(path, Spec.TextColumn, Spec.LabelColumn), limit, Spec.Seed);
        ClassLabels.Check(examples, _labels.Count, path, Spec);
        return Evaluate(Encode(examples));
    }

    /// <summary>Metrics of encoder and head; the loss is the head's mean log loss.</summary>
    public ClassificationMetrics Evaluate(IReadOnlyList<EncodedExample> examples)
    {
        var head = Head;
        return Evaluating(() => Score(head, examples));
    }

    private ClassificationMetrics Score(LogisticRegression head, IReadOnlyList<EncodedExample> examples)
    {
        var predictions = new int[examples.Count];
        double lossSum = 0;
        EachEmbeddingBatch(examples, (indices, batch, embeddings) =>
        {
            var logits = head.Logits(embeddings);
            lossSum += nn.functional.cross_entropy(logits, batch.Labels, reduction: nn.Reduction.Sum).item<float>();
            var predicted = logits.argmax(1).cpu().data<long>().ToArray();
            for (var k = 0; k < indices.Length; k++) predictions[indices[k]] = (int)predicted[k];
        });
        return ClassificationMetrics.Compute(predictions, [.. examples.Select(e => e.Label)], _labels.Count, lossSum / examples.Count);
    }

    public override void SaveModel(string directory)
    {
        base.SaveModel(directory);
        Head.Save(Path.Combine(directory, HeadFile));
        SentenceTransformersFiles.Write(directory, Model.Dimension);
        File.WriteAllText(Path.Combine(directory, SetFitConfigFile),
            new JsonObject { ["labels"] = new JsonArray([.. _labels.Select(l => (JsonNode?)l)]), ["normalize_embeddings"] = false }.ToJsonString(Indented));
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private LogisticRegression FitHead() => Evaluating(() =>
    {
        var features = new float[_sampled.Count][];
        EachEmbeddingBatch(_sampled, (indices, _, embeddings) =>
        {
            var rows = embeddings.cpu().data<float>().ToArray();
            for (var k = 0; k < indices.Length; k++) features[indices[k]] = rows[(k * Model.Dimension)..((k + 1) * Model.Dimension)];
        });
        return LogisticRegression.Fit(features, [.. _sampled.Select(e => e.Label)], _labels.Count);
    });

    private void EachEmbeddingBatch(IReadOnlyList<EncodedExample> examples, Action<int[], Batch, Tensor> use) =>
        ForEachEvaluationBatch(examples, e => e.Ids.Length, batch => Batching.Collate(batch, Tokenizer.PadId, Device),
            (indices, batch) => use(indices, batch, Forward(batch)));

    private List<EncodedExample> Encode(IReadOnlyList<TextExample> examples) =>
        [.. examples.Select(e => new EncodedExample(Tokenizer.Encode(e.Text, MaxLength), e.Label))];
}
