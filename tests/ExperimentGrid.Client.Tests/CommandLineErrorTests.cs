namespace ExperimentGrid.Client.Tests;

[Collection(ConsoleCollection.Name)]
public sealed class CommandLineErrorTests
{
    [Fact]
    public async Task Help_lists_every_command()
    {
        var result = await Cli.RunAsync("--help");
        Assert.Equal(0, result.ExitCode);
        foreach (var command in new[] { "train", "predict", "ner", "fill-mask", "embed", "models" }) Assert.Contains(command, result.Out);
    }

    [Fact]
    public async Task Every_invalid_hyperparameter_is_named_before_anything_loads()
    {
        var result = await Cli.RunAsync("train", "--epochs", "0", "--freeze", "-2", "--lr", "0", "--device", "tpu");
        Assert.Equal(2, result.ExitCode);
        foreach (var flag in new[] { "--epochs: must be", "--freeze: '-2'", "--lr: must be", "--device: 'tpu'" }) Assert.Contains(flag, result.Error);
        Assert.DoesNotContain("Importing", result.Error);
    }

    [Fact]
    public async Task A_flag_of_the_wrong_type_is_a_parse_error_naming_the_flag()
    {
        var result = await Cli.RunAsync("train", "--epochs", "three");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--epochs", result.Error);
    }

    [Fact]
    public async Task A_missing_config_file_or_dataset_is_named()
    {
        var config = await Cli.RunAsync("train", "--config", "/nonexistent/trial.yaml");
        Assert.Equal(2, config.ExitCode);
        Assert.Contains("/nonexistent/trial.yaml: config file not found", config.Error);

        var dataset = await Cli.RunAsync("train", "--dataset", "no_such_dataset", "--epochs", "1");
        Assert.Equal(2, dataset.ExitCode);
        Assert.Contains("dataset 'no_such_dataset'", dataset.Error);
    }

    [Fact]
    public async Task Predict_with_a_model_that_does_not_exist_names_the_path()
    {
        var result = await Cli.RunAsync("predict", "--model", "/nonexistent/model", "some text");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("/nonexistent/model", result.Error);
    }

    [Fact]
    public async Task Predict_with_an_untrained_encoder_explains_what_is_missing()
    {
        var result = await Cli.RunAsync("predict", "--model", "minilm", "some text");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no id2label", result.Error);
    }

    [Fact]
    public async Task Fill_mask_needs_exactly_one_mask_and_ner_needs_a_trained_tagger()
    {
        var noMask = await Cli.RunAsync("fill-mask", "--model", "minilm", "no mask here");
        Assert.Equal(2, noMask.ExitCode);
        Assert.Contains("exactly one [MASK]", noMask.Error);
        Assert.DoesNotContain("(Parameter", noMask.Error);

        var ner = await Cli.RunAsync("ner", "--model", "minilm", "Ellie lives in Berlin");
        Assert.Equal(2, ner.ExitCode);
        Assert.Contains("not a trained token classifier", ner.Error);
    }
}
