using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Tests;

/// <summary>Training behaviour on small slices of rotten_tomatoes with the bundled MiniLM.</summary>
[Collection(ModelCollection.Name)]
public sealed class TrainingTests(ModelFixture models) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("training-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private TrialSpec Spec(int trainLimit = 32, string freeze = "0", int epochs = 1, double learningRate = 2e-5) => new()
    {
        Model = models.MiniLmDirectory,
        Dataset = "rotten_tomatoes",
        TrainLimit = trainLimit,
        EvalLimit = 32,
        TestSplit = null,
        MaxLength = 48,
        Epochs = epochs,
        LearningRate = learningRate,
        Freeze = FreezeDepth.Parse(freeze),
        Device = "cpu",
    };

    private static Dictionary<string, float[]> Snapshot(nn.Module model) =>
        model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().cpu().data<float>().ToArray());

    [Fact]
    public void Loss_on_the_training_slice_falls()
    {
        using var trainable = new TextClassificationTrainable(Spec(trainLimit: 96, epochs: 3, learningRate: 2e-4));
        trainable.Setup();
        var before = trainable.EvaluateSplit("train", 96);
        for (var i = 0; i < 3; i++) trainable.Step();
        var after = trainable.EvaluateSplit("train", 96);
        Assert.True(after.Loss < before.Loss - 0.1, $"training loss {before.Loss:F4} → {after.Loss:F4}");
        Assert.True(after.Accuracy > 0.75, $"accuracy on the training slice only {after.Accuracy:F3}");
    }

    [Theory]
    [InlineData("3", 3)]
    [InlineData("all", 6)]
    public void Frozen_weights_stay_unchanged_bit_for_bit_and_the_rest_trains(string freeze, int frozenLayers)
    {
        using var trainable = new TextClassificationTrainable(Spec(freeze: freeze));
        trainable.Setup();
        var before = Snapshot(trainable.Model);
        trainable.Step();
        var after = Snapshot(trainable.Model);

        bool Frozen(string name) =>
            name.StartsWith("bert.embeddings.", StringComparison.Ordinal) ||
            Enumerable.Range(0, frozenLayers).Any(l => name.StartsWith($"bert.encoder.layer.{l}.", StringComparison.Ordinal)) ||
            (freeze == "all" && name.StartsWith("bert.pooler.", StringComparison.Ordinal));
        foreach (var name in before.Keys)
        {
            if (Frozen(name)) Assert.True(before[name].SequenceEqual(after[name]), $"{name} changed although frozen");
            // LayerNorm biases can legitimately stay put for a step; every weight matrix of a trained module must move.
            else if (name.EndsWith(".weight", StringComparison.Ordinal) && !name.Contains("LayerNorm", StringComparison.Ordinal))
                Assert.False(before[name].SequenceEqual(after[name]), $"{name} did not train");
        }
        Assert.Equal(freeze == "all" ? 2 * 384 + 2 : trainable.TotalParameters - FrozenCount(trainable.Model, Frozen), trainable.TrainableParameters);
    }

    private static long FrozenCount(nn.Module model, Func<string, bool> frozen) =>
        model.named_parameters().Where(p => frozen(p.name)).Sum(p => p.parameter.numel());

    [Fact]
    public void Frozen_modules_stay_in_eval_mode_when_the_model_trains()
    {
        using var model = new BertModel(TinyBert.Config());
        model.SetFreeze(FreezeDepth.Bottom(1));
        model.train();
        var modes = model.named_modules().Where(m => m.name.Length > 0).ToDictionary(m => m.name, m => m.module.training);
        Assert.False(modes["embeddings"]);
        Assert.False(modes["encoder.layer.0"]);
        Assert.True(modes["encoder.layer.1"]);
        Assert.DoesNotContain(model.named_parameters(), p => p.name.StartsWith("encoder.layer.0.", StringComparison.Ordinal) && p.parameter.requires_grad);
    }

    [Fact]
    public void The_same_seed_repeats_the_loss_curve_exactly_and_another_seed_does_not()
    {
        float[] Curve(int seed)
        {
            using var trainable = new TextClassificationTrainable(Spec() with { Seed = seed });
            trainable.Setup();
            trainable.Step();
            return [.. trainable.LossCurve.Select(p => (float)p.Loss)];
        }
        var first = Curve(42);
        Assert.Equal(first, Curve(42));
        Assert.NotEqual(first, Curve(43));
    }

    [Fact]
    public void Resuming_from_a_checkpoint_continues_exactly_where_training_stopped()
    {
        var spec = Spec(epochs: 2);
        using var straight = new TextClassificationTrainable(spec);
        straight.Setup();
        straight.Step();
        straight.Step();

        var checkpoint = Path.Combine(_directory, "checkpoint");
        using (var first = new TextClassificationTrainable(spec))
        {
            first.Setup();
            first.Step();
            first.SaveCheckpoint(checkpoint);
        }
        using var resumed = new TextClassificationTrainable(spec);
        resumed.Setup();
        resumed.LoadCheckpoint(checkpoint);
        Assert.Equal((1, straight.GlobalStep / 2), (resumed.CompletedEpochs, resumed.GlobalStep));
        resumed.Step();

        Assert.Equal(straight.LossCurve, resumed.LossCurve);
        var expected = Snapshot(straight.Model);
        var actual = Snapshot(resumed.Model);
        Assert.All(expected.Keys, name => Assert.True(expected[name].SequenceEqual(actual[name]), $"{name} differs after resuming"));
    }

    [Fact]
    public void A_checkpoint_taken_mid_epoch_resumes_the_epoch_exactly()
    {
        var spec = Spec(trainLimit: 64, epochs: 1);
        using var straight = new TextClassificationTrainable(spec);
        straight.Setup();
        var expectedEpoch = straight.Step();

        // Checkpoint after step 2 of 4 from the progress callback, then stop the run as a killed process would.
        var checkpoint = Path.Combine(_directory, "mid-epoch");
        using var cancel = new CancellationTokenSource();
        TextClassificationTrainable? interrupted = null;
        interrupted = new TextClassificationTrainable(spec, progress: new OnStep(p =>
        {
            if (p.Step != 2) return;
            interrupted!.SaveCheckpoint(checkpoint);
            cancel.Cancel();
        }));
        using (interrupted)
        {
            interrupted.Setup();
            Assert.Throws<OperationCanceledException>(() => interrupted.Step(cancel.Token));
        }

        using var resumed = new TextClassificationTrainable(spec);
        resumed.Setup();
        resumed.LoadCheckpoint(checkpoint);
        Assert.Equal((0, 2), (resumed.CompletedEpochs, resumed.GlobalStep));
        var resumedEpoch = resumed.Step();

        Assert.Equal(straight.LossCurve, resumed.LossCurve);
        Assert.Equal(expectedEpoch.TrainLoss, resumedEpoch.TrainLoss, 12);
        Assert.Equal(expectedEpoch.Validation.Values(), resumedEpoch.Validation.Values());
        var expected = Snapshot(straight.Model);
        var actual = Snapshot(resumed.Model);
        Assert.All(expected.Keys, name => Assert.True(expected[name].SequenceEqual(actual[name]), $"{name} differs after resuming mid-epoch"));
    }

    private sealed class OnStep(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    [Fact]
    public void A_trained_model_saves_and_reloads_to_identical_logits()
    {
        using var trainable = new TextClassificationTrainable(Spec() with { LabelNames = ["neg", "pos"] });
        trainable.Setup();
        trainable.Step();
        var saved = Path.Combine(_directory, "model");
        trainable.SaveModel(saved);

        using var reloaded = ModelDirectory.Open(saved).LoadModel(c => new BertForSequenceClassification(c, 2));
        reloaded.eval();
        trainable.Model.eval();
        var ids = tensor(trainable.Tokenizer.Encode("an utterly charming film", 48).Select(i => (long)i).ToArray()).unsqueeze(0);
        var mask = ones_like(ids);
        using var noGrad = no_grad();
        Assert.Equal(
            trainable.Model.call(ids, mask, zeros_like(ids)).data<float>().ToArray(),
            reloaded.call(ids, mask, zeros_like(ids)).data<float>().ToArray());
    }

    [Fact]
    public void A_non_finite_loss_fails_the_trial_with_the_step_named()
    {
        using var trainable = new TextClassificationTrainable(Spec());
        trainable.Setup();
        using (no_grad())
            trainable.Model.named_parameters().First(p => p.name == "classifier.weight").parameter.fill_(float.NaN);
        var error = Assert.Throws<TrainingDivergedException>(() => trainable.Step());
        Assert.Contains("at step 1", error.Message);
    }

    [Fact]
    public void Labels_outside_the_named_classes_are_rejected_with_file_and_line()
    {
        var data = Directory.CreateDirectory(Path.Combine(_directory, "three")).FullName;
        File.WriteAllText(Path.Combine(data, "train.jsonl"), "{\"text\": \"fine\", \"label\": 0}\n{\"text\": \"odd\", \"label\": 2}\n");
        File.WriteAllText(Path.Combine(data, "validation.jsonl"), "{\"text\": \"fine\", \"label\": 1}\n");
        using var trainable = new TextClassificationTrainable(Spec() with { Dataset = data, LabelNames = ["neg", "pos"] });
        var error = Assert.Throws<Data.DatasetException>(trainable.Setup);
        Assert.Contains($"{Path.Combine(data, "train.jsonl")}:2: label 2 is outside the 2 classes", error.Message);
    }

    [Fact]
    public void A_freeze_deeper_than_the_model_is_rejected()
    {
        using var trainable = new TextClassificationTrainable(Spec(freeze: "7"));
        var error = Assert.Throws<TrialSpecException>(trainable.Setup);
        Assert.Contains("freeze: 7 exceeds the 6 encoder layers", error.Message);
    }
}
