using ExperimentGrid.Core.Inference;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Tests;

/// <summary>Token classification on small slices of CoNLL-2003 with the bundled MiniLM.</summary>
[Collection(ModelCollection.Name)]
public sealed class NerTests(ModelFixture models) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("ner-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private TrialSpec Spec(int epochs = 1, double learningRate = 2e-4) => new()
    {
        Task = TaskKind.TokenClassification,
        Model = models.MiniLmDirectory,
        Dataset = "conll2003",
        TrainLimit = 96,
        EvalLimit = 48,
        TestSplit = null,
        MaxLength = 64,
        Epochs = epochs,
        LearningRate = learningRate,
        Device = "cpu",
    };

    [Fact]
    public void Loss_on_the_training_slice_falls_and_labels_come_from_the_data()
    {
        using var trainable = new TokenClassificationTrainable(Spec(epochs: 3));
        trainable.Setup();
        Assert.Equal(["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"], trainable.Labels);
        var before = trainable.EvaluateSplit("train", 96);
        for (var i = 0; i < 3; i++) trainable.Step();
        var after = Assert.IsType<EntityMetrics>(trainable.EvaluateSplit("train", 96));
        Assert.True(after.Loss < before.Loss * 0.6, $"token loss {before.Loss:F4} → {after.Loss:F4}");
        Assert.True(after.F1 > before.F1, $"entity F1 {before.F1:F3} → {after.F1:F3}");
    }

    [Fact]
    public void A_saved_tagger_reloads_with_its_labels_and_identical_logits()
    {
        using var trainable = new TokenClassificationTrainable(Spec());
        trainable.Setup();
        trainable.Step();
        var saved = Path.Combine(_directory, "tagger");
        trainable.SaveModel(saved);

        var directory = ModelDirectory.Open(saved);
        Assert.Equal(trainable.Labels, directory.Config.Labels);
        Assert.Equal(["BertForTokenClassification"], directory.Config.Architectures);
        using var reloaded = directory.LoadModel(c => new BertForTokenClassification(c, c.Labels.Count));
        reloaded.eval();
        trainable.Model.eval();
        var ids = tensor(trainable.Tokenizer.Encode("Peter Blackburn visited Brussels", 64).Select(i => (long)i).ToArray()).unsqueeze(0);
        using var noGrad = no_grad();
        Assert.Equal(
            trainable.Model.call(ids, ones_like(ids), zeros_like(ids)).data<float>().ToArray(),
            reloaded.call(ids, ones_like(ids), zeros_like(ids)).data<float>().ToArray());

        using var recognizer = EntityRecognizer.Load(saved, "cpu");
        Assert.All(recognizer.Recognize("Peter Blackburn visited Brussels on Monday ."), e => Assert.Contains(e.Type, new[] { "LOC", "MISC", "ORG", "PER" }));
    }

    [Fact]
    public void Simple_aggregation_merges_pieces_and_b_i_tags_into_spans_with_offsets()
    {
        const string text = "My name is Ellie and I live in New Berlin";
        var words = EntityRecognizer.Words(text).ToList();
        Assert.Equal((11, 16), words[3]);
        PiecePrediction P(string label, double score, int start, int end) => new(label, score, start, end);
        var entities = EntityRecognizer.Aggregate(text,
        [
            P("O", 0.99, 0, 2), P("B-PER", 0.9, 11, 13), P("I-PER", 0.7, 13, 16), P("O", 0.99, 17, 20),
            P("B-LOC", 0.8, 31, 34), P("I-LOC", 0.6, 35, 41),
        ]);
        Assert.Equal(2, entities.Count);
        Assert.Equal(new RecognizedEntity("PER", "Ellie", 0.8, 11, 16), entities[0] with { Score = Math.Round(entities[0].Score, 12) });
        Assert.Equal(("LOC", "New Berlin", 31, 41), (entities[1].Type, entities[1].Text, entities[1].Start, entities[1].End));
        Assert.Equal(0.7, entities[1].Score, 12);

        // A B- tag always opens a new entity, even after one of the same type.
        var split = EntityRecognizer.Aggregate("Ann Bob", [P("B-PER", 1, 0, 3), P("B-PER", 1, 4, 7)]);
        Assert.Equal(["Ann", "Bob"], split.Select(e => e.Text));
    }

    [Fact]
    public void Words_split_punctuation_from_words_with_character_offsets()
    {
        Assert.Equal([(0, 2), (3, 5), (5, 6), (7, 13), (13, 14)], EntityRecognizer.Words("EU in, Berlin."));
    }
}
