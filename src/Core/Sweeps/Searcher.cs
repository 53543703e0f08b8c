namespace ExperimentGrid.Core.Sweeps;

/// <summary>Ray Tune's searcher: it proposes the trials to run, one at a time.</summary>
public interface ISearcher
{
    /// <summary>The next trial to start, or null when there are no more.</summary>
    SweepTrial? Suggest();
}

/// <summary>
/// Serves a plan's trials in order. Grid points and random draws are all made when the plan is expanded, so that
/// every trial is checked before the first one runs; what is left for the searcher is to hand them out.
/// </summary>
public sealed class PlanSearcher : ISearcher
{
    private readonly SweepPlan _plan;

    /// <param name="plan">The expanded sweep.</param>
    /// <param name="suggested">Trials already handed out, as <see cref="Suggested"/> said before a restart.</param>
    public PlanSearcher(SweepPlan plan, int suggested = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(suggested);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(suggested, plan.Trials.Count);
        _plan = plan;
        Suggested = suggested;
    }

    /// <summary>How many trials have been handed out; a sweep that keeps this carries on from it after a restart.</summary>
    public int Suggested { get; private set; }

    public SweepTrial? Suggest() => Suggested < _plan.Trials.Count ? _plan.Trials[Suggested++] : null;
}
