using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Tests;

/// <summary>Masked-LM continued pretraining as a trial, and its encoder as the start of another task.</summary>
[Collection(ModelCollection.Name)]
public sealed class MaskedLmTrialTests(ModelFixture models) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mlm-trial-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private TrialSpec Spec(MaskingStrategy masking = MaskingStrategy.Token, int seed = 42, string? model = null) => new()
    {
        Task = TaskKind.MaskedLm,
        Model = model ?? models.MiniLmDirectory,
        Dataset = "rotten_tomatoes",
        Masking = masking,
        TrainLimit = 128,
        EvalLimit = 64,
        TestSplit = null,
        MaxLength = 48,
        Epochs = 2,
        LearningRate = 2e-4,
        Seed = seed,
        Device = "cpu",
    };

    [Theory]
    [InlineData(MaskingStrategy.Token)]
    [InlineData(MaskingStrategy.WholeWord)]
    public void Perplexity_on_held_out_text_falls(MaskingStrategy masking)
    {
        using var trainable = new MaskedLmTrainable(Spec(masking));
        trainable.Setup();
        var before = trainable.EvaluateSplit("validation", 64);
        var epochs = new[] { trainable.Step(), trainable.Step() };
        var after = Assert.IsType<MaskedLmMetrics>(epochs[^1].Validation);
        Assert.True(after.Perplexity < before.Perplexity / 2, $"perplexity {before.Perplexity:F1} → {after.Perplexity:F1}");
        Assert.Equal(Math.Exp(after.Loss), after.Perplexity, 9);
        Assert.Equal(EvaluationMetric.Perplexity, after.Headline.Metric);
    }

    [Fact]
    public void The_evaluation_mask_is_the_same_for_every_seed_and_masking()
    {
        var model = Path.Combine(_directory, "pretrained");
        TrialRunner.Run(Spec() with { Epochs = 1 }, model);
        var scores = new[] { Spec(seed: 1, model: model), Spec(seed: 2, model: model), Spec(MaskingStrategy.WholeWord, 3, model) }
            .Select(spec => (MaskedLmMetrics)TrialRunner.Evaluate(spec with { EvalLimit = null }, "validation"))
            .ToList();
        Assert.All(scores, s => Assert.Equal(scores[0].MaskedTokens, s.MaskedTokens));
        Assert.All(scores, s => Assert.Equal(scores[0].Loss, s.Loss, 6));
    }

    [Fact]
    public void A_pretrained_encoder_starts_a_classifier_with_its_weights()
    {
        var pretrained = Path.Combine(_directory, "pretrained");
        using (var mlm = new MaskedLmTrainable(Spec() with { Epochs = 1 }))
        {
            mlm.Setup();
            mlm.Step();
            mlm.SaveModel(pretrained);
        }

        using var reloaded = new MaskedLmTrainable(Spec(model: pretrained));
        reloaded.Setup();
        var encoder = reloaded.Model.Bert.state_dict().ToDictionary(p => p.Key, p => p.Value.data<float>().ToArray());
        using var classifier = new TextClassificationTrainable(new TrialSpec
        {
            Model = pretrained,
            Dataset = "rotten_tomatoes",
            TrainLimit = 16,
            EvalLimit = 16,
            TestSplit = null,
            Device = "cpu",
        });
        classifier.Setup();
        var started = classifier.Model.Bert.state_dict();
        foreach (var (name, values) in encoder)
            Assert.Equal(values, started[name].data<float>().ToArray());
        classifier.Step();
    }
}
