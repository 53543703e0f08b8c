using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Tests;

public sealed class TrialConfigTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("config-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string content)
    {
        var path = Path.Combine(_directory, $"{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Yaml_keys_are_the_flag_names_in_snake_case_and_flags_override_them()
    {
        var path = Write("task: text-classification\nmodel: minilm\nepochs: 3\nlearning_rate: 3.0e-5\nfreeze: all\nlabel_names: [neg, pos]\n");
        var spec = TrialConfig.Load(path).Overlay(new TrialConfig { Epochs = 2 }).ToSpec(path);
        Assert.Equal(2, spec.Epochs);
        Assert.Equal(3e-5, spec.LearningRate);
        Assert.Equal(FreezeDepth.Everything, spec.Freeze);
        Assert.Equal(["neg", "pos"], spec.LabelNames);
        Assert.Equal(16, spec.BatchSize);
    }

    [Fact]
    public void An_unknown_key_is_reported_with_its_line()
    {
        var path = Write("model: minilm\nepochz: 3\n");
        var error = Assert.Throws<TrialSpecException>(() => TrialConfig.Load(path));
        Assert.StartsWith($"{path}:2:", error.Message);
        Assert.Contains("epochz", error.Message);
    }

    [Fact]
    public void Every_bad_field_is_named_at_once()
    {
        var config = new TrialConfig { Task = "summarize", Epochs = 0, LearningRate = -1, Freeze = "-2", Device = "tpu", BatchSize = 0, MaxLength = 2 };
        var error = Assert.Throws<TrialSpecException>(() => config.ToSpec("flags"));
        foreach (var field in new[] { "task: 'summarize'", "epochs:", "learning_rate:", "freeze:", "device: 'tpu'", "batch_size:", "max_length:" })
            Assert.Contains(field, error.Message);
        Assert.Contains("7 invalid field(s)", error.Message);
    }

    [Theory]
    [InlineData("0", 0, false)]
    [InlineData("5", 5, false)]
    [InlineData("all", 0, true)]
    public void Freeze_parses_counts_and_all(string text, int layers, bool all)
    {
        var freeze = FreezeDepth.Parse(text);
        Assert.Equal((layers, all), (freeze.Layers, freeze.All));
        Assert.Equal(text, freeze.ToString());
    }
}
