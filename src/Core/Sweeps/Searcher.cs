namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// Ray Tune's searcher: the sweep asks it for trials as slots free up and tells it every result. A searcher is
/// deterministic in the calls it gets: a restarted sweep replays its log of calls (<see cref="SearcherReplay"/>) to a
/// new searcher and carries on exactly where the old one was, no configuration run twice or skipped.
/// </summary>
public interface ISearcher
{
    /// <summary>
    /// Up to <paramref name="count"/> trials to start now; fewer, or none, when it has no more to give now. One call
    /// for n trials must give what n calls for one give, so that a replay need not know how calls were batched.
    /// </summary>
    IReadOnlyList<Suggestion> Suggest(int count);

    /// <summary>
    /// Up to <paramref name="count"/> trials it will suggest later whatever it is told, in the order it would, without
    /// suggesting them: a sweep shows their configurations before it starts them. Empty where what comes next depends
    /// on results.
    /// </summary>
    IReadOnlyList<Suggestion> Upcoming(int count);

    /// <summary>A trial's objective after an epoch, as the scheduler hears it.</summary>
    void OnEpoch(TrialReport report);

    /// <summary>
    /// A trial ended: its final value of each of the plan's objectives, in their order, or null when it failed or was
    /// cancelled. A searcher may be told again about the same trial, with new values (a configuration whose replicates
    /// end one by one): the last values stand.
    /// </summary>
    void OnTrialEnd(string trialId, IReadOnlyList<double>? objectives);

    /// <summary>Whether it will never suggest again, whatever it is told.</summary>
    bool Exhausted { get; }
}

/// <summary>
/// Grid and random search: walks the search space in index order. Random draws are made per index from the search
/// seed, so walking the space is the search; results change nothing.
/// </summary>
public sealed class SpaceSearcher(SearchSpace space) : ISearcher
{
    /// <summary>How many trials it has suggested.</summary>
    public int Suggested { get; private set; }

    public bool Exhausted => Suggested >= space.Count;

    public IReadOnlyList<Suggestion> Suggest(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var suggestions = new List<Suggestion>();
        while (suggestions.Count < count && !Exhausted) suggestions.Add(space.Create(Suggested++));
        return suggestions;
    }

    public IReadOnlyList<Suggestion> Upcoming(int count) =>
        [.. Enumerable.Range(Suggested, Math.Clamp(space.Count - Suggested, 0, Math.Max(count, 0))).Select(space.Create)];

    public void OnEpoch(TrialReport report)
    {
    }

    public void OnTrialEnd(string trialId, IReadOnlyList<double>? objectives)
    {
    }
}

/// <summary>A plan's choice of searcher, as data that can be stored with the plan.</summary>
public abstract record SearcherSettings
{
    internal abstract ISearcher Create(SweepPlan plan);
}

/// <summary><c>searcher: { type: space }</c>, the default: the grid and the random draws in index order.</summary>
public sealed record SpaceSearcherSettings : SearcherSettings
{
    internal override ISearcher Create(SweepPlan plan) => new SpaceSearcher(plan.Trials);
}

/// <summary><c>searcher: { type: tpe }</c>: see <see cref="TpeSearcher"/>; it stops at the plan's max_trials, if any.</summary>
public sealed record TpeSettings(int StartupTrials, int Candidates, double Gamma) : SearcherSettings
{
    internal override ISearcher Create(SweepPlan plan) => new TpeSearcher(plan.Trials, plan.Objectives, this, plan.Budget.MaxTrials);
}

/// <summary>One call a sweep made to its searcher, as it keeps them for a replay after a restart.</summary>
public abstract record SearcherCall
{
    public sealed record Suggested(string TrialId) : SearcherCall;

    public sealed record Epoch(TrialReport Report) : SearcherCall;

    public sealed record Ended(string TrialId, IReadOnlyList<double>? Objectives) : SearcherCall;
}

public static class SearcherReplay
{
    /// <summary>
    /// Brings a new searcher to where the one that made <paramref name="calls"/> was, checking that it suggests the
    /// same trials in the same order; a searcher that does not is not deterministic, and carrying on would run some
    /// configuration twice or skip one.
    /// </summary>
    public static void Replay(this ISearcher searcher, IEnumerable<SearcherCall> calls)
    {
        foreach (var call in calls)
        {
            switch (call)
            {
                case SearcherCall.Suggested suggested:
                    var again = searcher.Suggest(1);
                    if (again.Count != 1 || again[0].Id != suggested.TrialId)
                        throw new InvalidOperationException(
                            $"the searcher replayed {(again.Count == 0 ? "no trial" : again[0].Id)} where it had suggested {suggested.TrialId}.");
                    break;
                case SearcherCall.Epoch epoch:
                    searcher.OnEpoch(epoch.Report);
                    break;
                case SearcherCall.Ended ended:
                    searcher.OnTrialEnd(ended.TrialId, ended.Objectives);
                    break;
            }
        }
    }
}
