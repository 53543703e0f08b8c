using System.CommandLine;
using ExperimentGrid.Client.Commands;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Client.Tests;

/// <summary>The trial flags come from the trial schema: one per field, with its aliases and help, read as a file key is.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class TrialFlagTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("grid-flags-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("train")]
    [InlineData("eval")]
    public void Every_schema_field_is_a_flag_with_its_aliases_and_help(string commandName)
    {
        var command = Program.BuildRoot().Subcommands.Single(c => c.Name == commandName);

        foreach (var field in TrialSchema.Fields)
        {
            var option = Assert.Single(command.Options, o => o.Name == field.Flag);
            Assert.Equal(field.Aliases.Order(), option.Aliases.Order());
            Assert.Equal(field.Help, option.Description);
        }
        Assert.Contains(command.Options, o => o.Name == "--config");
    }

    [Fact]
    public void The_flags_and_aliases_are_the_ones_people_already_type()
    {
        var train = Program.BuildRoot().Subcommands.Single(c => c.Name == "train");
        var names = train.Options.SelectMany(o => o.Aliases.Append(o.Name)).ToHashSet();

        string[] expected =
        [
            "--config", "--task", "--model", "-m", "--dataset", "-d", "--data-root", "--text-column", "--label-column", "--train-split", "--eval-split",
            "--test-split", "--train-limit", "--eval-limit", "--label-names", "--epochs", "-e", "--learning-rate", "--lr", "--batch-size", "-b",
            "--micro-batch-size", "--eval-batch-size", "--weight-decay", "--warmup-ratio", "--max-grad-norm", "--seed", "--max-length", "--freeze",
            "--device", "--precision", "--tf32", "--masking", "--mlm-probability", "--samples-per-class", "--iterations",
        ];
        Assert.Empty(expected.Except(names));
    }

    private TrialSpec Read(params string[] args)
    {
        var options = new TrialOptions();
        var command = new Command("probe");
        options.AddTo(command);
        var parse = command.Parse(args);
        Assert.Empty(parse.Errors);
        return options.Read(parse, "probe");
    }

    [Fact]
    public void Flags_read_into_the_spec_over_the_config_file()
    {
        var config = Path.Combine(_directory, "trial.yaml");
        File.WriteAllText(config, "epochs: 3\nfreeze: 2\nlabel_names: [a, b]\n");

        var spec = Read("--config", config, "--lr", "3e-5", "-e", "2", "--label-names", "neg, pos", "--tf32", "false", "--test-split", "none", "--task", "ner");

        Assert.Equal((2, 3e-5, false, null, TaskKind.TokenClassification), (spec.Epochs, spec.LearningRate, spec.Tf32, spec.TestSplit, spec.Task));
        Assert.Equal(FreezeDepth.Bottom(2), spec.Freeze);
        Assert.Equal(["neg", "pos"], spec.LabelNames);
    }

    [Fact]
    public void A_problem_is_named_by_the_flag_as_typed_and_the_file_s_by_its_line()
    {
        var config = Path.Combine(_directory, "trial.yaml");
        File.WriteAllText(config, "model: minilm\nbatch_sise: 8\n");

        var error = Assert.Throws<TrialSpecException>(() => Read("--config", config, "--lr", "0", "-e", "zero"));

        Assert.Equal(
            [
                new SpecProblem("batch_sise", 2, TrialSchema.NotAField("batch_sise")),
                new SpecProblem("-e", null, "'zero' is not an integer"),
                new SpecProblem("--lr", null, "must be in (0, 1], got 0"),
            ],
            error.Problems);
        Assert.StartsWith($"{config}: 3 problem(s):\n", error.Message, StringComparison.Ordinal);
    }
}
