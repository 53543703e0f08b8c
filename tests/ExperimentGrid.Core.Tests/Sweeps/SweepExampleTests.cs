using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Trials;
using ExperimentGrid.TestSupport;

namespace ExperimentGrid.Core.Tests.Sweeps;

public sealed class SweepExampleTests : IDisposable
{
    private readonly string _checkpoints = Directory.CreateTempSubdirectory("checkpoints-").FullName;

    public void Dispose() => Directory.Delete(_checkpoints, recursive: true);

    /// <summary>Trials per example: the product of its grid lists, counted by hand.</summary>
    public static TheoryData<string, int, TaskKind, EvaluationMetric, ObjectiveMode> Examples => new()
    {
        { "rotten-tomatoes-freeze.yaml", 4, TaskKind.TextClassification, EvaluationMetric.F1, ObjectiveMode.Max },
        { "masked-lm-masking.yaml", 2 * 3, TaskKind.MaskedLm, EvaluationMetric.Perplexity, ObjectiveMode.Min },
        { "conll2003-ner-epochs.yaml", 2, TaskKind.TokenClassification, EvaluationMetric.F1, ObjectiveMode.Max },
        { "setfit-samples.yaml", 4, TaskKind.SetFit, EvaluationMetric.F1, ObjectiveMode.Max },
        { "rotten-tomatoes-random.yaml", 24, TaskKind.TextClassification, EvaluationMetric.F1, ObjectiveMode.Max },
        { "rotten-tomatoes-tpe.yaml", 30, TaskKind.TextClassification, EvaluationMetric.F1, ObjectiveMode.Max },
        { "conll2003-search.yaml", 4 * 2, TaskKind.TokenClassification, EvaluationMetric.F1, ObjectiveMode.Max },
        // Replicates are trials, not configurations: the space holds configurations.
        { "setfit-16-shot-seeds.yaml", 2, TaskKind.SetFit, EvaluationMetric.F1, ObjectiveMode.Max },
        { "fine-tune-16-shot-seeds.yaml", 1, TaskKind.TextClassification, EvaluationMetric.F1, ObjectiveMode.Max },
        { "rotten-tomatoes-freeze-pareto.yaml", 5, TaskKind.TextClassification, EvaluationMetric.F1, ObjectiveMode.Max },
        { "rotten-tomatoes-best-seeds.yaml", 1, TaskKind.TextClassification, EvaluationMetric.F1, ObjectiveMode.Max },
        { "conll2003-best.yaml", 1, TaskKind.TokenClassification, EvaluationMetric.F1, ObjectiveMode.Max },
        { "rotten-tomatoes-head-only.yaml", 8, TaskKind.TextClassification, EvaluationMetric.F1, ObjectiveMode.Max },
    };

    [Fact]
    public void Every_example_spec_is_listed_here()
    {
        var files = Directory.EnumerateFiles(Repository.Path("examples", "sweeps")).Select(Path.GetFileName).Order();
        Assert.Equal(Examples.Select(row => (string)row[0]).Order(), files);
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Each_example_expands_against_the_shared_datasets(string file, int trials, TaskKind task, EvaluationMetric metric, ObjectiveMode mode)
    {
        var plan = SweepSpec.Load(Path.Combine(Repository.Path("examples", "sweeps"), file)).Expand(new SweepRoots(DatasetLocator.DefaultDataRoot(), [], _checkpoints));

        Assert.Equal(Path.GetFileNameWithoutExtension(file), plan.Name);
        Assert.Equal(trials, plan.Trials.Count);
        Assert.Equal(trials, plan.Trials.Select(t => t.Spec).Distinct().Count());
        Assert.All(plan.Trials, t => Assert.Equal(task, t.Spec.Task));
        Assert.Equal(new SweepObjective(metric, mode), plan.Objective);
    }

    [Fact]
    public void The_freeze_example_is_the_seed_notebook_s_experiment()
    {
        var plan = SweepSpec.Load(Path.Combine(Repository.Path("examples", "sweeps"), "rotten-tomatoes-freeze.yaml"))
            .Expand(new SweepRoots(DatasetLocator.DefaultDataRoot(), [], _checkpoints));

        Assert.Equal(["0", "3", "5", "all"], plan.Trials.Select(t => Assert.Single(t.Hyperparameters).Value));
        Assert.All(plan.Trials, t => Assert.Equal((2e-5, 16, 0.01, 1, "rotten_tomatoes"), (t.Spec.LearningRate, t.Spec.BatchSize, t.Spec.WeightDecay, t.Spec.Epochs, t.Spec.Dataset)));
    }

    [Fact]
    public void The_random_example_is_bounded_by_its_budgets_and_pruned_by_asha()
    {
        var plan = SweepSpec.Load(Path.Combine(Repository.Path("examples", "sweeps"), "rotten-tomatoes-random.yaml"))
            .Expand(new SweepRoots(DatasetLocator.DefaultDataRoot(), [], _checkpoints));

        Assert.Equal(new SweepBudget(24, TimeSpan.FromHours(2), 3), plan.Budget);
        Assert.Equal(new AshaSettings(1, 2, 3), plan.Scheduler);
        Assert.All(plan.Trials, t => Assert.InRange(t.Spec.LearningRate, 1e-5, 2e-4));
        Assert.Equal(["batch_size", "learning_rate", "warmup_ratio", "weight_decay"], plan.Trials[0].Hyperparameters.Select(h => h.Field).Order());
    }

    [Fact]
    public void The_tpe_example_searches_its_five_fields_within_their_ranges_pruned_by_asha()
    {
        var plan = SweepSpec.Load(Path.Combine(Repository.Path("examples", "sweeps"), "rotten-tomatoes-tpe.yaml"))
            .Expand(new SweepRoots(DatasetLocator.DefaultDataRoot(), [], _checkpoints));

        Assert.Equal(new TpeSettings(10, 24, 0.1), plan.Searcher);
        Assert.Equal(new AshaSettings(1, 2, 4), plan.Scheduler);
        Assert.Equal(30, plan.Budget.MaxTrials);
        var searcher = plan.CreateSearcher();
        var suggested = searcher.Suggest(12);
        Assert.All(suggested, s =>
        {
            Assert.Equal(["learning_rate", "epochs", "warmup_ratio", "weight_decay", "freeze"], s.Hyperparameters.Select(h => h.Field));
            Assert.InRange(s.Spec!.LearningRate, 1e-5, 3e-4);
            Assert.InRange(s.Spec.Epochs, 1, 4);
            Assert.Equal((2000, 500, 128, (string?)null), (s.Spec.TrainLimit, s.Spec.EvalLimit, s.Spec.MaxLength, s.Spec.TestSplit));
        });
    }
}
