using ExperimentGrid.Core.Trials;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// A sweep as written by people: a YAML (or JSON) file with snake_case keys. <c>trial:</c> holds what every trial
/// shares, under the trial file's own names; <c>grid:</c> and <c>random:</c> vary trial fields. Every field is optional
/// here; <see cref="Expand"/> checks them all, names each problem, and lists the trials.
/// </summary>
public sealed class SweepSpec
{
    public string? Name { get; set; }
    public TrialValues? Trial { get; set; }

    /// <summary>Trial field → values; every combination is a trial, the first field changing slowest.</summary>
    public OrderedDictionary<string, List<string>>? Grid { get; set; }

    /// <summary>Trial field → distribution; each grid point gets <see cref="Trials"/> independent draws.</summary>
    public OrderedDictionary<string, DistributionConfig>? Random { get; set; }

    public int? Trials { get; set; }

    /// <summary>Seeds the random draws, so that one spec gives the same trials wherever it is expanded.</summary>
    public int? SearchSeed { get; set; }

    /// <summary>Each configuration runs once per seed, the seed becoming the trial's seed.</summary>
    public List<int>? Seeds { get; set; }

    /// <summary>Runs each configuration under this many seeds (the trial's seed, then the next ones); the leaderboard ranks their mean.</summary>
    public int? Replicates { get; set; }

    /// <summary>Adds replicates, one at a time, only to configurations whose interval overlaps the leader's.</summary>
    public bool? Racing { get; set; }

    /// <summary>Racing's ceiling on any configuration's replicates.</summary>
    public int? MaxReplicates { get; set; }

    public ObjectiveConfig? Objective { get; set; }

    /// <summary>Several objectives instead of one: the first ranks and prunes; the leaderboard marks their Pareto front.</summary>
    public List<ObjectiveConfig?>? Objectives { get; set; }
    public int? MaxConcurrentTrials { get; set; }

    /// <summary>How many times a failed trial runs again before it is left failed.</summary>
    public int? Retries { get; set; }

    /// <summary>
    /// Optimizer steps between the checkpoints a trial writes within an epoch (it also writes one at every epoch's
    /// end); 0 writes only those. A silo that dies costs at most this many steps of each of its trials.
    /// </summary>
    public int? CheckpointEvery { get; set; }

    public SchedulerConfig? Scheduler { get; set; }

    public SearcherConfig? Searcher { get; set; }

    /// <summary>The most trials the sweep starts: random and adaptive searches stop there.</summary>
    public int? MaxTrials { get; set; }

    /// <summary>Wall-clock time from submission after which the sweep starts nothing more and cancels what runs (90m, 2h, 1h30m).</summary>
    public string? TimeBudget { get; set; }

    /// <summary>How many trials may end failed (after their retries) before the sweep gives up on the rest.</summary>
    public int? MaxFailures { get; set; }

    private string _source = "sweep";
    private SourceLines _lines = SourceLines.None;

    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .WithTypeConverter(TrialValues.YamlReader("trial."))
        .Build();

    /// <summary>
    /// Reads a YAML or JSON sweep file. A sweep key or value the file format itself rejects (an unknown key, text where
    /// a number belongs) stops reading there and names its line; everything else, the whole of trial: included, is
    /// checked by <see cref="Expand"/>.
    /// </summary>
    public static SweepSpec Load(string path)
    {
        if (!File.Exists(path)) throw new SweepSpecException($"{path}: sweep file not found.");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>
    /// Reads a sweep's text as <see cref="Load"/> reads a file; <paramref name="source"/> names it in errors. A sweep
    /// submitted to a cluster travels as text, because the silo that expands it need not see the submitter's files.
    /// </summary>
    public static SweepSpec Parse(string text, string source)
    {
        try
        {
            var spec = Yaml.Deserialize<SweepSpec?>(text) ?? new SweepSpec();
            spec._source = source;
            spec._lines = SourceLines.Read(text);
            return spec;
        }
        catch (YamlException e)
        {
            var inner = e.InnerException is { } i ? $" ({i.Message})" : "";
            // YamlDotNet calls a value it could not convert "Exception during deserialization"; the line itself says which.
            var what = e.InnerException is FormatException or OverflowException && text.ReplaceLineEndings("\n").Split('\n') is var lines && e.Start.Line - 1 < lines.Length
                ? $"cannot read '{lines[(int)e.Start.Line - 1].Trim()}'"
                : UnknownKey(e.Message) ?? e.Message;
            throw new SweepSpecException($"{source}:{e.Start.Line}: {what}{inner}");
        }
    }

    /// <summary>YamlDotNet names the .NET type a key is missing from; the user wrote a section of the file, so list that section's keys.</summary>
    private static string? UnknownKey(string message)
    {
        var match = System.Text.RegularExpressions.Regex.Match(message, "^Property '(?<key>[^']+)' not found on type '(?<type>[^']+)'");
        if (!match.Success || typeof(SweepSpec).Assembly.GetType(match.Groups["type"].Value) is not { } section) return null;
        var keys = section.GetProperties().Where(p => p.CanWrite).Select(p => UnderscoredNamingConvention.Instance.Apply(p.Name));
        return $"unknown key '{match.Groups["key"].Value}' (keys here: {string.Join(", ", keys)})";
    }

    /// <summary>
    /// Checks the whole spec and every trial it makes before anything runs, and throws one
    /// <see cref="SweepSpecException"/> naming every problem with its field (and line, for a file); else the plan.
    /// </summary>
    public SweepPlan Expand(SweepRoots roots) => new SweepExpansion(this, _source, _lines, roots).Run();
}

/// <summary>One <c>random:</c> entry; exactly one of its fields is set.</summary>
public sealed class DistributionConfig
{
    /// <summary>[low, high): a real number, evenly spread.</summary>
    public List<string>? Uniform { get; set; }

    /// <summary>[low, high): a positive real number whose logarithm is evenly spread, as learning rates are searched.</summary>
    public List<string>? LogUniform { get; set; }

    /// <summary>[low, high], both included: an integer, every one equally likely.</summary>
    public List<string>? IntUniform { get; set; }

    /// <summary>One of the values, each equally likely.</summary>
    public List<string>? Choice { get; set; }
}

public sealed class ObjectiveConfig
{
    /// <summary>An <see cref="Metrics.EvaluationMetric"/> name: f1, accuracy, precision, recall, loss, perplexity, train_seconds, trainable_parameters.</summary>
    public string? Metric { get; set; }

    /// <summary>max or min; by default, min for loss and perplexity and max for the rest.</summary>
    public string? Mode { get; set; }
}

/// <summary>The <c>scheduler:</c> section; the names are Ray Tune's, with epochs as the unit of time.</summary>
public sealed class SchedulerConfig
{
    /// <summary>fifo (the default), asha or median_stopping.</summary>
    public string? Type { get; set; }

    public int? GracePeriod { get; set; }
    public int? ReductionFactor { get; set; }
    public int? MaxEpochs { get; set; }
    public int? MinSamplesRequired { get; set; }
    public bool? HardStop { get; set; }
}

/// <summary>The <c>searcher:</c> section; the names of tpe's settings are Optuna's TPESampler's, shortened.</summary>
public sealed class SearcherConfig
{
    /// <summary>space (the default: the grid, then random draws, in order) or tpe.</summary>
    public string? Type { get; set; }

    /// <summary>tpe: random suggestions before TPE starts (Optuna's n_startup_trials, 10).</summary>
    public int? StartupTrials { get; set; }

    /// <summary>tpe: values drawn from the good trials' density per suggestion (n_ei_candidates, 24).</summary>
    public int? Candidates { get; set; }

    /// <summary>tpe: the fraction of trials counted as good, at most 25 of them (0.1, as Optuna's default gamma).</summary>
    public double? Gamma { get; set; }
}

public sealed class SweepSpecException : Exception
{
    public SweepSpecException(string message) : base(message)
    {
    }

    public SweepSpecException(string source, IReadOnlyList<SpecProblem> problems) : base(SpecProblem.Describe(source, problems)) => Problems = problems;

    /// <summary>Each problem with where it was written; empty where the file could not be read at all.</summary>
    public IReadOnlyList<SpecProblem> Problems { get; } = [];
}
