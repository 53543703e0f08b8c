using System.Text.Json.Nodes;

namespace ExperimentGrid.Client.Tests;

[Collection(ConsoleCollection.Name)]
public sealed class TrainPredictTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("grid-train-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Train_saves_a_model_and_metrics_that_eval_reproduces_and_predict_serves()
    {
        var config = Path.Combine(_directory, "trial.yaml");
        await File.WriteAllTextAsync(config, "model: minilm\ndataset: rotten_tomatoes\ntrain_limit: 48\neval_limit: 24\nmax_length: 48\nlabel_names: [neg, pos]\nepochs: 1\n");
        var output = Path.Combine(_directory, "model");

        var train = await Cli.RunAsync("train", "--config", config, "--learning-rate", "5e-5", "--out", output, "--json", "--device", "cpu");
        Assert.True(train.ExitCode == 0, train.Error);
        var result = JsonNode.Parse(train.Out)!;
        Assert.Equal(5e-5, result["spec"]!["learning_rate"]!.GetValue<double>());
        Assert.Equal(48, result["spec"]!["train_limit"]!.GetValue<int>());
        Assert.Equal(3, result["epochs"]![0]!["global_step"]!.GetValue<int>());
        Assert.Equal(24, result["test"]!["examples"]!.GetValue<int>());
        Assert.InRange(result["test"]!["f1"]!.GetValue<double>(), 0, 1);
        Assert.Equal(3, result["loss_curve"]!.AsArray().Count);
        Assert.True(File.Exists(Path.Combine(output, "metrics.json")));
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));

        // eval on the saved model scores the test slice exactly as the trial's own final evaluation did.
        var eval = await Cli.RunAsync("eval", "--config", config, "--model", output, "--split", "test", "--json", "--device", "cpu");
        Assert.True(eval.ExitCode == 0, eval.Error);
        var metrics = JsonNode.Parse(eval.Out)!;
        Assert.Equal("classification", metrics["kind"]!.GetValue<string>());
        Assert.Equal(result["test"]!["f1"]!.GetValue<double>(), metrics["f1"]!.GetValue<double>(), 9);
        Assert.Equal(result["test"]!["loss"]!.GetValue<double>(), metrics["loss"]!.GetValue<double>(), 5);

        var predict = await Cli.RunAsync("predict", "--model", output, "--json", "a masterpiece of warmth and wit", "a tedious, lifeless mess");
        Assert.True(predict.ExitCode == 0, predict.Error);
        var predictions = JsonNode.Parse(predict.Out)!.AsArray();
        Assert.Equal(2, predictions.Count);
        foreach (var prediction in predictions)
        {
            var scores = prediction!["scores"]!.AsArray();
            Assert.Equal(["neg", "pos"], scores.Select(s => s!["label"]!.GetValue<string>()));
            Assert.Equal(1.0, scores.Sum(s => s!["probability"]!.GetValue<double>()), 4);
            // The probabilities are the softmax of the logits printed beside them.
            var logits = prediction["logits"]!.AsArray().Select(l => l!.GetValue<double>()).ToArray();
            var partition = logits.Sum(Math.Exp);
            for (var c = 0; c < logits.Length; c++)
                Assert.Equal(Math.Exp(logits[c]) / partition, scores[c]!["probability"]!.GetValue<double>(), 5);
            Assert.Contains(prediction["label"]!.GetValue<string>(), new[] { "neg", "pos" });
        }
    }
}
