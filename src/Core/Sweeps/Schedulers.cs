namespace ExperimentGrid.Core.Sweeps;

/// <summary>What a trial does after an epoch, as its scheduler decides.</summary>
public enum SchedulerDecision
{
    /// <summary>Train the next epoch.</summary>
    Continue,

    /// <summary>Checkpoint and give up the slot; resume from the checkpoint once no trial is waiting to start.</summary>
    Pause,

    /// <summary>End the trial here; its results so far stand.</summary>
    Stop,
}

/// <summary>A trial's objective (the metric's own value, not turned by the mode) after an epoch, counted from 1.</summary>
public sealed record TrialReport(string TrialId, int Epoch, double Objective);

/// <summary>
/// Ray Tune's trial scheduler: after each epoch, whether the trial goes on. Decisions depend only on the reports and
/// their order, so a restarted sweep rebuilds its scheduler by replaying the reports it kept.
/// </summary>
public interface ITrialScheduler
{
    SchedulerDecision OnResult(TrialReport report);
}

/// <summary>A plan's choice of scheduler, as data that can be stored with the plan.</summary>
public abstract record SchedulerSettings
{
    internal abstract ITrialScheduler Create(SweepObjective objective);
}

public sealed record FifoSettings : SchedulerSettings
{
    internal override ITrialScheduler Create(SweepObjective objective) => new FifoScheduler();
}

public sealed record AshaSettings(int GracePeriod, int ReductionFactor, int MaxEpochs) : SchedulerSettings
{
    internal override ITrialScheduler Create(SweepObjective objective) => new AshaScheduler(objective, this);
}

public sealed record MedianStoppingSettings(int GracePeriod, int MinSamplesRequired, bool HardStop) : SchedulerSettings
{
    internal override ITrialScheduler Create(SweepObjective objective) => new MedianStoppingRule(objective, this);
}

/// <summary>Every trial runs all its epochs, in the order the searcher gave them.</summary>
public sealed class FifoScheduler : ITrialScheduler
{
    public SchedulerDecision OnResult(TrialReport report) => SchedulerDecision.Continue;
}

/// <summary>
/// Asynchronous successive halving (ASHA, Li et al. 2020), as Ray Tune's ASHAScheduler with one bracket. Rungs sit at
/// grace_period × reduction_factor^k epochs below max_epochs. When a trial first reaches a rung, it goes on only if
/// its objective is at least the (1 − 1/reduction_factor) quantile of the trials recorded there before it, so that
/// about the best 1/reduction_factor go on; the first to arrive always goes on. At max_epochs every trial stops.
/// </summary>
public sealed class AshaScheduler : ITrialScheduler
{
    private readonly SweepObjective _objective;
    private readonly AshaSettings _settings;
    private readonly List<(int Epoch, Dictionary<string, double> Recorded)> _rungsHighestFirst = [];
    private readonly DecisionLog _log = new();

    public AshaScheduler(SweepObjective objective, AshaSettings settings)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.GracePeriod, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.ReductionFactor, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxEpochs, 1);
        (_objective, _settings) = (objective, settings);
        for (long epoch = settings.GracePeriod; epoch < settings.MaxEpochs; epoch *= settings.ReductionFactor)
            _rungsHighestFirst.Insert(0, ((int)epoch, []));
    }

    /// <summary>The epochs at which trials are compared, lowest first.</summary>
    public IEnumerable<int> Rungs => _rungsHighestFirst.Select(r => r.Epoch).Reverse();

    public SchedulerDecision OnResult(TrialReport report) =>
        _log.TryRepeat(report, out var repeated) ? repeated : _log.Record(report, Decide(report));

    private SchedulerDecision Decide(TrialReport report)
    {
        if (report.Epoch >= _settings.MaxEpochs) return SchedulerDecision.Stop;
        foreach (var (epoch, recorded) in _rungsHighestFirst)
        {
            if (report.Epoch < epoch) continue;
            // Only the highest rung reached judges, once, on arrival; after it the trial runs on to the next rung.
            if (recorded.ContainsKey(report.TrialId)) return SchedulerDecision.Continue;
            var score = _objective.Score(report.Objective);
            double? cutoff = recorded.Count == 0 ? null : Statistics.Quantile(recorded.Values, 1 - (1.0 / _settings.ReductionFactor));
            recorded[report.TrialId] = score;
            return cutoff is { } c && score < c ? SchedulerDecision.Stop : SchedulerDecision.Continue;
        }
        return SchedulerDecision.Continue;
    }
}

/// <summary>
/// The median stopping rule (Golovin et al. 2017), as Ray Tune's MedianStoppingRule with epochs as time. After an
/// epoch t past grace_period, a trial is stopped if its best objective so far is worse than the median, over the
/// other trials that have reached epoch t, of their mean objective over epochs grace_period to t; with fewer than
/// min_samples_required such trials it goes on. Without hard_stop it is paused instead, and once resumed it runs to
/// the end.
/// </summary>
public sealed class MedianStoppingRule : ITrialScheduler
{
    private readonly SweepObjective _objective;
    private readonly MedianStoppingSettings _settings;
    private readonly Dictionary<string, List<(int Epoch, double Score)>> _results = [];
    private readonly HashSet<string> _paused = [];
    private readonly DecisionLog _log = new();

    public MedianStoppingRule(SweepObjective objective, MedianStoppingSettings settings)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.GracePeriod, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MinSamplesRequired, 1);
        (_objective, _settings) = (objective, settings);
    }

    public SchedulerDecision OnResult(TrialReport report) =>
        _log.TryRepeat(report, out var repeated) ? repeated : _log.Record(report, Decide(report));

    private SchedulerDecision Decide(TrialReport report)
    {
        if (!_results.TryGetValue(report.TrialId, out var results)) _results[report.TrialId] = results = [];
        results.Add((report.Epoch, _objective.Score(report.Objective)));
        // Unlike Ray, a resumed trial's results still count towards the others' medians: they are measured like any.
        if (_paused.Contains(report.TrialId)) return SchedulerDecision.Continue;

        var (time, grace) = (report.Epoch, _settings.GracePeriod);
        if (time <= grace) return SchedulerDecision.Continue;
        var runningMeans = _results
            .Where(other => other.Key != report.TrialId && other.Value[^1].Epoch >= time)
            .Select(other => other.Value.Where(r => r.Epoch >= grace && r.Epoch <= time).Average(r => r.Score))
            .ToList();
        if (runningMeans.Count < _settings.MinSamplesRequired) return SchedulerDecision.Continue;
        if (results.Max(r => r.Score) >= Statistics.Quantile(runningMeans, 0.5)) return SchedulerDecision.Continue;
        if (_settings.HardStop) return SchedulerDecision.Stop;
        _paused.Add(report.TrialId);
        return SchedulerDecision.Pause;
    }
}

/// <summary>
/// The decision made at each epoch of each trial. A report can come twice (a trial resumed from an earlier checkpoint
/// after its silo died repeats epochs); the repeat gets the first decision and changes nothing, so no result counts twice.
/// </summary>
internal sealed class DecisionLog
{
    private readonly Dictionary<(string Trial, int Epoch), SchedulerDecision> _decisions = [];
    private readonly Dictionary<string, int> _lastEpoch = [];

    public bool TryRepeat(TrialReport report, out SchedulerDecision decision)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(report.Epoch, 1, nameof(report));
        if (_decisions.TryGetValue((report.TrialId, report.Epoch), out decision)) return true;
        if (_lastEpoch.TryGetValue(report.TrialId, out var last) && report.Epoch < last)
            throw new ArgumentException($"trial {report.TrialId} reported epoch {report.Epoch}, which it skipped, after epoch {last}.", nameof(report));
        return false;
    }

    public SchedulerDecision Record(TrialReport report, SchedulerDecision decision)
    {
        _decisions[(report.TrialId, report.Epoch)] = decision;
        _lastEpoch[report.TrialId] = report.Epoch;
        return decision;
    }
}

internal static class Statistics
{
    /// <summary>
    /// numpy's default (linear) quantile: position q·(n−1) in the sorted values, interpolated between neighbours. The
    /// weighted form keeps −∞ (a NaN objective) at −∞ instead of turning it into NaN.
    /// </summary>
    public static double Quantile(IEnumerable<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) throw new ArgumentException("no values", nameof(values));
        var position = q * (sorted.Length - 1);
        var below = (int)Math.Floor(position);
        var fraction = position - below;
        return fraction == 0 ? sorted[below] : (sorted[below] * (1 - fraction)) + (sorted[below + 1] * fraction);
    }
}
