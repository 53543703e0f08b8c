using System.Text.Json.Nodes;
using ExperimentGrid.Core.Modeling;
using static TorchSharp.torch;

namespace ExperimentGrid.Client.Tests;

/// <summary>--precision and --tf32 on the command line.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class PrecisionFlagTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("grid-precision-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_bad_precision_or_tf32_is_named_before_anything_loads()
    {
        var precision = await Cli.RunAsync("train", "--precision", "fp16");
        Assert.Equal(2, precision.ExitCode);
        Assert.Contains("precision: 'fp16' is not a precision (allowed: fp32, bf16)", precision.Error);
        Assert.DoesNotContain("Importing", precision.Error);

        var tf32 = await Cli.RunAsync("train", "--tf32", "maybe");
        Assert.NotEqual(0, tf32.ExitCode);
        Assert.Contains("--tf32", tf32.Error);
    }

    [Fact]
    public async Task A_bf16_trial_records_its_precision_and_saves_fp32_weights()
    {
        var output = Path.Combine(_directory, "model");
        var train = await Cli.RunAsync("train", "--model", "minilm", "--train-limit", "16", "--eval-limit", "8", "--test-split", "none",
            "--max-length", "32", "--batch-size", "8", "--label-names", "neg,pos", "--precision", "bf16", "--tf32", "false",
            "--device", "cpu", "--out", output, "--json");
        Assert.True(train.ExitCode == 0, train.Error);

        var metrics = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "metrics.json")))!;
        Assert.Equal("bf16", metrics["spec"]!["precision"]!.GetValue<string>());
        Assert.False(metrics["spec"]!["tf32"]!.GetValue<bool>());
        Assert.InRange(metrics["epochs"]![0]!["validation"]!["f1"]!.GetValue<double>(), 0, 1);

        var weights = Safetensors.Load(Path.Combine(output, "model.safetensors"));
        try
        {
            Assert.NotEmpty(weights);
            Assert.All(weights, w => Assert.True(w.Value.dtype == ScalarType.Float32, $"{w.Key} is {w.Value.dtype}"));
        }
        finally
        {
            foreach (var tensor in weights.Values) tensor.Dispose();
        }
    }
}
