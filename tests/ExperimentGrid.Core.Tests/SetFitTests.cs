using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Inference;
using ExperimentGrid.Core.SetFit;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Tests;

/// <summary>SetFit: sampling, pairs, the logistic-regression head, and a whole few-shot trial with the bundled MiniLM.</summary>
[Collection(ModelCollection.Name)]
public sealed class SetFitTests(ModelFixture models) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("setfit-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Twenty_iterations_over_32_examples_make_1280_balanced_pairs()
    {
        var labels = Enumerable.Range(0, 32).Select(i => i % 2).ToArray();
        var pairs = SetFitData.Pairs(labels, 20, new Random(42));

        Assert.Equal(1280, pairs.Count);
        Assert.Equal(640, pairs.Count(p => p.Target == 1f));
        Assert.All(pairs.Where(p => p.Target == 1f), p => Assert.True(labels[p.First] == labels[p.Second] && p.First != p.Second));
        Assert.All(pairs.Where(p => p.Target == 0f), p => Assert.NotEqual(labels[p.First], labels[p.Second]));
        // Every example anchors one positive and one negative pair per iteration.
        Assert.All(pairs.GroupBy(p => (p.First, p.Target)), g => Assert.Equal(20, g.Count()));
        // Partners are drawn at random, not fixed: across 20 iterations an example meets several of its class.
        Assert.True(pairs.Where(p => p.First == 0 && p.Target == 1f).Select(p => p.Second).Distinct().Count() > 5);
        Assert.Equal(pairs, SetFitData.Pairs(labels, 20, new Random(42)));
    }

    [Fact]
    public void Sampling_takes_n_per_class_by_seed_and_all_of_a_small_class()
    {
        var examples = Enumerable.Range(0, 100).Select(i => new TextExample($"text {i}", i < 95 ? 0 : 1, i + 1)).ToList();
        var sampled = SetFitData.Sample(examples, 16, seed: 7);
        Assert.Equal(16, sampled.Count(e => e.Label == 0));
        Assert.Equal(5, sampled.Count(e => e.Label == 1));
        Assert.Equal(sampled, SetFitData.Sample(examples, 16, seed: 7));
        Assert.NotEqual(sampled.Select(e => e.Line), SetFitData.Sample(examples, 16, seed: 8).Select(e => e.Line));
    }

    [Fact]
    public void Zero_shot_examples_come_from_the_label_names()
    {
        var examples = SetFitData.ZeroShot(["negative", "positive"]);
        Assert.Equal(["This sentence is negative", "This sentence is negative", "This sentence is positive", "This sentence is positive"], examples.Select(e => e.Text));
        Assert.Equal([0, 0, 1, 1], examples.Select(e => e.Label));
    }

    [Fact]
    public void Logistic_regression_matches_a_hand_solved_case()
    {
        // x = -1 (class 0) and x = +1 (class 1), C = 1: by symmetry b = 0 and w solves w = 2 / (1 + e^w).
        double low = 0, high = 2;
        for (var i = 0; i < 200; i++)
        {
            var middle = (low + high) / 2;
            if (middle - 2 / (1 + Math.Exp(middle)) > 0) high = middle;
            else low = middle;
        }
        var head = LogisticRegression.Fit([[-1f], [1f]], [0, 1], classes: 2);
        var probabilities = head.Probabilities([1f]);
        Assert.Equal(1 / (1 + Math.Exp(-low)), probabilities[1], 9);
        Assert.Equal(0.5, head.Probabilities([0f])[1], 9);
    }

    [Fact]
    public void Multiclass_logistic_regression_reaches_the_optimum_and_saves_exactly()
    {
        var random = new Random(3);
        var features = Enumerable.Range(0, 30).Select(i => new[] { (float)(random.NextDouble() * 2 - 1 + i % 3), (float)(random.NextDouble() * 2 - 1) }).ToList();
        var labels = Enumerable.Range(0, 30).Select(i => i % 3).ToList();
        var head = LogisticRegression.Fit(features, labels, classes: 3, c: 0.5);

        // scikit-learn's objective, C·Σ log loss + ½‖W‖² (intercepts free), written out here independently of the
        // fit: nudging any weight of the fitted head must not lower it.
        double Objective(Func<int, int, double> weight)
        {
            double loss = 0, norm = 0;
            for (var i = 0; i < features.Count; i++)
            {
                var z = Enumerable.Range(0, 3).Select(k => weight(k, 0) * features[i][0] + weight(k, 1) * features[i][1] + weight(k, 2)).ToArray();
                var max = z.Max();
                loss += Math.Log(z.Sum(v => Math.Exp(v - max))) + max - z[labels[i]];
            }
            for (var k = 0; k < 3; k++) norm += weight(k, 0) * weight(k, 0) + weight(k, 1) * weight(k, 1);
            return 0.5 * loss + 0.5 * norm;
        }
        var fitted = Recover(head);
        var best = Objective((k, j) => fitted[k, j]);
        for (var k = 0; k < 3; k++)
            for (var j = 0; j < 3; j++)
                foreach (var delta in new[] { -1e-3, 1e-3 })
                    Assert.True(Objective((a, b) => fitted[a, b] + (a == k && b == j ? delta : 0)) >= best - 1e-12, $"moving weight [{k},{j}] by {delta} lowers the objective");

        var path = Path.Combine(_directory, "head.json");
        head.Save(path);
        Assert.Equal(head.Probabilities(features[4]), LogisticRegression.Load(path).Probabilities(features[4]));
    }

    /// <summary>The weights, read back through the head's own logits at the unit vectors and the origin.</summary>
    private static double[,] Recover(LogisticRegression head)
    {
        double[] Logits(float[] x) => [.. head.Logits(TorchSharp.torch.tensor(x).unsqueeze(0).to_type(TorchSharp.torch.ScalarType.Float64)).data<double>()];
        var origin = Logits([0f, 0f]);
        var e0 = Logits([1f, 0f]);
        var e1 = Logits([0f, 1f]);
        var weights = new double[3, 3];
        for (var k = 0; k < 3; k++) (weights[k, 0], weights[k, 1], weights[k, 2]) = (e0[k] - origin[k], e1[k] - origin[k], origin[k]);
        return weights;
    }

    [Fact]
    public void A_bad_head_file_is_named()
    {
        var path = Path.Combine(_directory, "model_head.json");
        File.WriteAllText(path, """{"type": "logistic-regression", "classes": 3, "weights": [[1, 2]]}""");
        var error = Assert.Throws<InvalidDataException>(() => LogisticRegression.Load(path));
        Assert.Contains(path, error.Message);
        Assert.Contains("'weights' must be 3 equal rows", error.Message);
    }

    private TrialSpec Spec(int samplesPerClass = 8, int epochs = 1) => new()
    {
        Task = TaskKind.SetFit,
        Model = models.MiniLmDirectory,
        Dataset = "rotten_tomatoes",
        SamplesPerClass = samplesPerClass,
        Iterations = 2,
        EvalLimit = 48,
        TestSplit = null,
        MaxLength = 48,
        Epochs = epochs,
        LearningRate = 1e-4,
        LabelNames = ["neg", "pos"],
        Device = "cpu",
    };

    [Fact]
    public void Contrastive_training_lowers_the_pair_loss_and_the_saved_classifier_predicts_identically()
    {
        using var trainable = new SetFitTrainable(Spec(epochs: 2));
        trainable.Setup();
        var first = trainable.Step();
        var second = trainable.Step();
        Assert.True(second.TrainLoss < first.TrainLoss, $"pair loss {first.TrainLoss:F4} → {second.TrainLoss:F4}");

        var model = Path.Combine(_directory, "model");
        trainable.SaveModel(model);
        Assert.True(File.Exists(Path.Combine(model, SetFitTrainable.HeadFile)));
        Assert.True(File.Exists(Path.Combine(model, "1_Pooling", "config.json")));

        var texts = new[] { "a gorgeous, moving film", "dull, lifeless and far too long", "the plot is thin" };
        using var classifier = TextClassifier.Load(model, "cpu", 48);
        var served = classifier.Predict(texts);
        using var embedder = SentenceEmbedder.Load(model, "cpu", 48);
        var embeddings = embedder.Embed(texts);
        for (var i = 0; i < texts.Length; i++)
        {
            var expected = trainable.Head.Probabilities(embeddings[i]);
            Assert.Equal(expected[1], served[i].Scores[1].Probability, 5);
            Assert.Equal(expected[1] > 0.5 ? "pos" : "neg", served[i].Label);
        }
    }

    [Fact]
    public void Zero_shot_trains_without_labelled_examples()
    {
        using var trainable = new SetFitTrainable(Spec(samplesPerClass: 0));
        trainable.Setup();
        var result = trainable.Step();
        Assert.Equal(48, result.Validation.Examples);
        Assert.Equal(2, trainable.Head.Classes);
    }

    [Fact]
    public void Freeze_all_fits_the_head_alone_on_the_shipped_embeddings()
    {
        using var headOnly = new SetFitTrainable(Spec() with { Freeze = Modeling.FreezeDepth.Everything });
        headOnly.Setup();
        var epoch = headOnly.Step();
        Assert.Equal((0, 0.0), (epoch.GlobalStep, epoch.TrainLoss));

        // The head of a trainable that never trained is fitted on the shipped embeddings of the same sample.
        using var untrained = new SetFitTrainable(Spec());
        untrained.Setup();
        Assert.Equal(untrained.EvaluateSplit("validation", 48).Values(), epoch.Validation.Values());
        Assert.Equal(0, headOnly.TrainableParameters);
    }

    [Fact]
    public void Text_classification_with_n_per_class_trains_on_that_many()
    {
        var spec = Spec(samplesPerClass: 8) with { Task = TaskKind.TextClassification, Iterations = new TrialSpec().Iterations, BatchSize = 4 };
        using var fineTune = new TextClassificationTrainable(spec);
        fineTune.Setup();
        // 8 of each of the 2 classes in batches of 4.
        Assert.Equal(4, fineTune.Step().GlobalStep);
    }
}
