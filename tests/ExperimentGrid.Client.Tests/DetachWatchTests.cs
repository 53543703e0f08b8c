using System.Text.RegularExpressions;
using ExperimentGrid.Contracts;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Client.Tests;

/// <summary>`grid sweep run --detach` and `grid sweep watch` against a cluster of fakes, and the ETA they show meanwhile.</summary>
[Collection(ConsoleCollection.Name)]
public sealed partial class DetachWatchTests
{
    [Fact]
    public async Task Detach_returns_with_the_sweep_running_status_shows_its_ETA_and_watch_follows_it_to_the_leaderboard()
    {
        // One slot, 2 epochs of 4 steps of 300 ms: each trial trains for 2.4 s, one after the other.
        await using var grid = new FakeGrid(new FakeTrainableFactory { Noise = 0, StepTime = _ => TimeSpan.FromMilliseconds(300) });
        var (silo, cluster) = await grid.StartSiloAsync(slots: "cpu:1");
        var spec = grid.WriteSpec("detached.yaml", FakeGrid.Spec("detached", "[2.0e-5, 5.0e-5]"));

        var detach = await Cli.RunAsync(["sweep", "run", spec, "--detach", .. cluster]);

        Assert.True(detach.ExitCode == 0, detach.Error + detach.Out);
        var id = FakeGrid.SweepId(detach.Out);
        Assert.Contains($"grid sweep watch {id} --cluster {cluster[1]}", detach.Out);
        Assert.DoesNotContain("rank", detach.Out);
        var sweep = silo.Services.GetRequiredService<IGrainFactory>().GetGrain<ISweepGrain>(id);
        Assert.Equal(SweepStatus.Running, (await sweep.GetAsync()).Status);

        await FakeGrid.WaitUntilAsync(async () => (await sweep.GetAsync()).Trials.Any(t => t.Progress is { Step: >= 2 and <= 5 }), TimeSpan.FromMinutes(1));
        var status = await Cli.RunAsync(["sweep", "status", id, .. cluster]);

        Assert.True(status.ExitCode == 0, status.Error);
        var running = Assert.Single(FakeGrid.Rows(status.Out), r => r[2] == "Running");
        // Steps of 0.3 s with at most 6 of 8 left when it was read: 3 s at most.
        Assert.Matches(@"^[0-3]s$", running[9]);
        Assert.Contains("sweep ETA about ", status.Out);

        var watch = await Cli.RunAsync(["sweep", "watch", id, .. cluster]);

        Assert.True(watch.ExitCode == 0, watch.Error + watch.Out);
        Assert.Equal(SweepStatus.Finished, (await sweep.GetAsync()).Status);
        var board = watch.Out[watch.Out.LastIndexOf("│ rank", StringComparison.Ordinal)..];
        Assert.Equal(["t001", "t002"], FakeGrid.Rows(board).Skip(1).Select(r => r[2]));
        var best = BestModel().Match(watch.Out);
        Assert.True(best.Success, watch.Out);
        Assert.Equal("t001", best.Groups[1].Value);
        Assert.Contains($"serve it: grid predict --model {best.Groups[2].Value} \"", watch.Out);
    }

    [Fact]
    public async Task Watch_names_a_sweep_the_cluster_does_not_have()
    {
        await using var grid = new FakeGrid(new FakeTrainableFactory());
        var (_, cluster) = await grid.StartSiloAsync();

        var result = await Cli.RunAsync(["sweep", "watch", "no-such-sweep", .. cluster]);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: no sweep 'no-such-sweep' on this cluster", result.Error, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^best model \((t\d{3})\): (\S+)$", RegexOptions.Multiline)]
    private static partial Regex BestModel();
}
