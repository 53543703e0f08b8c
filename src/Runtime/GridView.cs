using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Grains;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ExperimentGrid.Runtime;

/// <summary>A sweep as the metrics show it: its trials by state and its best objective so far.</summary>
public sealed record SweepView(string SweepId, string Metric, IReadOnlyDictionary<TrialStatus, int> TrialsByState, double? Best, bool Ended = false);

/// <summary>
/// The cluster's sweeps as this silo last read them. Metric callbacks run on the exporter's thread and cannot call
/// grains, so <see cref="GridViewRefresher"/> refreshes this copy instead; every silo's /metrics shows the whole
/// cluster's sweeps.
/// </summary>
public sealed class GridView
{
    public IReadOnlyList<SweepView> Sweeps { get; set; } = [];

    /// <summary>
    /// Every running sweep and the <paramref name="keepEnded"/> that ended last, in submission order. Each sweep is a
    /// label value of every sweep series, so a cluster that has run thousands of sweeps must not show them all.
    /// </summary>
    public static IReadOnlyList<SweepView> Shown(IReadOnlyList<SweepView> inSubmissionOrder, int keepEnded)
    {
        var shownEnded = inSubmissionOrder.Where(s => s.Ended).TakeLast(keepEnded).Select(s => s.SweepId).ToHashSet();
        return [.. inSubmissionOrder.Where(s => !s.Ended || shownEnded.Contains(s.SweepId))];
    }
}

public sealed class GridViewRefresher(GridView view, IGrainFactory grains, IOptions<GridOptions> options, ILogger<GridViewRefresher> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;

    /// <summary>Sweeps that ended no longer change: each is read once, not on every refresh for as long as the cluster lives.</summary>
    private readonly Dictionary<string, SweepView> _ended = [];

    public void Participate(ISiloLifecycle lifecycle) => lifecycle.Subscribe(nameof(GridViewRefresher), ServiceLifecycleStage.Active, _ =>
    {
        _loop = Task.Run(LoopAsync, CancellationToken.None);
        return Task.CompletedTask;
    }, async _ =>
    {
        await _stopping.CancelAsync();
        await _loop;
    });

    /// <summary>Reads the snapshot and best leaderboard entry of every sweep that had not ended at the last refresh.</summary>
    public async Task RefreshAsync()
    {
        var views = new List<SweepView>();
        var board = grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All);
        foreach (var id in await grains.GetGrain<ISweepIndexGrain>(0).ListAsync())
        {
            if (_ended.TryGetValue(id, out var ended))
            {
                views.Add(ended);
                continue;
            }
            var sweep = await grains.GetGrain<ISweepGrain>(id).GetAsync();
            var best = await board.TopAsync(id, 1);
            var current = new SweepView(id, sweep.Objective is { } objective ? EvaluationMetrics.Name(objective.Metric) : "", Enum.GetValues<TrialStatus>().ToDictionary(s => s, sweep.Count),
                best.Count > 0 ? best[0].Value : null, Ended: sweep.Status is SweepStatus.Finished or SweepStatus.Cancelled);
            if (current.Ended) _ended[id] = current;
            views.Add(current);
        }
        view.Sweeps = GridView.Shown(views, options.Value.MetricsEndedSweeps);
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(options.Value.MetricsRefreshInterval);
        do
        {
            try
            {
                await RefreshAsync();
            }
            catch (Exception e) when (!_stopping.IsCancellationRequested)
            {
                // The metrics keep their last values until the cluster answers again.
                logger.LogDebug(e, "Cannot refresh the sweeps for /metrics");
            }
        }
        while (await WaitAsync(timer));
    }

    private async Task<bool> WaitAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stopping.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
