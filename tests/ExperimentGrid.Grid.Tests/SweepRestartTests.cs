using System.Diagnostics;
using System.Globalization;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Grains.Sweeps;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// A fake silo process on the embedded store, killed with SIGKILL while its sweep has created some trials and not yet
/// suggested the rest, and started again on the same state: the sweep's searcher replays its log and carries on.
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class SweepRestartTests
{
    private const string ClusterId = "restart-fake";
    private const string SweepId = "lazy";

    /// <summary>The grid in its order, the first field changing slowest: t001 is the first row, t012 the last.</summary>
    private static readonly (double LearningRate, int BatchSize, double WeightDecay)[] Grid =
    [
        (1e-5, 8, 0.0), (1e-5, 8, 0.01), (1e-5, 16, 0.0), (1e-5, 16, 0.01),
        (3e-5, 8, 0.0), (3e-5, 8, 0.01), (3e-5, 16, 0.0), (3e-5, 16, 0.01),
        (1e-4, 8, 0.0), (1e-4, 8, 0.01), (1e-4, 16, 0.0), (1e-4, 16, 0.01),
    ];

    // One slot and max_concurrent_trials 2: one trial runs and one waits, so the sweep suggests each next trial only
    // as one ends. Four steps of 50 ms an epoch, two epochs: a trial takes about half a second.
    private const string Spec = """
        name: lazy
        trial:
          task: text-classification
          model: minilm
          dataset: fake
          epochs: 2
          eval_limit: 16
          test_split: none
        grid:
          learning_rate: [1.0e-5, 3.0e-5, 1.0e-4]
          batch_size: [8, 16]
          weight_decay: [0.0, 0.01]
        objective:
          metric: f1
          mode: max
        max_concurrent_trials: 2
        retries: 0
        """;

    [Fact]
    public async Task A_silo_killed_between_two_suggestions_restarts_and_every_configuration_runs_to_completion_exactly_once()
    {
        using var directory = new TemporaryDirectory();
        var dataRoot = Directory.CreateDirectory(Path.Combine(directory.Path, "data", "fake")).Parent!.FullName;
        var logs = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "restart-logs", $"{DateTime.UtcNow:yyyyMMdd-HHmmss}")).FullName;
        var launch = new SiloLaunch(SiloExecutable.FakeSilo,
        [
            "--state", Path.Combine(directory.Path, "state"), "--checkpoints", Path.Combine(directory.Path, "checkpoints"), "--data-root", dataRoot,
            "--slots", "cpu:1", "--lease", "2", "--cluster-id", ClusterId, "--service-id", ClusterId,
        ], logs)
        {
            Environment = new FakeSiloSettings(StepsPerEpoch: 4, StepMilliseconds: 50, Noise: 0).ToEnvironment(),
        };

        SweepSnapshot beforeKill;
        var first = SiloProcess.Start(launch);
        SiloProcess? second = null;
        try
        {
            await first.WaitHealthyAsync(TimeSpan.FromMinutes(1));
            using (var client = await SiloClients.ConnectGatewayAsync(first.Ports.Gateway, ClusterId))
            {
                var sweep = client.Services.GetRequiredService<IClusterClient>().GetGrain<ISweepGrain>(SweepId);
                var submitted = await sweep.SubmitAsync(new SweepSubmission("lazy.yaml", Spec));
                Assert.Equal(12, submitted.SpaceSize);
                Assert.InRange(submitted.Trials.Count, 1, 2);
                beforeKill = await WaitUntilPartlyCreatedAsync(sweep);
                first.Kill();
            }
            Assert.InRange(beforeKill.Trials.Count, 4, 11);

            second = SiloProcess.Start(launch);
            await second.WaitHealthyAsync(TimeSpan.FromMinutes(1));
            using var restarted = await SiloClients.ConnectGatewayAsync(second.Ports.Gateway, ClusterId);
            var grains = restarted.Services.GetRequiredService<IClusterClient>();
            // A hang guard, not a timing: the sweep ends about 6 s after the restart (the killed trial waits out its
            // lease). Were the kill to fall between a trial's end and its sweep's hearing of it, the trial would
            // tell the sweep at its reminder's next tick, up to a minute later.
            var end = await GridWorld.WaitForEndAsync(grains.GetGrain<ISweepGrain>(SweepId), TimeSpan.FromSeconds(90), grains: grains);

            Assert.Equal((SweepStatus.Finished, SweepGrain.Exhausted), (end.Status, end.EndReason));
            Assert.Equal(Enumerable.Range(1, 12).Select(i => $"t{i:D3}"), end.Trials.Select(t => t.TrialId));
            Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
            // The trials created before the kill kept their configurations, and the searcher's replay gave the later
            // ones theirs: trial i holds row i of the grid, so none is missing or repeated.
            Assert.Equal(Grid, end.Trials.Select(t => Configuration(t.Hyperparameters)));
            foreach (var (kept, now) in beforeKill.Trials.Zip(end.Trials))
                Assert.Equal((kept.TrialId, Configuration(kept.Hyperparameters)), (now.TrialId, Configuration(now.Hyperparameters)));

            // Each trial is ranked once, with the objective its configuration gives after 2 epochs (FakeObjective,
            // noise 0): 0.75 × (0.9 − 0.1·log10(learning_rate / 3e-5)² − 0.02·log2(batch_size / 16)² − (weight_decay − 0.01)²).
            var entries = await grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).TopAsync(SweepId, 100);
            Assert.Equal(end.Trials.Select(t => t.TrialId), entries.Select(e => e.TrialId).Order());
            foreach (var entry in entries)
            {
                var (learningRate, batchSize, weightDecay) = Configuration(entry.Hyperparameters);
                var quality = 0.9 - 0.1 * Math.Pow(Math.Log10(learningRate / 3e-5), 2) - 0.02 * Math.Pow(Math.Log2(batchSize / 16.0), 2) - Math.Pow(weightDecay - 0.01, 2);
                Assert.Equal(0.75 * quality, entry.Value, 1e-9);
            }

            // Only the trial running at the kill (one slot) may have started twice: it had no result, so it ran again.
            var attempts = 0;
            foreach (var trial in end.Trials)
                attempts += (await grains.GetGrain<ITrialGrain>(TrialKeys.Format(SweepId, trial.TrialId)).GetAsync()).Attempts;
            Assert.InRange(attempts, 12, 13);
            Assert.False(second.HasExited, "the restarted silo exited");
        }
        catch (Exception e)
        {
            // What the silo logged is the only account of a failure in another process.
            throw new InvalidOperationException($"{e.Message}\n{first.Tail(60)}\n{second?.Tail(80)}\n(whole logs in {logs})", e);
        }
        finally
        {
            first.Dispose();
            second?.Dispose();
        }
    }

    /// <summary>Waits until at least four trials exist, so two have ended, and one is running.</summary>
    private static async Task<SweepSnapshot> WaitUntilPartlyCreatedAsync(ISweepGrain sweep)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var snapshot = await sweep.GetAsync();
            if (snapshot.Trials.Count >= 4 && snapshot.Trials.Any(t => t.Status == TrialStatus.Running)) return snapshot;
            await Task.Delay(20);
        }
        Assert.Fail("the sweep did not create four trials within 30 s");
        throw new UnreachableException();
    }

    private static (double LearningRate, int BatchSize, double WeightDecay) Configuration(IReadOnlyList<Hyperparameter> hyperparameters)
    {
        string Value(string field) => hyperparameters.Single(h => h.Field == field).Value;
        return (double.Parse(Value("learning_rate"), CultureInfo.InvariantCulture), int.Parse(Value("batch_size"), CultureInfo.InvariantCulture),
            double.Parse(Value("weight_decay"), CultureInfo.InvariantCulture));
    }
}
