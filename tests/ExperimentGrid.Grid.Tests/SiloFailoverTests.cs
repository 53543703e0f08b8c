using System.Diagnostics;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Import;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>Two silo processes on one PostgreSQL database; one is killed with SIGKILL while it trains.</summary>
[Collection(SiloCollection.Name)]
public sealed class SiloFailoverTests
{
    private const string ClusterId = "failover";

    [PostgresFact]
    public async Task A_trial_on_a_killed_silo_resumes_from_its_checkpoint_on_the_other_and_each_trial_is_ranked_once()
    {
        using var directory = new TemporaryDirectory();
        await using var database = await TestPostgres.CreateDatabaseAsync();
        // Each silo process imports nothing: the model is imported here, into the cache its EXPERIMENTGRID_HOME names.
        var home = Path.Combine(directory.Path, "home");
        var model = BundledModels.EnsureImported(BundledModels.Find("minilm")!, cacheRoot: Path.Combine(home, "models"));
        var dataRoot = GridWorld.DataRoot(directory.Path);
        var checkpoints = Path.Combine(directory.Path, "checkpoints");
        var logs = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "failover-logs", $"{DateTime.UtcNow:yyyyMMdd-HHmmss}")).FullName;

        var launch = new SiloLaunch(SiloExecutable.Silo,
            [.. SiloLaunch.PostgresArguments(database.ConnectionString, ClusterId), "--slots", "cpu:1", "--checkpoints", checkpoints, "--data-root", dataRoot, "--lease", "5"],
            logs)
        {
            Environment = new Dictionary<string, string> { ["EXPERIMENTGRID_HOME"] = home },
        };
        using var first = SiloProcess.Start(launch);
        using var second = SiloProcess.Start(launch);
        try
        {
            await first.WaitHealthyAsync(TimeSpan.FromMinutes(2));
            await second.WaitHealthyAsync(TimeSpan.FromMinutes(2));

            using var client = await SiloClients.ConnectPostgresAsync(database.ConnectionString, ClusterId);
            var grains = client.Services.GetRequiredService<IClusterClient>();
            var sweep = grains.GetGrain<ISweepGrain>("failover");
            // 96 examples in batches of 8: 12 steps an epoch, 48 in all, a checkpoint every 5 steps and at each epoch's end.
            var spec = GridWorld.TinySpec("failover", "  learning_rate: [2.0e-5, 5.0e-5]", epochs: 4, retries: 0)
                .Replace(GridWorld.MiniLmDirectory, model, StringComparison.Ordinal)
                .Replace("train_limit: 32", "train_limit: 96", StringComparison.Ordinal) + "\ncheckpoint_every: 5\n";
            await sweep.SubmitAsync(new SweepSubmission("failover.yaml", spec));

            // Wait for a trial that has a checkpoint and steps left, then kill the silo training it.
            var (victimTrial, victimSilo, checkpointStep) = await WaitForCheckpointedTrialAsync(grains, first, second);
            victimSilo.Kill();

            // A hang guard, not a timing: on a quiet 2-core machine the sweep ends about a minute after the kill.
            var end = await GridWorld.WaitForEndAsync(sweep, TimeSpan.FromMinutes(15));
            Assert.Equal(SweepStatus.Finished, end.Status);
            Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
            var entries = await grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).TopAsync("failover", 100);
            Assert.Equal(end.Trials.Select(t => t.TrialId).Order(), entries.Select(e => e.TrialId).Order());
            var resumed = await grains.GetGrain<ITrialGrain>(TrialKeys.Format("failover", victimTrial)).GetAsync();
            Assert.True(resumed.Attempts >= 2, $"trial {victimTrial} ran {resumed.Attempts} time(s); it should have started again after the kill");
            Assert.True(resumed.ResumedFromStep >= checkpointStep,
                $"trial {victimTrial} resumed from step {resumed.ResumedFromStep?.ToString() ?? "none"}, not from its checkpoint at step {checkpointStep}");
            Assert.Equal((4, 48), (resumed.Outcome!.EpochsTrained, resumed.Outcome.GlobalStep));
            Assert.False(victimSilo == first ? second.HasExited : first.HasExited, "the surviving silo exited");
        }
        catch (Exception e)
        {
            // What the silos logged is the only account of a failure in two other processes.
            throw new InvalidOperationException($"{e.Message}\n{first.Tail(80)}\n{second.Tail(80)}\n(whole logs in {logs})", e);
        }
    }

    private static async Task<(string Trial, SiloProcess Silo, int CheckpointStep)> WaitForCheckpointedTrialAsync(IGrainFactory grains, params SiloProcess[] silos)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(4);
        while (DateTime.UtcNow < deadline)
        {
            var sweep = await grains.GetGrain<ISweepGrain>("failover").GetAsync();
            foreach (var trial in sweep.Trials.Where(t => t.Status == TrialStatus.Running))
            {
                var snapshot = await grains.GetGrain<ITrialGrain>(TrialKeys.Format("failover", trial.TrialId)).GetAsync();
                var silo = silos.FirstOrDefault(s => snapshot.Silo?.Contains($":{s.SiloPort}", StringComparison.Ordinal) == true);
                if (snapshot is { Status: TrialStatus.Running, Checkpoint: not null, Progress.Step: < 36 } && silo is not null)
                    return (trial.TrialId, silo, snapshot.CheckpointStep);
            }
            await Task.Delay(100);
        }
        Assert.Fail("no running trial wrote a checkpoint within 4 minutes");
        throw new UnreachableException();
    }
}
