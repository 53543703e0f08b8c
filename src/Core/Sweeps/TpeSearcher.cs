using System.Globalization;

namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// A Tree-structured Parzen Estimator (Bergstra et al. 2011), as Optuna's TPESampler with its defaults and independent
/// (univariate) sampling. The first <see cref="TpeSettings.StartupTrials"/> suggestions are random draws; after that,
/// the trials told so far are split into good and bad, and each parameter is chosen alone: of
/// <see cref="TpeSettings.Candidates"/> values drawn from the good trials' density l, the one with the highest
/// log l(x) − log g(x) against the bad trials' density g (see <see cref="ParzenEstimator"/>). grid: axes and choice:
/// draws are categories; uniform: and int_uniform: are searched as they are, log_uniform: in log space.
/// <list type="bullet">
/// <item>The split: the best ⌈γ·n⌉ of the n trials told, at most 25, are good (Optuna's default gamma, with γ = 0.1 by default).
/// Complete trials rank first, by the objective; then trials a scheduler stopped early (pruned: their last reported
/// epoch is below their spec's epochs), by the epochs they reached, then the objective at their last epoch, as Optuna
/// ranks pruned trials. Failed and cancelled trials are left out.</item>
/// <item>Several objectives: complete trials rank by non-domination (Pareto fronts of the objectives, each turned by
/// <see cref="SweepObjective.Score"/> so that higher is better); the front that straddles the boundary is cut by the
/// first objective. Unlike Optuna's MOTPE, good trials are weighted as in one objective, not by hypervolume.</item>
/// <item>Trials that still run are suggested around by Optuna's constant liar: they always count as bad (though not in
/// n), so that concurrent suggestions move away from what is being tried.</item>
/// <item>Weights: Optuna's default, 1 for the newest 25 trials of each side and a ramp from 1/m up for older ones; the
/// prior kernel weighs 1.</item>
/// <item>A trial told again (a configuration whose replicates end one by one) has its values replaced.</item>
/// </list>
/// Suggestion i draws from a generator seeded with the sweep's search seed and i, so a suggestion depends only on the
/// seed, its index and what the searcher was told before it: a replayed sweep suggests the same trials, and a batch of
/// n is n suggestions of one.
/// </summary>
public sealed class TpeSearcher : ISearcher
{
    public const int DefaultStartupTrials = 10;
    public const int DefaultCandidates = 24;
    public const double DefaultGamma = 0.1;

    /// <summary>Optuna's cap on good trials, and the number of newest trials its weights keep at 1.</summary>
    private const int MostGood = 25;

    private readonly SearchSpace _space;
    private readonly IReadOnlyList<SweepObjective> _objectives;
    private readonly TpeSettings _settings;
    private readonly int? _maxTrials;
    private readonly List<Parameter> _parameters = [];

    /// <summary>Random axes first, drawn as random search draws its configuration of the same index, then grid axes.</summary>
    private readonly List<int> _drawOrder = [];

    private readonly List<Trial> _trials = [];
    private readonly Dictionary<string, Trial> _byId = [];

    public TpeSearcher(SearchSpace space, IReadOnlyList<SweepObjective> objectives, TpeSettings settings, int? maxTrials)
    {
        ArgumentOutOfRangeException.ThrowIfZero(objectives.Count);
        (_space, _objectives, _settings, _maxTrials) = (space, objectives, settings, maxTrials);
        foreach (var axis in space.Grid) _parameters.Add(new GridParameter(axis));
        foreach (var axis in space.Random)
        {
            _parameters.Add(axis.Distribution switch
            {
                ChoiceDistribution choice => new ChoiceParameter(axis, choice),
                UniformDistribution uniform => new NumericParameter(axis, uniform.Low, uniform.High, NumericKind.Real),
                LogUniformDistribution log => new NumericParameter(axis, log.Low, log.High, NumericKind.Log),
                IntUniformDistribution integer => new NumericParameter(axis, integer.Low, integer.High, NumericKind.Integer),
                _ => throw new ArgumentException($"random.{axis.Field.Name}: no Parzen estimator for {axis.Distribution}", nameof(space)),
            });
        }
        _drawOrder.AddRange(Enumerable.Range(space.Grid.Count, space.Random.Count));
        _drawOrder.AddRange(Enumerable.Range(0, space.Grid.Count));
    }

    public bool Exhausted => _trials.Count >= _maxTrials;

    public IReadOnlyList<Suggestion> Suggest(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var suggestions = new List<Suggestion>();
        while (suggestions.Count < count && !Exhausted) suggestions.Add(Next());
        return suggestions;
    }

    /// <summary>None: past its startup trials each suggestion depends on the results so far.</summary>
    public IReadOnlyList<Suggestion> Upcoming(int count) => [];

    public void OnEpoch(TrialReport report)
    {
        if (_byId.TryGetValue(report.TrialId, out var trial) && report.Epoch >= (trial.LastEpoch ?? 0))
            (trial.LastEpoch, trial.LastReport) = (report.Epoch, report.Objective);
    }

    public void OnTrialEnd(string trialId, IReadOnlyList<double>? objectives)
    {
        if (!_byId.TryGetValue(trialId, out var trial)) return;
        trial.Ended = true;
        trial.Objectives = objectives;
    }

    private Suggestion Next()
    {
        var index = _trials.Count;
        var random = new Random(SearchSpace.DrawSeed(_space.SearchSeed, index));
        var finished = _trials.Count(t => t.State is TrialState.Complete or TrialState.Pruned);
        var point = finished < _settings.StartupTrials ? Draw(random) : Propose(random);
        var settings = _parameters.Select((p, i) => p.Setting(point[i])).ToList();
        var suggestion = _space.Create(index, settings);
        var trial = new Trial(index, [.. _parameters.Select((p, i) => p.Internal(settings[i].Value))], suggestion.Spec?.Epochs);
        _trials.Add(trial);
        _byId[suggestion.Id] = trial;
        return suggestion;
    }

    private double[] Draw(Random random)
    {
        var point = new double[_parameters.Count];
        foreach (var i in _drawOrder) point[i] = _parameters[i].Draw(random);
        return point;
    }

    private double[] Propose(Random random)
    {
        var (good, bad) = Split();
        var point = new double[_parameters.Count];
        for (var i = 0; i < _parameters.Count; i++)
        {
            var l = _parameters[i].Estimator([.. good.Select(t => t.Point[i])], Weights(good.Count));
            var g = _parameters[i].Estimator([.. bad.Select(t => t.Point[i])], Weights(bad.Count));
            var (best, bestScore) = (double.NaN, double.NegativeInfinity);
            for (var c = 0; c < _settings.Candidates; c++)
            {
                var x = l.Sample(random);
                var score = l.LogDensity(x) - g.LogDensity(x);
                if (double.IsNaN(best) || score > bestScore) (best, bestScore) = (x, score);
            }
            point[i] = best;
        }
        return point;
    }

    /// <summary>The good trials and the bad ones, each oldest first, as the weights expect.</summary>
    internal (IReadOnlyList<Trial> Good, IReadOnlyList<Trial> Bad) Split()
    {
        var complete = _trials.Where(t => t.State == TrialState.Complete).ToList();
        var pruned = _trials.Where(t => t.State == TrialState.Pruned)
            .OrderByDescending(t => t.LastEpoch).ThenByDescending(t => _objectives[0].Score(t.LastReport ?? double.NaN)).ThenBy(t => t.Number);
        var counted = _trials.Where(t => t.State != TrialState.Ignored).ToList();
        var told = counted.Count(t => t.State != TrialState.Running);
        var goodCount = Math.Min((int)Math.Ceiling(_settings.Gamma * told), MostGood);
        var good = Ranked(complete).Concat(pruned).Take(goodCount).ToHashSet();
        return ([.. counted.Where(good.Contains)], [.. counted.Where(t => !good.Contains(t))]);
    }

    /// <summary>Complete trials best first: by the objective, or by Pareto front and then the first objective.</summary>
    private IEnumerable<Trial> Ranked(List<Trial> complete)
    {
        var scores = complete.ToDictionary(t => t, t => _objectives.Select((o, j) => j < t.Objectives!.Count ? o.Score(t.Objectives[j]) : double.NegativeInfinity).ToArray());
        var fronts = _objectives.Count == 1 ? complete.ToDictionary(t => t, _ => 0) : Fronts(complete, scores);
        return complete.OrderBy(t => fronts[t]).ThenByDescending(t => scores[t][0]).ThenBy(t => t.Number);
    }

    /// <summary>Each trial's non-domination rank: 0 for the Pareto front, 1 for the front once that is removed, and so on.</summary>
    private static Dictionary<Trial, int> Fronts(List<Trial> trials, Dictionary<Trial, double[]> scores)
    {
        static bool Dominates(double[] a, double[] b) => a.Zip(b).All(p => p.First >= p.Second) && a.Zip(b).Any(p => p.First > p.Second);
        var fronts = new Dictionary<Trial, int>();
        var left = trials.ToList();
        for (var front = 0; left.Count > 0; front++)
        {
            var current = left.Where(t => !left.Any(other => Dominates(scores[other], scores[t]))).ToList();
            foreach (var t in current) fronts[t] = front;
            left.RemoveAll(current.Contains);
        }
        return fronts;
    }

    /// <summary>Optuna's default weights: 1 for the newest 25, a ramp from 1/n towards 1 for the older ones.</summary>
    internal static double[] Weights(int n)
    {
        if (n < MostGood) return [.. Enumerable.Repeat(1.0, n)];
        var ramp = n - MostGood;
        var weights = new double[n];
        for (var i = 0; i < ramp; i++) weights[i] = ramp == 1 ? 1.0 / n : (1.0 / n) + (i * (1 - (1.0 / n)) / (ramp - 1));
        for (var i = ramp; i < n; i++) weights[i] = 1;
        return weights;
    }

    internal enum TrialState
    {
        Running,
        Complete,
        Pruned,
        Ignored,
    }

    /// <summary>A suggested trial: the values chosen (in internal form) and what the searcher heard of it.</summary>
    internal sealed class Trial(int number, double[] point, int? epochs)
    {
        public int Number { get; } = number;
        public double[] Point { get; } = point;
        public bool Ended { get; set; }
        public IReadOnlyList<double>? Objectives { get; set; }
        public int? LastEpoch { get; set; }
        public double? LastReport { get; set; }

        public TrialState State => !Ended ? TrialState.Running
            : Objectives is not { Count: > 0 } ? TrialState.Ignored
            : LastEpoch < epochs ? TrialState.Pruned
            : TrialState.Complete;
    }

    private enum NumericKind
    {
        Real,
        Log,
        Integer,
    }

    /// <summary>One axis as TPE sees it: its values in internal form (see <see cref="ParzenEstimator"/>) and back.</summary>
    private abstract class Parameter
    {
        public abstract double Draw(Random random);
        public abstract double Internal(object? value);
        public abstract Setting Setting(double value);
        public abstract ParzenEstimator Estimator(IReadOnlyList<double> observations, IReadOnlyList<double> weights);
    }

    private sealed class GridParameter(IReadOnlyList<Setting> values) : Parameter
    {
        public override double Draw(Random random) => random.Next(values.Count);
        public override double Internal(object? value) => values.Select(v => v.Value).ToList().FindIndex(v => Equals(v, value));
        public override Setting Setting(double value) => values[(int)value];
        public override ParzenEstimator Estimator(IReadOnlyList<double> observations, IReadOnlyList<double> weights) =>
            new CategoricalParzenEstimator(observations, weights, values.Count);
    }

    private sealed class ChoiceParameter(RandomAxis axis, ChoiceDistribution choice) : Parameter
    {
        public override double Draw(Random random) => Internal(choice.Draw(random).Value);
        public override double Internal(object? value) => choice.Options.Select(o => o.Value).ToList().FindIndex(v => Equals(v, value));

        public override Setting Setting(double value)
        {
            var (chosen, text) = choice.Options[(int)value];
            return new Setting(axis.Field, chosen, text, $"random.{axis.Field.Name}");
        }

        public override ParzenEstimator Estimator(IReadOnlyList<double> observations, IReadOnlyList<double> weights) =>
            new CategoricalParzenEstimator(observations, weights, choice.Options.Count);
    }

    private sealed class NumericParameter(RandomAxis axis, double low, double high, NumericKind kind) : Parameter
    {
        public override double Draw(Random random) => Internal(axis.Distribution.Draw(random).Value);

        public override double Internal(object? value) => kind switch
        {
            NumericKind.Log => Math.Log((double)value!),
            NumericKind.Integer => (int)value!,
            _ => (double)value!,
        };

        public override Setting Setting(double value)
        {
            // Boxed arm by arm: the switch's common type would turn the integer into a double.
            object chosen = kind switch
            {
                NumericKind.Log => (object)Math.Clamp(Math.Exp(value), low, high),
                NumericKind.Integer => (int)Math.Clamp(Math.Round(value), low, high),
                _ => Math.Clamp(value, low, high),
            };
            return new Setting(axis.Field, chosen, Convert.ToString(chosen, CultureInfo.InvariantCulture)!, $"random.{axis.Field.Name}");
        }

        public override ParzenEstimator Estimator(IReadOnlyList<double> observations, IReadOnlyList<double> weights) => kind switch
        {
            NumericKind.Log => new NumericParzenEstimator(observations, weights, Math.Log(low), Math.Log(high), 0),
            NumericKind.Integer => new NumericParzenEstimator(observations, weights, low, high, 1),
            _ => new NumericParzenEstimator(observations, weights, low, high, 0),
        };
    }
}
