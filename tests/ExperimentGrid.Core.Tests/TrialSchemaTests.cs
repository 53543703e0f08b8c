using System.Text.RegularExpressions;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Tests.Sweeps;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Tests;

/// <summary>
/// The one declaration of the trial fields: every TrialSpec property is a field, with help, a file key and a default
/// that reads back; problems are records with the path and line that set the value.
/// </summary>
public sealed partial class TrialSchemaTests : IDisposable
{
    private readonly SweepFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    public static TheoryData<string> FieldNames() => [.. TrialSchema.Fields.Select(f => f.Name)];

    public static TheoryData<string> PropertyNames() => [.. typeof(TrialSpec).GetProperties().Select(p => p.Name)];

    [GeneratedRegex(@" Default (.+)\.$")]
    private static partial Regex DefaultInHelp();

    [Fact]
    public void Every_property_of_a_trial_spec_is_a_field_with_help_in_declaration_order()
    {
        string[] properties =
        [
            "Task", "Model", "Dataset", "DataRoot", "TextColumn", "LabelColumn", "TrainSplit", "EvalSplit", "TestSplit", "TrainLimit", "EvalLimit",
            "LabelNames", "Epochs", "LearningRate", "BatchSize", "MicroBatchSize", "EvalBatchSize", "WeightDecay", "WarmupRatio", "MaxGradNorm",
            "Seed", "MaxLength", "Freeze", "PrefixCache", "Device", "Precision", "Tf32", "Masking", "MlmProbability", "SamplesPerClass", "Iterations",
        ];
        Assert.Equal(properties.Order(), typeof(TrialSpec).GetProperties().Select(p => p.Name).Order());
        Assert.Equal(
            ["task", "model", "dataset", "data_root", "text_column", "label_column", "train_split", "eval_split", "test_split", "train_limit", "eval_limit",
             "label_names", "epochs", "learning_rate", "batch_size", "micro_batch_size", "eval_batch_size", "weight_decay", "warmup_ratio", "max_grad_norm",
             "seed", "max_length", "freeze", "prefix_cache", "device", "precision", "tf32", "masking", "mlm_probability", "samples_per_class", "iterations"],
            TrialSchema.Fields.Select(f => f.Name));
        Assert.All(TrialSchema.Fields, f => Assert.False(string.IsNullOrWhiteSpace(f.Help), $"{f.Name} has no help"));
        Assert.Equal("--max-grad-norm", TrialSchema.Field(nameof(TrialSpec.MaxGradNorm)).Flag);
        Assert.Equal(["--lr"], TrialSchema.Field(nameof(TrialSpec.LearningRate)).Aliases);
    }

    [Fact]
    public void The_sweepable_fields_are_all_but_the_label_names_and_the_device()
    {
        Assert.Equal(TrialSchema.Fields.Select(f => f.Name).Except(["label_names", "device"]), TrialSchema.Sweepable.Select(f => f.Name));

        var path = _fixture.Write("name: s\nobjective: { metric: f1 }\ntrial: { dataset: reviews }\ngrid:\n  device: [cpu, cuda]\n");
        var error = Assert.Throws<SweepSpecException>(() => SweepSpec.Load(path).Expand(_fixture.Roots));
        var problem = Assert.Single(error.Problems);
        Assert.Equal(("grid.device", 5L), (problem.Path, problem.Line!.Value));
        Assert.StartsWith("device cannot be varied by a sweep (fields that can: task, model, dataset, data_root,", problem.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(PropertyNames))]
    public void A_default_in_help_is_the_value_of_a_new_spec(string property)
    {
        var field = TrialSchema.Field(property);
        var expected = typeof(TrialSpec).GetProperty(property)!.GetValue(new TrialSpec());
        var match = DefaultInHelp().Match(field.Help);
        Assert.True(match.Success == expected is not null, $"{property}: default {expected ?? "null"}, help '{field.Help}'");
        if (expected is null) return;
        var (value, problem) = field.Parse(match.Groups[1].Value);
        Assert.Null(problem);
        Assert.Equal(expected, value);
    }

    [Fact]
    public void Help_names_the_tasks_the_allowed_names_and_the_default()
    {
        Assert.Equal("masked-lm: share of pieces chosen as targets. Default 0.15.", TrialSchema.Field(nameof(TrialSpec.MlmProbability)).Help);
        Assert.Equal("Peak AdamW learning rate. Default 2e-5.", TrialSchema.Field(nameof(TrialSpec.LearningRate)).Help);
        Assert.EndsWith(" One of fp32, bf16. Default fp32.", TrialSchema.Field(nameof(TrialSpec.Precision)).Help, StringComparison.Ordinal);
    }

    /// <summary>Each field written in a file, alone, as its default's text; the task is one the field applies to.</summary>
    [Theory]
    [MemberData(nameof(FieldNames))]
    public void Every_field_has_a_file_key_that_reads_its_default_back(string name)
    {
        var field = TrialSchema.Find(name)!;
        var task = field.Tasks.Count > 0 ? field.Tasks[0] : default;
        var text = field.IsList ? "[neg, pos]" : field.Format(field.Default);
        var path = _fixture.Write($"{(field.Tasks.Count > 0 ? $"task: {TaskKinds.Name(task)}\n" : "")}{name}: {text}\n");

        var spec = TrialValues.Load(path).ToSpec(path);

        var expected = field.IsList ? spec with { LabelNames = null } : spec;
        Assert.Equal(new TrialSpec { Task = task }, expected);
        if (field.IsList) Assert.Equal(["neg", "pos"], spec.LabelNames);
    }

    [Fact]
    public void A_bad_value_in_a_trial_file_is_a_problem_with_its_path_and_line()
    {
        var path = _fixture.Write("model: minilm\nepochs: 0\nbatch_size: eight\nmicro_batch_size: 32\n");

        var error = Assert.Throws<TrialSpecException>(() => TrialValues.Load(path).ToSpec(path));

        Assert.Equal(
            [
                new SpecProblem("epochs", 2, "must be a positive integer, got 0"),
                new SpecProblem("batch_size", 3, "'eight' is not an integer"),
                new SpecProblem("micro_batch_size", 4, "32 exceeds batch_size 16; a micro-batch is a slice of a batch"),
            ],
            error.Problems);
        Assert.Equal(
            $"{path}: 3 problem(s):\n  - epochs (line 2): must be a positive integer, got 0\n  - batch_size (line 3): 'eight' is not an integer\n" +
            "  - micro_batch_size (line 4): 32 exceeds batch_size 16; a micro-batch is a slice of a batch",
            error.Message);
    }

    [Fact]
    public void A_bad_value_in_a_sweep_s_trial_section_is_a_problem_with_its_path_and_line()
    {
        var path = _fixture.Write("name: s\nobjective: { metric: f1 }\ntrial:\n  dataset: reviews\n  warmup_ratio: 2\n");

        var error = Assert.Throws<SweepSpecException>(() => SweepSpec.Load(path).Expand(_fixture.Roots));

        Assert.Equal([new SpecProblem("trial.warmup_ratio", 5, "must be in [0, 1], got 2")], error.Problems);
        Assert.Equal($"{path}: 1 problem(s):\n  - trial.warmup_ratio (line 5): must be in [0, 1], got 2", error.Message);
    }

    [Fact]
    public void Unknown_keys_in_a_trial_file_are_all_named_with_their_lines()
    {
        var path = _fixture.Write("epochz: 3\nmodel: minilm\nlearning-rate: 1.0e-4\n");

        var error = Assert.Throws<TrialSpecException>(() => TrialValues.Load(path).ToSpec(path));

        Assert.Equal([("epochz", 1L), ("learning-rate", 3L)], error.Problems.Select(p => (p.Path, p.Line!.Value)));
        Assert.All(error.Problems, p => Assert.Equal(TrialSchema.NotAField(p.Path), p.Message));
    }

    [Fact]
    public void Unknown_keys_in_a_sweep_s_trial_section_are_named_with_their_lines_with_every_other_problem()
    {
        var path = _fixture.Write("name: s\nobjective: { metric: f1 }\ntrial:\n  dataset: reviews\n  epochz: 3\n  lr: 0.1\ngrid:\n  epochs: [0]\n");

        var error = Assert.Throws<SweepSpecException>(() => SweepSpec.Load(path).Expand(_fixture.Roots));

        Assert.Equal(
            [
                new SpecProblem("trial.epochz", 5, TrialSchema.NotAField("epochz")),
                new SpecProblem("trial.lr", 6, TrialSchema.NotAField("lr")),
                new SpecProblem("grid.epochs[0]", 8, "must be a positive integer, got 0"),
            ],
            error.Problems);
    }

    [Fact]
    public void A_sweep_s_stored_plan_keeps_its_trial_section()
    {
        var plan = _fixture.Expand("""
            name: kept
            objective: { metric: f1 }
            trial:
              dataset: reviews
              learning_rate: 3.0e-5
              label_names: [neg, "a, b"]
              test_split: none
              freeze: all
              precision: bf16
            grid: { epochs: [1, 2] }
            """);

        var loaded = SweepPlan.FromJson(plan.ToJson());

        var (before, after) = (plan.Trials[1].Spec, loaded.Trials[1].Spec);
        Assert.Equal(["neg", "a, b"], after.LabelNames);
        Assert.Equal(before with { LabelNames = null }, after with { LabelNames = null });
        Assert.Equal((3e-5, null, FreezeDepth.Everything, ComputePrecision.Bf16, 2), (after.LearningRate, after.TestSplit, after.Freeze, after.Precision, after.Epochs));
    }

    [Fact]
    public void None_unsets_an_optional_field_and_a_list_reads_from_commas_or_a_sequence()
    {
        var flags = new TrialValues().Read("test_split", "none").Read("train_limit", "none").Read("label_names", "neg, pos").ToSpec();
        Assert.Equal((null, null), (flags.TestSplit, flags.TrainLimit));
        Assert.Equal(["neg", "pos"], flags.LabelNames);

        var path = _fixture.Write("test_split: ''\nlabel_names: [neg, pos]\n");
        var file = TrialValues.Load(path).ToSpec(path);
        Assert.Null(file.TestSplit);
        Assert.Equal(["neg", "pos"], file.LabelNames);

        var error = Assert.Throws<TrialSpecException>(() => new TrialValues().Read("dataset", " ").Read("label_names", "neg,neg").ToSpec());
        Assert.Equal(
            [new SpecProblem("dataset", null, "must not be empty"), new SpecProblem("label_names", null, "need at least two distinct, non-empty names")],
            error.Problems);
    }

    [Fact]
    public void Values_read_into_the_field_s_type()
    {
        var spec = new TrialValues().Read("task", "ner").Read("freeze", "all").Read("tf32", "False").Read("learning_rate", "3e-5").ToSpec();
        Assert.Equal((TaskKind.TokenClassification, FreezeDepth.Everything, false, 3e-5), (spec.Task, spec.Freeze, spec.Tf32, spec.LearningRate));
        Assert.Throws<ArgumentException>(() => new TrialValues().Set(TrialSchema.Field(nameof(TrialSpec.Epochs)), "3", "epochs"));
    }
}
