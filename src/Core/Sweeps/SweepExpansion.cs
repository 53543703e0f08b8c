using System.Globalization;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Import;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// Turns a <see cref="SweepSpec"/> into a <see cref="SweepPlan"/>. Past each problem it goes on with what the problem
/// does not spoil, so that one run names all of them. Every trial is drawn and checked here, before any is scheduled.
/// </summary>
internal sealed class SweepExpansion(SweepSpec spec, string source, SourceLines lines, SweepRoots roots)
{
    /// <summary>
    /// One retry covers a transient fault (memory on a shared GPU, a lost node); a seeded trial that fails twice most
    /// likely fails the same way every time.
    /// </summary>
    private const int DefaultRetries = 1;

    /// <summary>
    /// About a minute of MiniLM training at batch 16 on a few CPU cores, and seconds on a GPU, where a checkpoint
    /// (weights and Adam's two moments) costs far less than the steps it saves.
    /// </summary>
    public const int DefaultCheckpointEvery = 500;

    private static readonly TrialField SeedField = TrialSchema.Field(nameof(TrialSpec.Seed));
    private static readonly TrialField EpochsField = TrialSchema.Field(nameof(TrialSpec.Epochs));
    private static readonly TrialField ModelField = TrialSchema.Field(nameof(TrialSpec.Model));
    private static readonly TrialField DatasetField = TrialSchema.Field(nameof(TrialSpec.Dataset));
    private static readonly TrialField DataRootField = TrialSchema.Field(nameof(TrialSpec.DataRoot));
    private static readonly TrialField MaxLengthField = TrialSchema.Field(nameof(TrialSpec.MaxLength));
    private static readonly TrialField FreezeField = TrialSchema.Field(nameof(TrialSpec.Freeze));
    private static readonly TrialField TaskField = TrialSchema.Field(nameof(TrialSpec.Task));
    private static readonly TrialField LabelNamesField = TrialSchema.Field(nameof(TrialSpec.LabelNames));

    /// <summary>Each problem, and the line of the path or its nearest written parent, by which they are ordered.</summary>
    private readonly List<(long? Line, SpecProblem Problem)> _problems = [];
    private readonly TrialValues _trial = spec.Trial ?? new TrialValues("trial.");
    private readonly string _dataRoot = Path.GetFullPath(roots.DataRoot);
    private readonly List<string> _modelRoots = [.. roots.ModelRoots.Append(roots.CheckpointRoot).Select(Path.GetFullPath)];

    // The roots as the file system opens them, for containment; the roots as configured, for messages.
    private readonly string _realDataRoot = RootedPaths.Resolve(roots.DataRoot);
    private readonly List<string> _realModelRoots = [.. roots.ModelRoots.Append(roots.CheckpointRoot).Select(RootedPaths.Resolve)];

    private void Problem(string path, string message) => _problems.Add((lines.Nearest(path), new SpecProblem(path, lines.Line(path), message)));

    /// <summary>
    /// Above this many configurations a space is checked value by value instead of whole: every grid value and seed
    /// once, with the first configuration's other values, and the first draws of a random search. A combination that
    /// is invalid only together then fails as its trial is suggested, named as it would be here.
    /// </summary>
    public const int WholeCheckLimit = 10_000;

    /// <summary>The plan; with <paramref name="check"/> false, a spec checked before is rebuilt without touching a file.</summary>
    public SweepPlan Run(bool check = true)
    {
        var name = Name();
        foreach (var problem in _trial.Problems) Problem(problem.Path, problem.Message);
        var grid = GridAxes();
        var random = RandomAxes();
        var budget = Budget();
        var samples = Samples(budget.MaxTrials);
        var seeds = Seeds();
        var objectives = Objectives();
        if (spec.MaxConcurrentTrials is < 1)
            Problem("max_concurrent_trials", $"must be a positive integer, got {spec.MaxConcurrentTrials}");
        if (spec.Retries is < 0) Problem("retries", $"must be 0 or more, got {spec.Retries}");
        if (spec.CheckpointEvery is < 0)
            Problem("checkpoint_every", $"must be 0 (checkpoint at epoch ends only) or a number of optimizer steps, got {spec.CheckpointEvery}");
        var scheduler = Scheduler(LongestEpochs(grid, random));
        var searcher = Searcher(budget);
        var replicates = Replicates(grid, random);
        SearchSpace? space = null;
        if (SearchSpace.Size(grid, samples, seeds.Count) is var size && size > int.MaxValue)
            Problem(grid.Count > 0 ? "grid" : "trials", $"makes {size:N0} configurations, more than a sweep can index ({int.MaxValue:N0})");
        else
            space = new SearchSpace(grid, random, samples, seeds, spec.SearchSeed ?? 0, (settings, problems) => Build(settings, objectives, problems));
        if (check && space is not null) CheckTrials(space, objectives);

        if (_problems.Count > 0)
        {
            // In file order, so that they read alongside the file; what was never written goes last.
            throw new SweepSpecException(source, [.. _problems.OrderBy(p => p.Line ?? long.MaxValue).Select(p => p.Problem)]);
        }
        return new SweepPlan(name!, space!, objectives!, spec.MaxConcurrentTrials, spec.Retries ?? DefaultRetries, scheduler!, searcher!, replicates!,
            spec.CheckpointEvery ?? DefaultCheckpointEvery, budget, new StoredSweep(spec, source, roots));
    }

    private string? Name()
    {
        if (string.IsNullOrWhiteSpace(spec.Name))
            Problem("name", "required, e.g. name: rotten-tomatoes-freeze");
        else if (!SweepNames.IsName(spec.Name))
            Problem("name", $"'{spec.Name}' {SweepNames.Rule(SweepNames.NameLength)}");
        else
            return spec.Name;
        return null;
    }

    private List<List<Setting>> GridAxes()
    {
        var axes = new List<List<Setting>>();
        foreach (var (key, texts) in spec.Grid ?? [])
        {
            if (Field("grid", key) is not { } field) continue;
            var values = Values(field, texts, $"grid.{key}");
            if (values.Count > 0) axes.Add([.. values.Select(v => new Setting(field, v.Value, v.Text, $"grid.{key}[{v.Index}]"))]);
        }
        return axes;
    }

    private List<RandomAxis> RandomAxes()
    {
        var axes = new List<RandomAxis>();
        foreach (var (key, config) in spec.Random ?? [])
        {
            if (Field("random", key) is not { } field) continue;
            if (spec.Grid?.ContainsKey(key) == true)
                Problem($"random.{key}", $"also varied at {lines.Locate($"grid.{key}")}; vary it in one place");
            else if (Distribution(field, config, $"random.{key}") is { } distribution)
                axes.Add(new RandomAxis(field, distribution));
        }
        return axes;
    }

    /// <summary>The trial field that a grid or random key names, or null after naming why it cannot vary.</summary>
    private TrialField? Field(string section, string key)
    {
        var path = $"{section}.{key}";
        if (TrialSchema.Find(key) is not { } field)
            Problem(path, TrialSchema.NotAField(key));
        else if (field.IsList)
            Problem(path, $"{key} is a list, which cannot be varied; set it under trial:");
        else if (!field.Sweepable)
            Problem(path, $"{key} cannot be varied by a sweep (fields that can: {string.Join(", ", TrialSchema.Sweepable.Select(f => f.Name))})");
        else if (_trial.Contains(field))
            Problem(path, $"also set at {lines.Locate(_trial.PathOf(field))}, which it would override; set it in one place");
        else if (field == SeedField && spec.Seeds is not null)
            Problem(path, $"also set by {lines.Locate("seeds")}, which gives every trial its seed; vary it in one place");
        else
            return field;
        return null;
    }

    /// <summary>A list of values for one field, each read as the field's type; the bad ones are named and left out.</summary>
    private List<(object? Value, string Text, int Index)> Values(TrialField field, List<string>? texts, string path)
    {
        var values = new List<(object? Value, string Text, int Index)>();
        if (texts is null || texts.Count == 0)
        {
            Problem(path, "empty list; give at least one value");
            return values;
        }
        for (var i = 0; i < texts.Count; i++)
        {
            if (!TryRead(field, texts[i], $"{path}[{i}]", out var value)) continue;
            if (values.Any(v => Equals(v.Value, value)))
                Problem($"{path}[{i}]", $"'{texts[i]}' is listed twice");
            else
                values.Add((value, texts[i].Trim(), i));
        }
        return values;
    }

    private bool TryRead(TrialField field, string? text, string path, out object? value)
    {
        (value, var problem) = field.Parse(text ?? "");
        if (problem is not null) Problem(path, problem);
        return problem is null;
    }

    private Distribution? Distribution(TrialField field, DistributionConfig? config, string path)
    {
        var (key, type) = (field.Name, field.Type);
        (string Kind, List<string>? Values)[] kinds =
            [("uniform", config?.Uniform), ("log_uniform", config?.LogUniform), ("int_uniform", config?.IntUniform), ("choice", config?.Choice)];
        var given = kinds.Where(k => k.Values is not null).ToList();
        if (given.Count != 1)
        {
            Problem(path, "give exactly one of uniform: [low, high], log_uniform: [low, high], int_uniform: [low, high], choice: [values]");
            return null;
        }
        var (kind, texts) = given[0];
        path = $"{path}.{kind}";
        if (kind == "choice")
        {
            var options = Values(field, texts, path);
            return options.Count == 0 ? null : new ChoiceDistribution([.. options.Select(o => (o.Value, o.Text))]);
        }

        var wanted = kind == "int_uniform" ? typeof(int) : typeof(double);
        if (type != wanted)
        {
            var instead = type == typeof(int) ? "int_uniform or choice" : type == typeof(double) ? "uniform, log_uniform or choice" : "choice";
            Problem(path, $"draws {(wanted == typeof(int) ? "integers" : "real numbers")}, but {key} takes {(type == typeof(int) ? "integers" : type == typeof(double) ? "real numbers" : type == typeof(bool) ? "true or false" : "text")}; use {instead}");
            return null;
        }
        if (texts!.Count != 2)
        {
            Problem(path, $"give [low, high], got {texts.Count} value(s)");
            return null;
        }
        TryRead(field, texts[0], $"{path}[0]", out var low);
        TryRead(field, texts[1], $"{path}[1]", out var high);
        switch (low, high)
        {
            case (int lowInt, int highInt) when lowInt <= highInt:
                return new IntUniformDistribution(lowInt, highInt);
            case (int, int):
                Problem(path, $"low ({texts[0]}) must not exceed high ({texts[1]})");
                return null;
            case (double lowReal, double highReal):
                if (lowReal >= highReal) Problem(path, $"low ({texts[0]}) must be below high ({texts[1]})");
                else if (kind == "log_uniform" && lowReal <= 0) Problem(path, $"low must be above 0 for a logarithm, got {texts[0]}");
                else return kind == "uniform" ? new UniformDistribution(lowReal, highReal) : new LogUniformDistribution(lowReal, highReal);
                return null;
            default:
                return null;
        }
    }

    /// <summary>Random draws per grid point: trials:, else as many as max_trials allows, else one.</summary>
    private int Samples(int? maxTrials)
    {
        var random = spec.Random is { Count: > 0 };
        if (spec.Trials is not { } trials) return random && maxTrials is { } most ? most : 1;
        if (trials < 1)
            Problem("trials", $"must be a positive integer, got {trials}");
        else if (!random)
            Problem("trials", "counts draws from random:, which is empty here; to repeat a configuration, give seeds:");
        else
            return trials;
        return 1;
    }

    private SweepBudget Budget()
    {
        if (spec.MaxTrials is < 1) Problem("max_trials", $"must be a positive integer, got {spec.MaxTrials}");
        if (spec.MaxFailures is < 0) Problem("max_failures", $"must be 0 or more, got {spec.MaxFailures}");
        TimeSpan? timeBudget = null;
        if (spec.TimeBudget is { } text)
        {
            if (SweepBudget.TryParseDuration(text, out var duration)) timeBudget = duration;
            else Problem("time_budget", $"'{text}' is not a duration (e.g. 90s, 45m, 2h, 1h30m, 1d)");
        }
        return new SweepBudget(spec.MaxTrials is >= 1 ? spec.MaxTrials : null, timeBudget, spec.MaxFailures is >= 0 ? spec.MaxFailures : null);
    }

    /// <summary>The seeds as settings; a single null where the spec gives none, so that each configuration runs once.</summary>
    private List<Setting?> Seeds()
    {
        if (spec.Seeds is not { } seeds) return [null];
        if (seeds.Count == 0)
            Problem("seeds", "empty list; give at least one seed, or leave seeds out");
        else if (_trial.Contains(SeedField))
            Problem("seeds", $"also set at {lines.Locate(_trial.PathOf(SeedField))}; set it in one place");
        else
        {
            var settings = new List<Setting?>();
            for (var i = 0; i < seeds.Count; i++)
            {
                if (seeds.IndexOf(seeds[i]) < i) Problem($"seeds[{i}]", $"{seeds[i]} is listed twice");
                else settings.Add(new Setting(SeedField, seeds[i], seeds[i].ToString(CultureInfo.InvariantCulture), $"seeds[{i}]"));
            }
            return settings;
        }
        return [null];
    }


    /// <summary>
    /// objective: or objectives:, exactly one. The first objective ranks, prunes and orders; it must be a metric the
    /// evaluation measures, because the schedulers judge it after every epoch. The rest may be costs too.
    /// </summary>
    private List<SweepObjective>? Objectives()
    {
        var metrics = string.Join(", ", Enum.GetValues<EvaluationMetric>().Select(EvaluationMetrics.Name));
        if (spec.Objective is not null && spec.Objectives is not null)
        {
            Problem("objectives", $"also given objective: at {lines.Locate("objective")}; give one objective: or a list under objectives:");
            return null;
        }
        List<(ObjectiveConfig? Config, string Path)> written = spec.Objective is { } single ? [(single, "objective")]
            : spec.Objectives is { } list ? [.. list.Select((o, i) => (o, $"objectives[{i}]"))]
            : [];
        if (written.Count == 0)
        {
            Problem(spec.Objectives is null ? "objective" : "objectives",
                $"required, e.g. objective: {{ metric: f1, mode: max }}, or a list under objectives: (metrics: {metrics})");
            return null;
        }
        var objectives = new List<SweepObjective>();
        foreach (var (config, path) in written)
        {
            if (Objective(config, path, metrics) is not { } objective) continue;
            if (objectives.Exists(o => o.Metric == objective.Metric))
                Problem($"{path}.metric", $"{EvaluationMetrics.Name(objective.Metric)} is listed twice");
            else if (path == written[0].Path && TrialMetrics.Costs.Contains(objective.Metric))
                Problem($"{path}.metric", $"the first objective is judged after every epoch, and {EvaluationMetrics.Name(objective.Metric)} is known only at the end; list a metric the evaluation measures first");
            else
                objectives.Add(objective);
        }
        return objectives.Count == written.Count ? objectives : null;
    }

    private SweepObjective? Objective(ObjectiveConfig? objective, string path, string metrics)
    {
        if (objective is null)
        {
            Problem(path, $"empty; give {{ metric: f1, mode: max }} (metrics: {metrics})");
            return null;
        }
        EvaluationMetric? metric = null;
        if (objective.Metric is null)
            Problem($"{path}.metric", $"required (one of {metrics})");
        else if (EvaluationMetrics.TryParse(objective.Metric, out var found))
            metric = found;
        else
            Problem($"{path}.metric", $"'{objective.Metric}' is not a metric (allowed: {metrics})");

        ObjectiveMode? mode = objective.Mode?.Trim().ToLowerInvariant() switch
        {
            null => metric is { } m ? (EvaluationMetrics.LowerIsBetter(m) ? ObjectiveMode.Min : ObjectiveMode.Max) : null,
            "max" => ObjectiveMode.Max,
            "min" => ObjectiveMode.Min,
            _ => null,
        };
        if (objective.Mode is not null && mode is null) Problem($"{path}.mode", $"'{objective.Mode}' is not a mode (allowed: max, min)");
        return metric is { } chosen && mode is { } direction ? new SweepObjective(chosen, direction) : null;
    }

    /// <summary>
    /// Checks every configuration of a space up to <see cref="WholeCheckLimit"/>; of a larger one, each grid value
    /// and seed once and the first draws. A problem with one grid value is named once, at that value. One that a
    /// combination or a draw causes is named once, with the trials it hits; draws differ in value, so a random field
    /// gets one line whatever its values.
    /// </summary>
    private void CheckTrials(SearchSpace space, IReadOnlyList<SweepObjective>? objectives)
    {
        var checkedIndices = space.Count <= WholeCheckLimit ? Enumerable.Range(0, space.Count) : ValueByValue(space);
        var found = new List<(int Trial, string Origin, string Message)>();
        var settingsOf = new Dictionary<int, IReadOnlyList<Setting>>();
        foreach (var i in checkedIndices)
        {
            var settings = settingsOf[i] = space.Settings(i);
            var problems = new List<SpecProblem>();
            Build(settings, objectives, problems);
            found.AddRange(problems.Select(p => (i, p.Path, p.Message)));
        }

        string Describe(int index) => $"{space.Id(index)} ({string.Join(", ", settingsOf[index].Select(s => $"{s.Field.Name}={s.Text}"))})";
        foreach (var group in found.GroupBy(p => p.Origin.StartsWith("random.", StringComparison.Ordinal) ? p.Origin : $"{p.Origin}\n{p.Message}"))
        {
            var (_, origin, message) = group.First();
            var hit = group.Select(p => p.Trial).Distinct().ToList();
            var more = hit.Count > 3 ? $" and {hit.Count - 3} more" : "";
            var drawn = origin.StartsWith("random.", StringComparison.Ordinal);
            var scope = origin.StartsWith("grid.", StringComparison.Ordinal) || (hit.Count == settingsOf.Count && !drawn) ? ""
                : $" (in {hit.Count} of {settingsOf.Count} {(settingsOf.Count == space.Count ? "" : "checked ")}trials: {string.Join(", ", hit.Take(3).Select(Describe))}{more})";
            Problem(origin, message + scope);
        }
    }

    /// <summary>The first configuration, each grid value in it once, and the first draws and seeds.</summary>
    private static SortedSet<int> ValueByValue(SearchSpace space)
    {
        const int firstConfigurations = 100;
        var indices = new SortedSet<int>(Enumerable.Range(0, Math.Min(firstConfigurations, space.Count)));
        for (var axis = 0; axis < space.Grid.Count; axis++)
            for (var value = 0; value < space.Grid[axis].Count; value++) indices.Add(space.IndexVarying(axis, value));
        return indices;
    }

    /// <summary>A configuration's trial spec, or null after adding each problem where its value was written.</summary>
    private TrialSpec? Build(IReadOnlyList<Setting> settings, IReadOnlyList<SweepObjective>? objectives, List<SpecProblem> problems)
    {
        var values = _trial.Copy();
        foreach (var setting in settings) values.Set(setting.Field, setting.Value, setting.Origin);
        return Check(values, objectives, problems);
    }

    /// <summary>
    /// The most epochs any trial can run, from the spec alone: ASHA's default max_epochs, and the bound that the
    /// schedulers' grace periods are checked against.
    /// </summary>
    private int? LongestEpochs(List<List<Setting>> grid, List<RandomAxis> random)
    {
        if (grid.Find(axis => axis[0].Field == EpochsField) is { } epochs) return epochs.Max(s => (int)s.Value!);
        return random.Find(axis => axis.Field == EpochsField)?.Distribution switch
        {
            IntUniformDistribution uniform => uniform.High,
            ChoiceDistribution choice => choice.Options.Max(o => (int)o.Value!),
            null => _trial[EpochsField] is int set ? (set >= 1 ? set : null) : new TrialSpec().Epochs,
            _ => null,
        };
    }

    /// <summary>The trial's spec with its paths resolved, or null after adding each problem where its value was written.</summary>
    private TrialSpec? Check(TrialValues values, IReadOnlyList<SweepObjective>? objectives, List<SpecProblem> problems)
    {
        var defaults = new TrialSpec();
        var trialSpec = values.TryToSpec(problems);
        var model = Model(values, problems);
        var data = Dataset(values, problems);
        var task = values[TaskField] as TaskKind? ?? defaults.Task;
        var reported = TaskMetrics.Reported(task).Concat(TrialMetrics.Costs).ToList();
        for (var i = 0; i < (objectives?.Count ?? 0); i++)
        {
            if (reported.Contains(objectives![i].Metric)) continue;
            var path = spec.Objectives is null ? "objective.metric" : $"objectives[{i}].metric";
            problems.Add(new SpecProblem(path, null, $"task {TaskKinds.Name(task)} does not report {EvaluationMetrics.Name(objectives[i].Metric)} " +
                $"(it reports {string.Join(", ", reported.Select(EvaluationMetrics.Name))})"));
        }
        if (trialSpec is null || model is null || data is not { } resolved || !FitsModel(trialSpec, values, model, problems)) return null;
        var trial = trialSpec with { Model = model, DataRoot = resolved.Root, Dataset = resolved.Dataset };
        return FitsData(trial, values, problems) ? trial : null;
    }

    /// <summary>
    /// Whether label_names, where given, names every label of the training split: a class id beyond them, or a tag
    /// they leave out, fails the trial only once it has loaded its data, after its retries. A split that cannot be
    /// read here is left for the trial, which names the file when it runs.
    /// </summary>
    private bool FitsData(TrialSpec trial, TrialValues values, List<SpecProblem> problems)
    {
        if (trial.LabelNames is not { } names || trial is { Task: TaskKind.SetFit, SamplesPerClass: 0 }) return true;
        var tagged = trial.Task == TaskKind.TokenClassification;
        if (!tagged && trial.Task is not (TaskKind.TextClassification or TaskKind.SetFit)) return true;
        var key = (tagged, trial.Dataset, trial.DataRoot, trial.TrainSplit, trial.LabelColumn);
        if (!_trainLabels.TryGetValue(key, out var labels)) _trainLabels[key] = labels = TrainLabels(trial, tagged);
        var misfit = labels switch
        {
            null => null,
            { Highest: { } highest } when highest.Label >= names.Count =>
                $"{names.Count} names, but {labels.File}:{highest.Line} has class id {highest.Label}; name every class id from 0 to {highest.Label}",
            { Tags: { } tags } when tags.Except(names).Order(StringComparer.Ordinal).ToList() is [_, ..] unnamed =>
                $"leaves out tags that {labels.File} uses: {string.Join(", ", unnamed)}",
            _ => null,
        };
        if (misfit is not null) problems.Add(values.Problem(LabelNamesField, misfit));
        return misfit is null;
    }

    /// <summary>A training split's highest class id (with its line) or its tags; null where it cannot be read.</summary>
    private sealed record SplitLabels(string File, (int Label, int Line)? Highest, IReadOnlyList<string>? Tags);

    /// <summary>Read once per split: a sweep's trials mostly share one.</summary>
    private readonly Dictionary<(bool, string, string?, string, string), SplitLabels?> _trainLabels = [];

    private static SplitLabels? TrainLabels(TrialSpec trial, bool tagged)
    {
        try
        {
            if (tagged)
            {
                var path = DatasetLocator.ResolveSplit(trial.Dataset, trial.TrainSplit, trial.DataRoot, TokenClassificationData.Extensions);
                return new SplitLabels(path, null, [.. TokenClassificationData.Read(path).SelectMany(s => s.Tags).Distinct()]);
            }
            var file = DatasetLocator.ResolveSplit(trial.Dataset, trial.TrainSplit, trial.DataRoot);
            var highest = TextClassificationData.Read(file, trial.TextColumn, trial.LabelColumn).MaxBy(e => e.Label)!;
            return new SplitLabels(file, (highest.Label, highest.Line), null);
        }
        catch (Exception e) when (e is IOException or DatasetException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Whether the trial fits its model's encoder: a freeze depth within its layers, and a max_length, where one is
    /// given, within its position embeddings (the default is cut to them). Caught here, such a trial would otherwise
    /// fail only at run time, after its retries.
    /// </summary>
    private bool FitsModel(TrialSpec trial, TrialValues values, string model, List<SpecProblem> problems)
    {
        if (!_modelShapes.TryGetValue(model, out var shape))
            _modelShapes[model] = shape = ModelShape(model);
        if (shape.Error is { } error)
        {
            problems.Add(values.Problem(ModelField, error));
            return false;
        }
        var before = problems.Count;
        if (trial.Freeze.Misfit(shape.Layers, trial.Model) is { } misfit) problems.Add(values.Problem(FreezeField, misfit));
        if (values.Contains(MaxLengthField) && trial.MaxLength > shape.MaxPositions)
            problems.Add(values.Problem(MaxLengthField, $"{trial.MaxLength} exceeds the {shape.MaxPositions} positions {trial.Model} has embeddings for (max_position_embeddings)"));
        return problems.Count == before;
    }

    /// <summary>Read once per model: a sweep's trials mostly share one, and a grid may hold many trials.</summary>
    private readonly Dictionary<string, (int Layers, int MaxPositions, string? Error)> _modelShapes = [];

    private static (int Layers, int MaxPositions, string? Error) ModelShape(string model)
    {
        if (BundledModels.Find(model) is { } bundled) return (bundled.Layers, bundled.MaxPositions, null);
        try
        {
            var config = BertConfig.Load(Path.Combine(model, ModelDirectory.ConfigFile));
            return (config.NumHiddenLayers, config.MaxPositionEmbeddings, null);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return (0, 0, e.Message);
        }
    }

    /// <summary>A bundled model's name, or the absolute directory of one under the model roots.</summary>
    private string? Model(TrialValues values, List<SpecProblem> problems)
    {
        var model = values[ModelField] as string ?? new TrialSpec().Model;
        if (BundledModels.Find(model) is not null) return model;
        var bundled = string.Join(", ", BundledModels.All.Select(m => m.Name));
        var modelRoots = string.Join(", ", _modelRoots);
        // Each root in turn; a directory found under one but leading out of it through a link is refused, not skipped.
        var paths = _modelRoots.Select(root => Path.GetFullPath(model, root)).Select((path, i) => (Path: path, Outside: RootedPaths.Outside(path, _realModelRoots[i]))).ToList();
        if (paths.FirstOrDefault(p => p.Outside is null && Directory.Exists(p.Path)).Path is { } directory)
        {
            if (LinkOut(directory, _realModelRoots) is not { } entryLeadsTo) return directory;
            problems.Add(values.Problem(ModelField, $"'{model}' holds {entryLeadsTo}, outside the model roots ({modelRoots})"));
            return null;
        }
        var outside = $"'{model}' is not a bundled model ({bundled}) and lies outside the model roots ({modelRoots})";
        if (paths.FirstOrDefault(p => p.Outside is not null && Directory.Exists(p.Path)).Outside is { } leadsTo)
            problems.Add(values.Problem(ModelField, $"{outside}: it is {leadsTo}"));
        else if (paths.All(p => p.Outside is not null))
            problems.Add(values.Problem(ModelField, outside));
        else
            problems.Add(values.Problem(ModelField, $"'{model}' is neither a bundled model ({bundled}) nor a directory under the model roots ({modelRoots})"));
        return null;
    }

    /// <summary>
    /// The first entry of a dataset or model folder (its splits, config, weights, vocabulary) that leads out of all of
    /// <paramref name="realRoots"/>, described for a message; null when none does, or when the path is a file.
    /// </summary>
    private string? LinkOut(string folder, List<string> realRoots)
    {
        if (_linksOut.TryGetValue(folder, out var found)) return found;
        return _linksOut[folder] = Directory.Exists(folder)
            ? Directory.EnumerateFileSystemEntries(folder).Order(StringComparer.Ordinal)
                .Select(entry => realRoots.Select(root => RootedPaths.Outside(entry, root)).ToList())
                .FirstOrDefault(outside => outside.All(o => o is not null))?[0]
            : null;
    }

    /// <summary>Listed once per folder: a sweep's trials mostly share their dataset and model.</summary>
    private readonly Dictionary<string, string?> _linksOut = [];

    /// <summary>The trial's data root and dataset, checked to lie under the configured data root.</summary>
    private (string Root, string Dataset)? Dataset(TrialValues values, List<SpecProblem> problems)
    {
        var dataRoot = values[DataRootField] as string;
        var root = dataRoot is null ? _dataRoot : Path.GetFullPath(dataRoot, _dataRoot);
        if (RootedPaths.Outside(root, _realDataRoot) is { } rootLeadsTo)
        {
            problems.Add(values.Problem(DataRootField, $"'{dataRoot}' is {rootLeadsTo}, outside the data root {_dataRoot}"));
            return null;
        }
        var dataset = values[DatasetField] as string ?? new TrialSpec().Dataset;
        var path = Path.GetFullPath(dataset, root);
        if (RootedPaths.Outside(path, _realDataRoot) is { } leadsTo)
        {
            problems.Add(values.Problem(DatasetField, $"'{dataset}' is {leadsTo}, outside the data root {_dataRoot}"));
            return null;
        }
        if (!Directory.Exists(path) && !File.Exists(path))
        {
            var present = Directory.Exists(root) ? string.Join(", ", Directory.EnumerateFileSystemEntries(root).Select(Path.GetFileName).Order()) : "none: it does not exist";
            problems.Add(values.Problem(DatasetField, $"no folder or file '{dataset}' in {root} (there: {present})"));
            return null;
        }
        if (LinkOut(path, [_realDataRoot]) is { } entryLeadsTo)
        {
            problems.Add(values.Problem(DatasetField, $"'{dataset}' holds {entryLeadsTo}, outside the data root {_dataRoot}"));
            return null;
        }
        // A bare name stays as written, for display; anything else is pinned to its absolute path, because trials run
        // on silos with other working directories.
        var bare = dataset == Path.GetFileName(dataset) && !dataset.StartsWith('.');
        return (root, bare ? dataset : path);
    }

    private ReplicateSettings? Replicates(List<List<Setting>> grid, List<RandomAxis> random)
    {
        if (spec.Replicates is null && spec.Racing is null && spec.MaxReplicates is null) return ReplicateSettings.None;
        var before = _problems.Count;
        var count = spec.Replicates ?? 1;
        if (count < 1) Problem("replicates", $"must be a positive integer, got {count}");
        if (spec.Seeds is not null)
            Problem("replicates", $"also given seeds: at {lines.Locate("seeds")}; replicates: chooses the seeds (the trial's seed, then the next ones), seeds: lists them, give one");
        if (grid.Exists(axis => axis[0].Field == SeedField) || random.Exists(axis => axis.Field == SeedField))
            Problem("replicates", "the seed is varied under grid: or random: too; replicates vary it themselves");
        var racing = spec.Racing ?? false;
        if (racing && count < 2) Problem("racing", $"compares confidence intervals, which need replicates: 2 or more, got {count}");
        if (!racing && spec.MaxReplicates is not null) Problem("max_replicates", "applies only with racing: true");
        var most = spec.MaxReplicates ?? ReplicateSettings.DefaultMaxReplicates(count);
        if (racing && most < count) Problem("max_replicates", $"must be at least replicates ({count}), got {most}");
        return _problems.Count > before ? null : new ReplicateSettings(count, racing, racing ? most : count);
    }

    private SearcherSettings? Searcher(SweepBudget budget)
    {
        if (spec.Searcher is not { } config) return new SpaceSearcherSettings();
        var type = config.Type?.Trim().ToLowerInvariant() ?? "space";
        if (type is not ("space" or "tpe"))
        {
            Problem("searcher.type", $"'{config.Type}' is not a searcher (allowed: space, tpe)");
            return null;
        }
        var before = _problems.Count;
        if (type == "space")
        {
            foreach (var (field, value) in new (string, object?)[] { ("startup_trials", config.StartupTrials), ("candidates", config.Candidates), ("gamma", config.Gamma) })
                if (value is not null) Problem($"searcher.{field}", "applies only to tpe, not space");
            return _problems.Count > before ? null : new SpaceSearcherSettings();
        }

        if (config.StartupTrials is < 0) Problem("searcher.startup_trials", $"must be 0 or more, got {config.StartupTrials}");
        if (config.Candidates is < 1) Problem("searcher.candidates", $"must be a positive integer, got {config.Candidates}");
        if (config.Gamma is { } gamma && !(gamma > 0 && gamma <= 1)) Problem("searcher.gamma", $"must be a fraction above 0 and at most 1, got {gamma.ToString(CultureInfo.InvariantCulture)}");
        if (budget.MaxTrials is null && budget.TimeBudget is null)
            Problem("searcher.type", "tpe never runs out of configurations to suggest; give max_trials or time_budget to end the sweep");
        if (spec.Grid is not { Count: > 0 } && spec.Random is not { Count: > 0 })
            Problem("searcher.type", "tpe needs fields to search: give them under grid: or random:");
        if (spec.Trials is not null)
            Problem("trials", "counts random search's draws; tpe suggests trials up to max_trials, so leave trials out");
        if (spec.Seeds is not null)
            Problem("seeds", "would make the seed a hyperparameter that tpe learns from; to run each configuration under several seeds, use replicates:");
        return _problems.Count > before ? null
            : new TpeSettings(config.StartupTrials ?? TpeSearcher.DefaultStartupTrials, config.Candidates ?? TpeSearcher.DefaultCandidates, config.Gamma ?? TpeSearcher.DefaultGamma);
    }

    private SchedulerSettings? Scheduler(int? longestTrial)
    {
        if (spec.Scheduler is not { } config) return new FifoSettings();
        var type = config.Type?.Trim().ToLowerInvariant();
        if (type is not ("fifo" or "asha" or "median_stopping"))
        {
            Problem("scheduler.type", config.Type is null ? "required: fifo, asha or median_stopping"
                : $"'{config.Type}' is not a scheduler (allowed: fifo, asha, median_stopping)");
            return null;
        }
        var before = _problems.Count;
        (string Field, object? Value, string[] Types)[] fields =
        [
            ("grace_period", config.GracePeriod, ["asha", "median_stopping"]),
            ("reduction_factor", config.ReductionFactor, ["asha"]),
            ("max_epochs", config.MaxEpochs, ["asha"]),
            ("min_samples_required", config.MinSamplesRequired, ["median_stopping"]),
            ("hard_stop", config.HardStop, ["median_stopping"]),
        ];
        foreach (var (field, value, types) in fields)
            if (value is not null && !types.Contains(type)) Problem($"scheduler.{field}", $"applies only to {string.Join(" and ", types)}, not {type}");

        // The defaults are Ray Tune's, with an epoch as the unit of time.
        var grace = config.GracePeriod ?? 1;
        var reduction = config.ReductionFactor ?? 4;
        var maxEpochs = config.MaxEpochs ?? longestTrial;
        var minSamples = config.MinSamplesRequired ?? 3;
        if (grace < 1) Problem("scheduler.grace_period", $"must be a positive number of epochs, got {grace}");
        else if (type == "asha" && maxEpochs is { } max && grace >= max)
            Problem("scheduler.grace_period", $"must be below max_epochs ({maxEpochs}{(config.MaxEpochs is null ? ", the longest trial's epochs" : "")}), or asha never compares trials");
        else if (type == "median_stopping" && longestTrial is { } longest && grace >= longest)
            Problem("scheduler.grace_period", $"must be below the longest trial's epochs ({longestTrial}), or the rule never stops a trial");
        if (reduction < 2) Problem("scheduler.reduction_factor", $"must be 2 or more, got {reduction}");
        if (minSamples < 1) Problem("scheduler.min_samples_required", $"must be a positive integer, got {minSamples}");
        if (_problems.Count > before) return null;
        return type switch
        {
            "fifo" => new FifoSettings(),
            "asha" when maxEpochs is { } max => new AshaSettings(grace, reduction, max),
            "asha" => null, // No max_epochs without a complete list of trials, whose problems are named already.
            _ => new MedianStoppingSettings(grace, minSamples, config.HardStop ?? true),
        };
    }
}
