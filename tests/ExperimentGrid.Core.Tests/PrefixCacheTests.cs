using ExperimentGrid.Core.Caching;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Tests;

/// <summary>
/// Trials that read their frozen prefix from the cache train and score as trials that compute it: the truth is the same
/// trial run without a cache.
/// </summary>
[Collection(ModelCollection.Name)]
public sealed class PrefixCacheTests(ModelFixture models) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("prefix-cache-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private WorkCache NewCache(string name = "cache") => new(Path.Combine(_directory, name), WorkCache.DefaultMaxBytes);

    private TrialSpec MiniLmSpec(string freeze) => new()
    {
        Model = models.MiniLmDirectory,
        Dataset = "rotten_tomatoes",
        TrainLimit = 48,
        EvalLimit = 32,
        TestSplit = null,
        MaxLength = 48,
        Epochs = 2,
        LearningRate = 5e-4,
        Freeze = FreezeDepth.Parse(freeze),
        Device = "cpu",
    };

    [Theory]
    [InlineData("3")]
    [InlineData("all")]
    public void A_trial_on_the_cached_prefix_trains_to_the_logits_and_predictions_of_one_that_computes_it(string freeze)
    {
        var spec = MiniLmSpec(freeze);
        var cache = NewCache();
        var (uncachedLosses, uncachedLogits, uncachedMetrics) = TrainAndScore(spec, cache: null);
        var (cachedLosses, cachedLogits, cachedMetrics) = TrainAndScore(spec, cache);
        // A second trial reads what the first one stored, and must train the same again.
        var (rereadLosses, rereadLogits, _) = TrainAndScore(spec, cache);

        Assert.NotEmpty(Prefixes(cache));
        foreach (var (losses, logits, what) in new[] { (cachedLosses, cachedLogits, "computing the cache"), (rereadLosses, rereadLogits, "reading the cache") })
        {
            AssertClose(uncachedLosses, losses, $"training losses, {what}");
            AssertClose(uncachedLogits.Values, logits.Values, $"validation logits, {what}");
            Assert.Equal(uncachedLogits.Predictions, logits.Predictions);
        }
        // The cached trial's own evaluation reads the validation split's prefix from the cache too.
        Assert.Equal(uncachedMetrics.Accuracy, cachedMetrics.Accuracy);
        Assert.Equal(uncachedMetrics.Loss, cachedMetrics.Loss, 4);
    }

    [Fact]
    public void Switched_off_or_with_nothing_frozen_a_trial_stores_nothing()
    {
        var cache = NewCache();
        TrainAndScore(MiniLmSpec("3") with { PrefixCache = false, Epochs = 1 }, cache);
        TrainAndScore(MiniLmSpec("0") with { Epochs = 1 }, cache);
        Assert.Empty(Prefixes(cache));
    }

    /// <summary>Losses of every step; the validation slice's logits by an uncached forward pass of the trained model; its metrics.</summary>
    private static (float[] Losses, (float[] Values, long[] Predictions) Logits, Metrics.ClassificationMetrics Metrics) TrainAndScore(TrialSpec spec, WorkCache? cache)
    {
        using var trainable = new TextClassificationTrainable(spec, cache: cache);
        trainable.Setup();
        Metrics.EvaluationMetrics metrics = null!;
        for (var epoch = 0; epoch < spec.Epochs; epoch++) metrics = trainable.Step().Validation;
        var texts = Subset.Random(TextClassificationData.Read(DatasetLocator.ResolveSplit(spec.Dataset, "validation", null, DatasetLocator.Extensions), "text", "label"),
            spec.EvalLimit, spec.Seed);
        var model = trainable.Model;
        model.eval();
        using var noGrad = no_grad();
        using var batch = Batching.Collate([.. texts.Select(t => new EncodedExample(trainable.Tokenizer.Encode(t.Text, spec.MaxLength), t.Label))], trainable.Tokenizer.PadId, CPU);
        using var logits = model.call(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
        return ([.. trainable.LossCurve.Select(p => (float)p.Loss)], (logits.data<float>().ToArray(), logits.argmax(1).data<long>().ToArray()),
            (Metrics.ClassificationMetrics)metrics);
    }

    [Fact]
    public void A_deeper_prefix_starts_from_a_cached_shallower_one_and_stores_the_depths_the_sweep_expects_on_its_way()
    {
        var model = TinyBert.SaveWithoutDropout(Path.Combine(_directory, "tiny"), layers: 4);
        var cache = NewCache();
        TrialSpec Tiny(string freeze) => new()
        {
            Model = model,
            Dataset = "rotten_tomatoes",
            TrainLimit = 24,
            EvalLimit = 8,
            TestSplit = null,
            MaxLength = 24,
            Freeze = FreezeDepth.Parse(freeze),
            Device = "cpu",
        };
        var family = FrozenPrefix.Family(Tiny("1"))!;
        Assert.Equal(family, FrozenPrefix.Family(Tiny("all")));
        cache.Expect(family, [FreezeDepth.Bottom(1), FreezeDepth.Bottom(2), FreezeDepth.Everything]);

        // Depth 2 first: the expected depth 1 is stored on its way, for train and validation each.
        TrainAndScore(Tiny("2"), cache);
        Assert.Equal(["1", "1", "2", "2"], Depths(cache));
        // Then everything frozen (4 layers) starts from the cached depth 2; its trial trains as an uncached one does.
        var uncached = TrainAndScore(Tiny("all"), cache: null);
        var cached = TrainAndScore(Tiny("all"), cache);
        Assert.Equal(["1", "1", "2", "2", "4", "4"], Depths(cache));
        AssertClose(uncached.Losses, cached.Losses, "losses from the depth built on depth 2");
        AssertClose(uncached.Logits.Values, cached.Logits.Values, "logits from the depth built on depth 2");
    }

    [Fact]
    public void A_token_classification_trial_on_the_cached_prefix_trains_and_scores_as_one_that_computes_it()
    {
        var spec = new TrialSpec
        {
            Task = TaskKind.TokenClassification,
            Model = TinyBert.SaveWithoutDropout(Path.Combine(_directory, "tiny"), layers: 3),
            Dataset = "conll2003",
            TrainLimit = 40,
            EvalLimit = 16,
            TestSplit = null,
            MaxLength = 32,
            Epochs = 2,
            LearningRate = 1e-3,
            Freeze = FreezeDepth.Bottom(2),
            Device = "cpu",
        };
        (float[] Losses, Metrics.EvaluationMetrics Test) Run(WorkCache? cache)
        {
            using var trainable = new TokenClassificationTrainable(spec, cache: cache);
            trainable.Setup();
            for (var epoch = 0; epoch < spec.Epochs; epoch++) trainable.Step();
            return ([.. trainable.LossCurve.Select(p => (float)p.Loss)], trainable.EvaluateSplit("test", 16));
        }
        var cache = NewCache();
        var uncached = Run(null);
        var cached = Run(cache);
        Assert.Equal(["2", "2", "2"], Depths(cache));
        AssertClose(uncached.Losses, cached.Losses, "NER training losses");
        Assert.Equal(uncached.Test.Values().Single(v => v.Metric == Metrics.EvaluationMetric.F1).Value,
            cached.Test.Values().Single(v => v.Metric == Metrics.EvaluationMetric.F1).Value);
        Assert.Equal(uncached.Test.Loss, cached.Test.Loss, 4);
    }

    private static List<string> Depths(WorkCache cache) =>
        [.. Prefixes(cache).Select(e => CacheStoreTests.Manifest(e.Directory).Description["depth"]).Order()];

    private static IEnumerable<CacheEntryInfo> Prefixes(WorkCache cache) => cache.Store.Entries().Where(e => e.Kind == FrozenPrefix.Kind);

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual, (a, b) => Math.Abs(a - b)).DefaultIfEmpty().Max();
        Assert.True(worst < 1e-4, $"{what}: max difference {worst:E2}");
    }
}
