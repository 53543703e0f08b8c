using System.Globalization;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// <c>replicates: k</c>, with <c>racing:</c> and <c>max_replicates:</c>: each configuration runs under k seeds, and
/// with racing, configurations still in contention get more, one at a time, up to max_replicates. Count 1 without
/// racing runs each configuration once, under the seed its spec gives.
/// </summary>
public sealed record ReplicateSettings(int Count, bool Racing, int MaxReplicates)
{
    public static ReplicateSettings None { get; } = new(1, false, 1);

    /// <summary>Racing's ceiling where the spec gives none: twice the replicates every configuration starts with.</summary>
    public static int DefaultMaxReplicates(int count) => 2 * count;

    public bool Replicates => Count > 1 || Racing;

    internal ISearcher Wrap(ISearcher configurations, SweepObjective objective) =>
        Replicates ? new ReplicateSearcher(configurations, this, objective) : configurations;
}

/// <summary>
/// Seeds as noise, not as a hyperparameter: runs each configuration that <paramref name="configurations"/> suggests
/// as several trials that differ only in their seed, and tells it each configuration's mean.
/// <list type="bullet">
/// <item>Replicate r (from 1) of configuration t003 is trial t003-r{r}, with seed = the configuration's seed + r − 1,
/// so that replicate 1 is the run the configuration would be alone. The seed drives the head's initialisation,
/// dropout, data order and any sampling.</item>
/// <item>The inner searcher hears a configuration's end once all its started replicates have ended, with the mean of
/// each objective over those that completed (null if none did); with racing it is told again, with the new mean,
/// whenever a further replicate ends. Epoch reports reach it under the configuration's id.</item>
/// <item>Racing: whenever a configuration's replicates have all ended, the leader is the configuration with the best
/// mean among those settled with at least two replicates. Every settled configuration whose 95% interval overlaps the
/// leader's and has fewer than max_replicates gets one more replicate, and so does the leader while any overlaps it.
/// Extra replicates are suggested before new configurations.</item>
/// </list>
/// Every decision depends only on the calls it gets, in order, so a replay rebuilds it exactly.
/// </summary>
public sealed class ReplicateSearcher : ISearcher
{
    private readonly ISearcher _configurations;
    private readonly ReplicateSettings _settings;
    private readonly SweepObjective _objective;
    private readonly List<Configuration> _order = [];
    private readonly Dictionary<string, (Configuration Configuration, int Replicate)> _trials = [];
    private readonly Queue<(Configuration Configuration, int Replicate)> _queued = [];

    public ReplicateSearcher(ISearcher configurations, ReplicateSettings settings, SweepObjective objective)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxReplicates, settings.Count);
        if (settings.Racing) ArgumentOutOfRangeException.ThrowIfLessThan(settings.Count, 2);
        (_configurations, _settings, _objective) = (configurations, settings, objective);
    }

    private sealed class Configuration(Suggestion suggestion)
    {
        public Suggestion Suggestion { get; } = suggestion;
        public int Started { get; set; }
        public Dictionary<int, IReadOnlyList<double>?> Ended { get; } = [];
        public bool Settled => Ended.Count == Started;
        public List<IReadOnlyList<double>> Completed => [.. Ended.OrderBy(e => e.Key).Select(e => e.Value).OfType<IReadOnlyList<double>>()];
    }

    public bool Exhausted => _queued.Count == 0 && _configurations.Exhausted && (!_settings.Racing || _order.TrueForAll(c => c.Settled));

    public IReadOnlyList<Suggestion> Suggest(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var suggestions = new List<Suggestion>();
        while (suggestions.Count < count)
        {
            if (_queued.Count == 0 && !QueueNextConfiguration()) break;
            var (configuration, replicate) = _queued.Dequeue();
            var trial = Replicate(configuration.Suggestion, replicate);
            _trials[trial.Id] = (configuration, replicate);
            suggestions.Add(trial);
        }
        return suggestions;
    }

    /// <summary>
    /// The replicates queued now, then each of the inner searcher's upcoming configurations under its k seeds. Racing
    /// may add replicates ahead of them later; these still come.
    /// </summary>
    public IReadOnlyList<Suggestion> Upcoming(int count)
    {
        var queued = _queued.Select(q => Replicate(q.Configuration.Suggestion, q.Replicate));
        var later = _configurations.Upcoming(count).SelectMany(c => Enumerable.Range(1, c.Spec is null ? 1 : _settings.Count).Select(r => Replicate(c, r)));
        return [.. queued.Concat(later).Take(Math.Max(count, 0))];
    }

    private bool QueueNextConfiguration()
    {
        if (_configurations.Suggest(1) is not [var suggestion]) return false;
        var configuration = new Configuration(suggestion);
        _order.Add(configuration);
        // An invalid combination fails the same way under every seed: one trial says so.
        // Queued replicates count as started: the configuration is not settled until they have ended too.
        configuration.Started = suggestion.Spec is null ? 1 : _settings.Count;
        for (var r = 1; r <= configuration.Started; r++) _queued.Enqueue((configuration, r));
        return true;
    }

    private static Suggestion Replicate(Suggestion configuration, int replicate)
    {
        var id = $"{configuration.Id}-r{replicate.ToString(CultureInfo.InvariantCulture)}";
        var seed = (configuration.Spec?.Seed ?? new TrialSpec().Seed) + replicate - 1;
        List<Hyperparameter> hyperparameters = [.. configuration.Hyperparameters, new(SeedField, seed.ToString(CultureInfo.InvariantCulture))];
        return configuration with { Id = id, Hyperparameters = hyperparameters, Spec = configuration.Spec is { } spec ? spec with { Seed = seed } : null };
    }

    /// <summary>The hyperparameter that tells replicates apart, which the leaderboard groups by everything but.</summary>
    public static string SeedField { get; } = TrialSchema.Field(nameof(TrialSpec.Seed)).Name;

    public void OnEpoch(TrialReport report)
    {
        if (_trials.TryGetValue(report.TrialId, out var trial))
            _configurations.OnEpoch(report with { TrialId = trial.Configuration.Suggestion.Id });
    }

    public void OnTrialEnd(string trialId, IReadOnlyList<double>? objectives)
    {
        if (!_trials.TryGetValue(trialId, out var trial)) return;
        var configuration = trial.Configuration;
        configuration.Ended[trial.Replicate] = objectives;
        if (!configuration.Settled) return;
        _configurations.OnTrialEnd(configuration.Suggestion.Id, Means(configuration.Completed));
        if (_settings.Racing) Race();
    }

    private static IReadOnlyList<double>? Means(List<IReadOnlyList<double>> completed) =>
        completed.Count == 0 ? null : [.. Enumerable.Range(0, completed[0].Count).Select(i => completed.Average(values => values[i]))];

    private void Race()
    {
        var settled = _order
            .Where(c => c.Settled && c.Completed.Count >= 2)
            .Select(c => (Configuration: c, Interval: MeanInterval.Of([.. c.Completed.Select(values => values[0])])))
            .ToList();
        if (settled.Count == 0) return;
        var leader = settled.MaxBy(c => _objective.Score(c.Interval.Mean));
        var contenders = settled.Where(c => c.Configuration != leader.Configuration && c.Interval.Overlaps(leader.Interval)).ToList();
        if (contenders.Count == 0) return;
        foreach (var (configuration, _) in contenders.Prepend(leader))
        {
            if (configuration.Started >= _settings.MaxReplicates) continue;
            configuration.Started++;
            _queued.Enqueue((configuration, configuration.Started));
        }
    }
}
