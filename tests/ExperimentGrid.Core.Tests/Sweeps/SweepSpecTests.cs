using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Tests.Sweeps;

public sealed class SweepSpecTests : IDisposable
{
    private readonly SweepFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private const string Header = """
        name: test-sweep
        objective: { metric: f1 }
        trial:
          dataset: reviews
          learning_rate: 3.0e-5

        """;

    [Fact]
    public void A_grid_expands_to_every_combination_with_the_first_field_changing_slowest()
    {
        var plan = _fixture.Expand(Header + "grid:\n  freeze: [0, all]\n  epochs: [1, 2]\n");

        Assert.Equal(["t001", "t002", "t003", "t004"], plan.Trials.Select(t => t.Id));
        Assert.Equal(
            [("0", "1"), ("0", "2"), ("all", "1"), ("all", "2")],
            plan.Trials.Select(t => (t.Hyperparameters[0].Value, t.Hyperparameters[1].Value)));
        Assert.All(plan.Trials, t => Assert.Equal(["freeze", "epochs"], t.Hyperparameters.Select(h => h.Field)));
        Assert.Equal(
            [(FreezeDepth.None, 1), (FreezeDepth.None, 2), (FreezeDepth.Everything, 1), (FreezeDepth.Everything, 2)],
            plan.Trials.Select(t => (t.Spec.Freeze, t.Spec.Epochs)));
        Assert.All(plan.Trials, t =>
        {
            Assert.Equal(3e-5, t.Spec.LearningRate);
            Assert.Equal("reviews", t.Spec.Dataset);
            Assert.Equal(_fixture.DataRoot, t.Spec.DataRoot);
            Assert.Equal("minilm", t.Spec.Model);
        });
    }

    [Fact]
    public void Seeds_repeat_each_configuration_one_after_another()
    {
        var plan = _fixture.Expand(Header + "grid:\n  freeze: [0, 3]\nseeds: [7, 8]\n");

        Assert.Equal([("0", 7), ("0", 8), ("3", 7), ("3", 8)], plan.Trials.Select(t => (t.Spec.Freeze.ToString(), t.Spec.Seed)));
        Assert.Equal([new Hyperparameter("freeze", "3"), new Hyperparameter("seed", "8")], plan.Trials[3].Hyperparameters);
    }

    [Fact]
    public void Without_grid_or_random_the_sweep_is_its_one_trial_and_the_defaults_hold()
    {
        var plan = _fixture.Expand(Header);

        var trial = Assert.Single(plan.Trials);
        Assert.Equal(("t001", 0), (trial.Id, trial.Hyperparameters.Count));
        Assert.Equal((null, 1, 500), (plan.MaxConcurrentTrials, plan.Retries, plan.CheckpointEvery));
        Assert.Equal(new FifoSettings(), plan.Scheduler);
        Assert.IsType<FifoScheduler>(plan.CreateScheduler());
    }

    [Theory]
    [InlineData("text-classification", "f1", null, ObjectiveMode.Max)]
    [InlineData("text-classification", "loss", null, ObjectiveMode.Min)]
    [InlineData("masked-lm", "perplexity", null, ObjectiveMode.Min)]
    [InlineData("masked-lm", "Accuracy", null, ObjectiveMode.Max)]
    [InlineData("text-classification", "f1", "min", ObjectiveMode.Min)]
    public void The_objective_mode_defaults_to_the_metric_s_direction(string task, string metric, string? mode, ObjectiveMode expected)
    {
        var objective = mode is null ? $"{{ metric: {metric} }}" : $"{{ metric: {metric}, mode: {mode} }}";
        var plan = _fixture.Expand($"name: s\ntrial: {{ task: {task}, dataset: reviews }}\nobjective: {objective}\n");
        Assert.Equal(new SweepObjective(Enum.Parse<EvaluationMetric>(metric, ignoreCase: true), expected), plan.Objective);
    }

    [Fact]
    public void Json_gives_the_same_plan_as_yaml()
    {
        var yaml = _fixture.Expand(Header + "grid:\n  epochs: [1, 2]\nmax_concurrent_trials: 2\nretries: 0\ncheckpoint_every: 50\n");
        var json = SweepSpec.Load(_fixture.Write("""
            {"name": "test-sweep", "objective": {"metric": "f1"}, "trial": {"dataset": "reviews", "learning_rate": 3.0e-5},
             "grid": {"epochs": [1, 2]}, "max_concurrent_trials": 2, "retries": 0, "checkpoint_every": 50}
            """, "json")).Expand(_fixture.Roots);

        Assert.Equal(yaml.Trials.Select(t => t.Spec), json.Trials.Select(t => t.Spec));
        Assert.Equal((2, 0, 50), (json.MaxConcurrentTrials!.Value, json.Retries, json.CheckpointEvery));
        Assert.Equal((2, 0, 50), (yaml.MaxConcurrentTrials!.Value, yaml.Retries, yaml.CheckpointEvery));
    }

    [Fact]
    public void An_unknown_key_is_named_with_its_line_by_the_reader()
    {
        var path = _fixture.Write(Header + "grdi:\n  epochs: [1]\n");
        var error = Assert.Throws<SweepSpecException>(() => SweepSpec.Load(path));
        Assert.StartsWith($"{path}:6:", error.Message);
        Assert.Contains("grdi", error.Message);
    }

    [Fact]
    public void An_unknown_trial_key_is_named_with_its_line_among_the_other_problems()
    {
        var (message, _) = _fixture.Refuse("name: s\ntrial:\n  epochz: 3\n  dataset: reviews\n");
        Assert.Contains("\n  - trial.epochz (line 3): 'epochz' is not a trial field (fields: task, model, dataset,", message);
        Assert.Contains("\n  - objective: required", message);
        Assert.Contains("2 problem(s)", message);
    }

    [Fact]
    public void Every_problem_is_named_at_once_with_its_field_and_line()
    {
        var (message, path) = _fixture.Refuse("""
            name: bad sweep!
            trial:
              task: text-classification
              model: bert-huge
              dataset: nowhere
              epochs: 2
            grid:
              freeze: []
              epochs: [1, 2]
              colour: [red]
              learning_rate: [2.0e-5, 0, x, 2e-5]
            random:
              batch_size: { uniform: [8, 32] }
            objective: { metric: bleu }
            max_concurrent_trials: 0
            retries: -1
            checkpoint_every: -5
            """);

        string[] expected =
        [
            "name (line 1): 'bad sweep!' must be 1 to 64 letters, digits",
            "grid.freeze (line 8): empty list; give at least one value",
            "grid.epochs (line 9): also set at trial.epochs (line 6), which it would override",
            "grid.colour (line 10): 'colour' is not a trial field (fields: task, model, dataset, data_root,",
            "grid.learning_rate[2] (line 11): 'x' is not a number",
            "grid.learning_rate[3] (line 11): '2e-5' is listed twice",
            "random.batch_size.uniform (line 13): draws real numbers, but batch_size takes integers; use int_uniform or choice",
            "objective.metric (line 14): 'bleu' is not a metric (allowed: loss, accuracy, f1, precision, recall, perplexity, train_seconds, trainable_parameters)",
            "max_concurrent_trials (line 15): must be a positive integer, got 0",
            "retries (line 16): must be 0 or more, got -1",
            "checkpoint_every (line 17): must be 0 (checkpoint at epoch ends only) or a number of optimizer steps, got -5",
            "grid.learning_rate[1] (line 11): must be in (0, 1], got 0",
            "trial.model (line 4): 'bert-huge' is neither a bundled model (minilm, arctic-xs) nor a directory under the model roots",
            $"trial.dataset (line 5): no folder or file 'nowhere' in {_fixture.DataRoot} (there: reviews)",
        ];
        Assert.StartsWith($"{path}: {expected.Length} problem(s):\n", message);
        var problems = message.Split('\n').Skip(1).Select(line => line["  - ".Length..]).ToList();
        Assert.Equal(expected.Length, problems.Count);
        foreach (var problem in expected) Assert.Contains(problems, p => p.StartsWith(problem, StringComparison.Ordinal));
        // The value of one grid point is named once, at that value, with no list of trials.
        Assert.Contains("grid.learning_rate[1] (line 11): must be in (0, 1], got 0", problems);
    }

    [Fact]
    public void A_rule_that_a_combination_breaks_is_named_once_with_the_trials_it_hits()
    {
        var (message, _) = _fixture.Refuse("""
            name: s
            trial:
              dataset: reviews
              masking: whole-word
            grid:
              task: [masked-lm, text-classification]
              epochs: [1, 0]
            objective: { metric: perplexity }
            """);

        Assert.Contains("3 problem(s)", message);
        Assert.Contains("\n  - trial.masking (line 4): applies only to task masked-lm, not text-classification " +
            "(in 2 of 4 trials: t003 (task=text-classification, epochs=1), t004 (task=text-classification, epochs=0))", message);
        Assert.Contains("\n  - objective.metric (line 8): task text-classification does not report perplexity " +
            "(it reports f1, accuracy, precision, recall, loss, train_seconds, trainable_parameters) (in 2 of 4 trials: t003", message);
        // A problem with one grid value is named at the value, once, however many trials share it.
        Assert.Contains("\n  - grid.epochs[1] (line 7): must be a positive integer, got 0\n", message + "\n");
    }

    [Fact]
    public void Draws_that_break_a_rule_are_named_in_one_line()
    {
        var (message, _) = _fixture.Refuse(Header.Replace("  learning_rate: 3.0e-5\n", "") + """
            random:
              learning_rate: { uniform: [0.5, 2.0] }
            trials: 20
            """);

        var lines = message.Split('\n').Where(l => l.StartsWith("  - ", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(lines);
        Assert.StartsWith("  - random.learning_rate (line 6): must be in (0, 1], got ", line);
        Assert.Matches(@"\(in \d+ of 20 trials: t\d{3} \(learning_rate=1\.\d+\), ", line);
    }

    [Theory]
    [InlineData("warmup_ratio: { log_uniform: [0, 1] }", "random.warmup_ratio.log_uniform (line 7): low must be above 0 for a logarithm, got 0")]
    [InlineData("warmup_ratio: { uniform: [1.0e-5] }", "random.warmup_ratio.uniform (line 7): give [low, high], got 1 value(s)")]
    [InlineData("warmup_ratio: { uniform: [3.0e-5, 1.0e-5] }", "random.warmup_ratio.uniform (line 7): low (3.0e-5) must be below high (1.0e-5)")]
    [InlineData("warmup_ratio: { uniform: [1, 2], choice: [1] }", "random.warmup_ratio (line 7): give exactly one of uniform: [low, high], log_uniform: [low, high], int_uniform: [low, high], choice: [values]")]
    [InlineData("batch_size: { int_uniform: [32, 8] }", "random.batch_size.int_uniform (line 7): low (32) must not exceed high (8)")]
    [InlineData("freeze: { int_uniform: [0, 5] }", "random.freeze.int_uniform (line 7): draws integers, but freeze takes text; use choice")]
    [InlineData("warmup_ratio: { int_uniform: [0, 1] }", "random.warmup_ratio.int_uniform (line 7): draws integers, but warmup_ratio takes real numbers; use uniform, log_uniform or choice")]
    [InlineData("freeze: { choice: [] }", "random.freeze.choice (line 7): empty list; give at least one value")]
    [InlineData("epochs: { choice: [1, two] }", "random.epochs.choice[1] (line 7): 'two' is not an integer")]
    [InlineData("learning_rate: { choice: [1.0e-5] }", "random.learning_rate (line 7): also set at trial.learning_rate (line 5), which it would override")]
    [InlineData("label_names: { choice: [a] }", "random.label_names (line 7): label_names is a list, which cannot be varied; set it under trial:")]
    public void A_bad_distribution_is_named_with_its_field_and_line(string entry, string expected)
    {
        var (message, _) = _fixture.Refuse(Header + $"random:\n  {entry}\n");
        Assert.Contains($"\n  - {expected}", message);
        Assert.Contains("1 problem(s)", message);
    }

    [Theory]
    [InlineData("trials: 3\n", "trials (line 6): counts draws from random:, which is empty here; to repeat a configuration, give seeds:")]
    [InlineData("grid:\n  freeze: [0]\nrandom:\n  freeze: { choice: [3] }\n", "random.freeze (line 9): also varied at grid.freeze (line 7); vary it in one place")]
    [InlineData("seeds: []\n", "seeds (line 6): empty list; give at least one seed, or leave seeds out")]
    [InlineData("seeds: [1, 2, 1]\n", "seeds[2] (line 6): 1 is listed twice")]
    [InlineData("seeds: [1]\ngrid:\n  seed: [3]\n", "grid.seed (line 8): also set by seeds (line 6), which gives every trial its seed; vary it in one place")]
    public void Conflicting_or_empty_sweep_fields_are_named(string yaml, string expected)
    {
        var (message, _) = _fixture.Refuse(Header + yaml);
        Assert.Contains($"\n  - {expected}", message);
        Assert.Contains("1 problem(s)", message);
    }

    [Fact]
    public void An_unknown_objective_mode_is_named()
    {
        var (message, _) = _fixture.Refuse("name: s\ntrial: { dataset: reviews }\nobjective: { metric: f1, mode: maximise }\n");
        Assert.Contains("\n  - objective.mode (line 3): 'maximise' is not a mode (allowed: max, min)", message);
    }

    [Fact]
    public void A_seed_in_trial_and_in_seeds_is_refused()
    {
        var (message, _) = _fixture.Refuse("name: s\nobjective: { metric: f1 }\ntrial:\n  dataset: reviews\n  seed: 42\nseeds: [1, 2]\n");
        Assert.Contains("\n  - seeds (line 6): also set at trial.seed (line 5); set it in one place", message);
    }

    [Fact]
    public void A_missing_name_or_objective_is_named()
    {
        var (message, path) = _fixture.Refuse("trial: { dataset: reviews }\n");
        Assert.Equal(
            $"{path}: 2 problem(s):\n  - name: required, e.g. name: rotten-tomatoes-freeze\n" +
            "  - objective: required, e.g. objective: { metric: f1, mode: max }, or a list under objectives: (metrics: loss, accuracy, f1, precision, recall, perplexity, train_seconds, trainable_parameters)",
            message);
    }

    [Fact]
    public void Paths_inside_the_roots_resolve_to_absolute_paths_for_every_silo()
    {
        var plan = _fixture.Expand($"""
            name: s
            objective:
              metric: f1
            grid:
              model: [tuned, pretrained, {_fixture.ModelRoot}/tuned, arctic-xs]
              dataset: [reviews, reviews/train.jsonl]
            """);

        Assert.Equal(
            [Path.Combine(_fixture.ModelRoot, "tuned"), Path.Combine(_fixture.CheckpointRoot, "pretrained"), Path.Combine(_fixture.ModelRoot, "tuned"), "arctic-xs"],
            plan.Trials.Where((_, i) => i % 2 == 0).Select(t => t.Spec.Model));
        Assert.Equal(["reviews", Path.Combine(_fixture.DataRoot, "reviews", "train.jsonl")], plan.Trials.Take(2).Select(t => t.Spec.Dataset));
        Assert.Equal("tuned", plan.Trials[0].Hyperparameters[0].Value);
    }

    [Fact]
    public void A_data_root_below_the_configured_one_is_allowed()
    {
        var plan = _fixture.Expand("name: s\nobjective: { metric: f1 }\ntrial:\n  data_root: reviews/..\n  dataset: reviews\n");
        Assert.Equal(_fixture.DataRoot, Assert.Single(plan.Trials).Spec.DataRoot);
    }

    [Fact]
    public void Scheduler_settings_take_ray_s_defaults_and_the_longest_trial_as_max_epochs()
    {
        var asha = _fixture.Expand(Header + "grid:\n  epochs: [2, 5]\nscheduler: { type: asha }\n");
        Assert.Equal(new AshaSettings(GracePeriod: 1, ReductionFactor: 4, MaxEpochs: 5), asha.Scheduler);
        Assert.IsType<AshaScheduler>(asha.CreateScheduler());

        var median = _fixture.Expand(Header + "grid:\n  epochs: [3]\nscheduler: { type: median_stopping, hard_stop: false }\n");
        Assert.Equal(new MedianStoppingSettings(GracePeriod: 1, MinSamplesRequired: 3, HardStop: false), median.Scheduler);
        Assert.IsType<MedianStoppingRule>(median.CreateScheduler());
    }

    [Theory]
    [InlineData("{ type: asha, hard_stop: true, reduction_factor: 1 }",
        "scheduler.hard_stop (line 8): applies only to median_stopping, not asha",
        "scheduler.reduction_factor (line 8): must be 2 or more, got 1")]
    [InlineData("{ type: asha, grace_period: 3 }",
        "scheduler.grace_period (line 8): must be below max_epochs (3, the longest trial's epochs), or asha never compares trials", null)]
    [InlineData("{ type: median_stopping, grace_period: 0, reduction_factor: 2 }",
        "scheduler.reduction_factor (line 8): applies only to asha, not median_stopping",
        "scheduler.grace_period (line 8): must be a positive number of epochs, got 0")]
    [InlineData("{ type: hyperband }", "scheduler.type (line 8): 'hyperband' is not a scheduler (allowed: fifo, asha, median_stopping)", null)]
    public void Scheduler_settings_are_checked_against_their_type(string scheduler, string first, string? second)
    {
        var (message, _) = _fixture.Refuse(Header + $"grid:\n  epochs: [1, 3]\nscheduler: {scheduler}\n");
        Assert.Contains($"\n  - {first}", message);
        if (second is not null) Assert.Contains($"\n  - {second}", message);
        Assert.Contains($"{(second is null ? 1 : 2)} problem(s)", message);
    }

    [Fact]
    public void The_searcher_walks_the_space_by_default_and_tpe_takes_optuna_s_defaults()
    {
        var space = _fixture.Expand(Header + "grid:\n  epochs: [1, 3]\n");
        Assert.Equal(new SpaceSearcherSettings(), space.Searcher);
        Assert.IsType<SpaceSearcher>(space.CreateSearcher());

        var tpe = _fixture.Expand(Header + "grid:\n  epochs: [1, 3]\nmax_trials: 6\nsearcher: { type: tpe }\n");
        Assert.Equal(new TpeSettings(StartupTrials: 10, Candidates: 24, Gamma: 0.1), tpe.Searcher);
        Assert.IsType<TpeSearcher>(tpe.CreateSearcher());
        Assert.Equal(6, tpe.CreateSearcher().Suggest(10).Count);

        var set = _fixture.Expand(Header + "grid:\n  epochs: [1, 3]\ntime_budget: 1h\nsearcher: { type: TPE, startup_trials: 4, candidates: 48, gamma: 0.25 }\n");
        Assert.Equal(new TpeSettings(4, 48, 0.25), set.Searcher);
        Assert.Equal(new TpeSettings(4, 48, 0.25), SweepPlan.FromJson(set.ToJson()).Searcher);
    }

    [Theory]
    [InlineData("grid:\n  epochs: [1, 3]\nmax_trials: 4\nsearcher: { type: bayes }\n",
        "searcher.type (line 9): 'bayes' is not a searcher (allowed: space, tpe)", null)]
    [InlineData("grid:\n  epochs: [1, 3]\nsearcher: { type: tpe }\n",
        "searcher.type (line 8): tpe never runs out of configurations to suggest; give max_trials or time_budget to end the sweep", null)]
    [InlineData("grid:\n  epochs: [1, 3]\nmax_trials: 4\nsearcher: { type: tpe, candidates: 0, gamma: 1.5 }\n",
        "searcher.candidates (line 9): must be a positive integer, got 0",
        "searcher.gamma (line 9): must be a fraction above 0 and at most 1, got 1.5")]
    [InlineData("grid:\n  epochs: [1, 3]\nsearcher: { startup_trials: 5 }\n",
        "searcher.startup_trials (line 8): applies only to tpe, not space", null)]
    [InlineData("grid:\n  epochs: [1, 3]\nmax_trials: 4\nsearcher: { type: tpe }\nseeds: [1, 2]\n",
        "seeds (line 10): would make the seed a hyperparameter that tpe learns from; to run each configuration under several seeds, use replicates:", null)]
    [InlineData("random:\n  epochs: { int_uniform: [1, 3] }\ntrials: 4\nmax_trials: 4\nsearcher: { type: tpe }\n",
        "trials (line 8): counts random search's draws; tpe suggests trials up to max_trials, so leave trials out", null)]
    [InlineData("max_trials: 4\nsearcher: { type: tpe }\n",
        "searcher.type (line 7): tpe needs fields to search: give them under grid: or random:", null)]
    public void Searcher_settings_are_checked_against_their_type(string yaml, string first, string? second)
    {
        var (message, _) = _fixture.Refuse(Header + yaml);
        Assert.Contains($"\n  - {first}", message);
        if (second is not null) Assert.Contains($"\n  - {second}", message);
        Assert.Contains($"{(second is null ? 1 : 2)} problem(s)", message);
    }
}
