using System.Diagnostics;
using ExperimentGrid.Contracts;
using ExperimentGrid.Grains;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>Trials exist only once the searcher suggests them, a few ahead of the free slots, however large the space.</summary>
[Collection(SiloCollection.Name)]
public sealed class LazySweepTests
{
    [Fact]
    public async Task A_grid_of_ten_to_the_fifth_points_is_accepted_at_once_and_creates_trials_only_ahead_of_the_slots()
    {
        using var directory = new TemporaryDirectory();
        // Slow fakes: the sweep is watched while its first trials run, then cancelled.
        var fakes = new FakeTrainableFactory { StepTime = _ => TimeSpan.FromMilliseconds(250) };
        await using var silo = await Silos.StartWithFakesAsync(directory.Path, fakes);
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        var sweep = grains.GetGrain<ISweepGrain>("huge");
        var queueAhead = new GridOptions().QueueAhead;

        var clock = Stopwatch.StartNew();
        var submitted = await sweep.SubmitAsync(new SweepSubmission("huge.yaml", SweepSpecs.HundredThousandPoints("huge", "{ model: minilm, dataset: rotten_tomatoes, test_split: none }")));
        var accepted = clock.Elapsed;

        Assert.Equal(100_000, submitted.SpaceSize);
        // A hang guard, not a timing: the grid benchmark measures acceptance.
        Assert.True(accepted < TimeSpan.FromSeconds(20), $"accepting the grid took {accepted}");
        var most = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var snapshot = await sweep.GetAsync();
            most = Math.Max(most, snapshot.Trials.Count);
            Assert.True(snapshot.Trials.Count(t => t.Status == TrialStatus.Running) <= 2, "more trials running than the 2 slots");
            if (snapshot.Trials.Count(t => t.Status == TrialStatus.Completed) >= 2) break;
            Assert.True(DateTime.UtcNow < deadline, $"no two trials completed within 30 s: {string.Join(", ", snapshot.Trials.Select(t => $"{t.TrialId}={t.Status}"))}");
            await Task.Delay(100);
        }

        // Created: those that ran or run on the 2 slots, and at most QueueAhead waiting; never the space.
        var created = await sweep.GetAsync();
        Assert.InRange(created.Trials.Count, 3, 2 + 2 + queueAhead);
        Assert.InRange(most, 1, 2 + 2 + queueAhead);
        Assert.Equal(created.Trials.Select((_, i) => $"t{i + 1:D6}"), created.Trials.Select(t => t.TrialId));
        Assert.True(created.Trials.Count(t => t.Status == TrialStatus.Pending) <= queueAhead);
        Assert.Null((await grains.GetGrain<ITrialGrain>(TrialKeys.Format("huge", "t100000")).GetAsync()).Definition);

        await sweep.CancelAsync();
        var end = await GridWorld.WaitForEndAsync(sweep, TimeSpan.FromSeconds(30), grains: grains);
        Assert.Equal(SweepStatus.Cancelled, end.Status);
        Assert.All(end.Trials, t => Assert.True(t.Status is TrialStatus.Completed or TrialStatus.Cancelled, $"{t.TrialId} is {t.Status}"));
        await silo.StopAsync();
    }
}
