using ExperimentGrid.Contracts;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>The single-machine grid (one silo, embedded store) stopped mid-sweep and started again.</summary>
[Collection(SiloCollection.Name)]
public sealed class ClusterRestartTests
{
    [Fact]
    public async Task A_sweep_in_progress_carries_on_after_the_cluster_stops_and_starts_and_the_running_trial_loses_no_step()
    {
        using var directory = new TemporaryDirectory();
        // A lease longer than the test may run: a trial that was not given back at the stop would wait for it, and fail the test.
        var options = Silos.Training(directory.Path) with
        {
            LeaseDuration = TimeSpan.FromMinutes(60),
        };
        // 96 examples in batches of 8: 12 steps an epoch, 36 in all, checkpoints only at epoch ends. One slot: while
        // the first trial trains, the second waits in the queue.
        var spec = GridWorld.TinySpec("restart", "  learning_rate: [2.0e-5, 5.0e-5]", epochs: 3)
            .Replace("train_limit: 32", "train_limit: 96", StringComparison.Ordinal) + "\ncheckpoint_every: 0\n";

        int stepAtStop;
        await using (var silo = await Silos.StartAsync(options))
        {
            var grains = silo.Services.GetRequiredService<IGrainFactory>();
            await grains.GetGrain<ISweepGrain>("restart").SubmitAsync(new SweepSubmission("restart.yaml", spec));
            stepAtStop = await WaitForStepAsync(grains.GetGrain<ITrialGrain>(TrialKeys.Format("restart", "t001")), from: 3, to: 30);
            await silo.StopAsync();
        }

        await using (var silo = await Silos.StartAsync(Silos.Restarted(options)))
        {
            var grains = silo.Services.GetRequiredService<IGrainFactory>();
            var end = await GridWorld.WaitForEndAsync(grains.GetGrain<ISweepGrain>("restart"), TimeSpan.FromMinutes(15), grains: grains);

            Assert.Equal(SweepStatus.Finished, end.Status);
            Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
            var interrupted = await grains.GetGrain<ITrialGrain>(TrialKeys.Format("restart", "t001")).GetAsync();
            Assert.Equal(2, interrupted.Attempts);
            // Given back at the step it reached, which is at or past the last step seen before the stop, and mid-epoch
            // unless the stop came just at an epoch's end.
            Assert.True(interrupted.ResumedFromStep >= stepAtStop, $"t001 resumed from step {interrupted.ResumedFromStep?.ToString() ?? "none"}; it had reached step {stepAtStop}");
            Assert.Equal((3, 36), (interrupted.Outcome!.EpochsTrained, interrupted.Outcome.GlobalStep));
            var waiting = await grains.GetGrain<ITrialGrain>(TrialKeys.Format("restart", "t002")).GetAsync();
            Assert.Equal((1, null), (waiting.Attempts, waiting.ResumedFromStep));
            var entries = await grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).TopAsync("restart", 10);
            Assert.Equal(["t001", "t002"], entries.Select(e => e.TrialId).Order());
            await silo.StopAsync();
        }
    }

    /// <summary>Waits until the trial's reported step is within [from, to] and returns it.</summary>
    private static async Task<int> WaitForStepAsync(ITrialGrain trial, int from, int to)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (DateTime.UtcNow < deadline)
        {
            if ((await trial.GetAsync()).Progress is { Step: var step } && step >= from)
            {
                Assert.True(step <= to, $"the trial ran past step {to} (at {step}) before the test saw it; the test cannot stop it mid-way");
                return step;
            }
            await Task.Delay(50);
        }
        Assert.Fail("the trial did not reach step 3 within 3 minutes");
        return 0;
    }
}
