using ExperimentGrid.Contracts;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// Faults of every kind thrown at one sweep: the short version of benchmarks/ExperimentGrid.Chaos, on fake silos, and
/// the recovery from a corrupt checkpoint on its own.
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const string ClusterId = "chaos";
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task A_trial_whose_resume_checkpoint_is_corrupt_drops_it_and_starts_again_from_step_0_instead_of_failing_every_retry()
    {
        using var directory = new TemporaryDirectory();
        // Two epochs of four steps, a checkpoint at each epoch's end. The first attempt truncates the checkpoint of
        // epoch 1 at step 6 and fails; its one retry resumes from that checkpoint.
        var checkpoint = Path.Combine(directory.Path, "checkpoints", "corrupt", "t001", "a1-step-4", FakeTrainable.CheckpointFile);
        var fakes = new FakeTrainableFactory
        {
            Noise = 0,
            BeforeStep = step =>
            {
                if (step is not { Attempt: 1, Step: 6 }) return;
                File.WriteAllText(checkpoint, File.ReadAllText(checkpoint)[..10]);
                throw new InjectedFaultException("the node went away");
            },
        };
        await using var silo = await Silos.StartWithFakesAsync(directory.Path, fakes, slots: "cpu:1");
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        var sweep = grains.GetGrain<ISweepGrain>("corrupt");

        await sweep.SubmitAsync(new SweepSubmission("corrupt.yaml", GridWorld.TinySpec("corrupt", "  learning_rate: [3.0e-5]", retries: 1, epochs: 2)));
        var end = await GridWorld.WaitForEndAsync(sweep, TimeSpan.FromSeconds(60), grains: grains);

        var trial = await grains.GetGrain<ITrialGrain>(TrialKeys.Format("corrupt", "t001")).GetAsync();
        // Attempt 1 failed (its one retry spent), attempt 2 could not load the checkpoint and dropped it, attempt 3
        // trained from step 0 to the end. Failing attempt 2 would have failed the trial: no retry was left.
        Assert.Equal((TrialStatus.Completed, 3, 1), (trial.Status, trial.Attempts, trial.CheckpointsDropped));
        Assert.Null(trial.ResumedFromStep);
        Assert.Equal((2, 8), (trial.Outcome!.EpochsTrained, trial.Outcome.GlobalStep));
        Assert.Equal(3, fakes.Created.Count);
        var entries = await grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).TopAsync("corrupt", 10);
        Assert.Equal(["t001"], entries.Select(e => e.TrialId));
        Assert.Equal(SweepStatus.Finished, end.Status);
        await silo.StopAsync();
    }

    [PostgresFact]
    public async Task A_sweep_on_three_silos_survives_kills_a_zombie_a_database_restart_a_full_disk_and_a_corrupt_checkpoint_losing_and_duplicating_no_trial()
    {
        // Its own server, which the test restarts: the one EXPERIMENTGRID_TEST_POSTGRES names serves other tests.
        await using var postgres = await PrivatePostgres.StartAsync();
        using var directory = new TemporaryDirectory();
        var dataRoot = Directory.CreateDirectory(Path.Combine(directory.Path, "data", "fake")).Parent!.FullName;
        var checkpoints = Directory.CreateDirectory(Path.Combine(directory.Path, "checkpoints")).FullName;
        var logs = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "chaos-logs", $"{DateTime.UtcNow:yyyyMMdd-HHmmss}")).FullName;
        var launch = new SiloLaunch(SiloExecutable.FakeSilo,
            [.. SiloLaunch.PostgresArguments(postgres.ConnectionString, ClusterId), "--slots", "cpu:2", "--checkpoints", checkpoints, "--data-root", dataRoot,
             "--lease", $"{Lease.TotalSeconds}"],
            logs)
        {
            // Ten steps of 300 ms an epoch, two epochs: a trial trains for 6 s, with a checkpoint every third step, so
            // that the sweep still runs when the zombie, the last fault, comes.
            Environment = new FakeSiloSettings(StepsPerEpoch: 10, StepMilliseconds: 300, Noise: 0).ToEnvironment(),
        };
        var plan = new ChaosPlan(Seed: 11, Lease, checkpoints, async cancellationToken => await postgres.RestartAsync(cancellationToken))
        {
            Kills = 2,
            ZombiesLast = true,
            FullDiskFor = TimeSpan.FromSeconds(5),
            Gap = (TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)),
        };

        ChaosResult result;
        await using (var cluster = await Cluster.StartAsync(3, launch, postgres.ConnectionString, ClusterId, CancellationToken.None))
        {
            try
            {
                result = await ChaosRun.RunAsync(cluster, "chaos", new SweepSubmission("chaos.yaml", Spec), plan, TimeSpan.FromMinutes(6), output.WriteLine, CancellationToken.None);
            }
            catch (Exception e)
            {
                throw cluster.Failure(e);
            }
        }
        foreach (var fault in result.Faults) output.WriteLine($"{fault.At.TotalSeconds,5:F0} s {fault.Kind}: {fault.Detail}");
        foreach (var stale in result.StaleModels) output.WriteLine($"stale model: {stale}");
        output.WriteLine(result.Summary);

        Assert.Equal(48, result.Trials);
        Assert.Empty(result.Lost);
        Assert.Empty(result.Duplicated);
        Assert.Empty(result.StaleModels);
        Assert.Equal(48, result.Completed);
        Assert.Equal((2, 1, 1, 1, 1), (result.Injected(FaultKind.SiloKill), result.Injected(FaultKind.Zombie), result.Injected(FaultKind.PostgresRestart),
            result.Injected(FaultKind.FullDisk), result.Injected(FaultKind.CorruptCheckpoint)));
        Assert.Empty(result.UnexpectedExits);
        // Only a model that could not be saved on the full disk spends a retry: not a kill, the zombie, nor the database's restart.
        Assert.All(result.Failures, error => Assert.StartsWith("No space left on device", error));
        // The zombie's trials moved on while it was stopped, or, where it hosted a grain every trial needs, once the
        // cluster had declared it dead (it exits on waking); and its stale attempts' calls were refused once it woke.
        var zombie = Assert.Single(result.Zombies);
        Assert.True(zombie.MovedOn.Count > 0 || zombie.ExitedOnWaking, "none of the zombie's trials moved on, and the cluster never declared it dead");
        Assert.True(zombie.ExitedOnWaking || zombie.Refused.Values.Sum() > 0, "the zombie went on in the cluster and no call of its stale attempts was refused");
        Assert.True(zombie.SuccessorCheckpointsIntact);
        Assert.True(result.CheckpointsRefused > 0, "no checkpoint write failed while the disk was full");
        Assert.True(result.CheckpointsDropped >= 1);
        Assert.NotEmpty(result.Resumed);
    }

    // 4 × 2 × 6 = 48 trials. Three retries: a full disk fails the attempts that save their model meanwhile.
    private const string Spec = """
        name: chaos
        trial:
          task: text-classification
          model: minilm
          dataset: fake
          epochs: 2
          eval_limit: 16
          test_split: none
        grid:
          learning_rate: [1.0e-5, 3.0e-5, 1.0e-4, 3.0e-4]
          batch_size: [8, 16]
          weight_decay: [0.0, 0.01, 0.02, 0.05, 0.1, 0.2]
        objective:
          metric: f1
          mode: max
        retries: 3
        checkpoint_every: 3
        """;
}
