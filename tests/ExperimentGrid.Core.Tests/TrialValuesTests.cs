using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Tests;

/// <summary>A trial as people write it: a YAML or JSON file, values laid over it, and every problem named at once.</summary>
public sealed class TrialValuesTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("config-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string content)
    {
        var path = Path.Combine(_directory, $"{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, content);
        return path;
    }

    private static TrialValues Values(params (string Key, string Text)[] given)
    {
        var values = new TrialValues();
        foreach (var (key, text) in given) values.Read(key, text);
        return values;
    }

    [Fact]
    public void Yaml_keys_are_the_flag_names_in_snake_case_and_later_values_override_them()
    {
        var path = Write("task: text-classification\nmodel: minilm\nepochs: 3\nlearning_rate: 3.0e-5\nfreeze: all\nlabel_names: [neg, pos]\n");
        var spec = TrialValues.Load(path).Read("epochs", "2").ToSpec(path);
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
        var error = Assert.Throws<TrialSpecException>(() => TrialValues.Load(path).ToSpec(path));
        Assert.StartsWith($"{path}: 1 problem(s):\n  - epochz (line 2): 'epochz' is not a trial field (fields: task, model, ", error.Message);
    }

    [Fact]
    public void Every_bad_field_is_named_at_once()
    {
        var values = Values(("task", "summarize"), ("epochs", "0"), ("learning_rate", "-1"), ("freeze", "-2"), ("device", "tpu"), ("batch_size", "0"), ("max_length", "2"));
        var error = Assert.Throws<TrialSpecException>(() => values.ToSpec("flags"));
        foreach (var field in new[] { "task: 'summarize'", "epochs:", "learning_rate:", "freeze:", "device: 'tpu'", "batch_size:", "max_length:" })
            Assert.Contains(field, error.Message);
        Assert.Contains("7 problem(s)", error.Message);
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

    [Fact]
    public void Task_specific_fields_parse_for_their_task()
    {
        var masked = Values(("task", "fill-mask"), ("masking", "whole-word"), ("mlm_probability", "0.2")).ToSpec();
        Assert.Equal((TaskKind.MaskedLm, MaskingStrategy.WholeWord, 0.2), (masked.Task, masked.Masking, masked.MlmProbability));
        var setFit = Values(("task", "setfit"), ("samples_per_class", "8"), ("iterations", "5")).ToSpec();
        Assert.Equal((TaskKind.SetFit, (int?)8, 5), (setFit.Task, setFit.SamplesPerClass, setFit.Iterations));
    }

    [Fact]
    public void Task_specific_fields_are_refused_elsewhere_and_bad_values_named()
    {
        var error = Assert.Throws<TrialSpecException>(() =>
            Values(("task", "text-classification"), ("masking", "token"), ("samples_per_class", "0")).ToSpec("flags"));
        Assert.Contains("masking: applies only to task masked-lm, not text-classification", error.Message);
        Assert.Contains("samples_per_class: 0 is setfit's zero-shot training; text-classification needs at least 1", error.Message);

        error = Assert.Throws<TrialSpecException>(() => Values(("task", "masked-lm"), ("samples_per_class", "4")).ToSpec("flags"));
        Assert.Contains("samples_per_class: applies only to task setfit and text-classification, not masked-lm", error.Message);

        error = Assert.Throws<TrialSpecException>(() => Values(("task", "masked-lm"), ("masking", "span"), ("mlm_probability", "1.5")).ToSpec("flags"));
        Assert.Contains("masking: 'span' is not a masking (allowed: token, whole-word)", error.Message);
        Assert.Contains("mlm_probability: must be in (0, 1], got 1.5", error.Message);

        error = Assert.Throws<TrialSpecException>(() => Values(("task", "setfit"), ("samples_per_class", "0"), ("iterations", "0")).ToSpec("flags"));
        Assert.Contains("label_names must be given", error.Message);
        Assert.Contains("iterations: must be a positive integer", error.Message);
    }
}
