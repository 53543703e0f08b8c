using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Grains;
using ExperimentGrid.Runtime;
using ExperimentGrid.Runtime.Slots;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace ExperimentGrid.Grid.Tests;

/// <summary>Two in-process silos with one CPU slot each, on in-memory storage, sharing one checkpoint directory.</summary>
public sealed class GridClusterFixture : IAsyncLifetime
{
    private readonly TemporaryDirectory _directory = new();
    private static string s_directory = "";

    public TestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // TestCluster builds each silo from a configurator type, not an instance; the directory reaches it statically.
        s_directory = _directory.Path;
        Cluster = new TestClusterBuilder(2).AddSiloBuilderConfigurator<Configurator>().Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        _directory.Dispose();
    }

    private sealed class Configurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.AddMemoryGrainStorage(StorageNames.Grid);
            silo.UseInMemoryReminderService();
            silo.AddGridSlots(SiloSlots.Parse("cpu:1"), o =>
            {
                o.Roots = GridWorld.Roots(s_directory);
                o.LeaseCheckInterval = TimeSpan.FromSeconds(1);
                o.IdlePollInterval = TimeSpan.FromMilliseconds(200);
            });
        }
    }
}

[Collection(SiloCollection.Name)]
public sealed class SweepGrainTests(GridClusterFixture fixture) : IClassFixture<GridClusterFixture>
{
    private static readonly TimeSpan SweepLimit = TimeSpan.FromMinutes(5);
    private IGrainFactory Grains => fixture.Cluster.GrainFactory;

    [Fact]
    public async Task Running_trials_never_outnumber_the_slots_and_every_trial_completes()
    {
        var sweep = Grains.GetGrain<ISweepGrain>($"slots-{Guid.NewGuid():N}");
        await sweep.SubmitAsync(new SweepSubmission("slots.yaml", GridWorld.TinySpec("slots", "  learning_rate: [1.0e-5, 2.0e-5, 3.0e-5, 4.0e-5]")));
        var mostRunning = 0;
        var silosUsed = new HashSet<string>();
        var end = await GridWorld.WaitForEndAsync(sweep, SweepLimit, async snapshot =>
        {
            var running = snapshot.Trials.Where(t => t.Status == TrialStatus.Running).ToList();
            mostRunning = Math.Max(mostRunning, running.Count);
            Assert.True(running.Count <= 2, $"{running.Count} trials running on 2 slots: {string.Join(", ", running.Select(t => t.TrialId))}");
            foreach (var trial in running)
                if ((await Grains.GetGrain<ITrialGrain>(TrialKeys.Format(snapshot.SweepId, trial.TrialId)).GetAsync()).Silo is { } silo) silosUsed.Add(silo);
        });

        Assert.Equal(SweepStatus.Finished, end.Status);
        Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        Assert.True(mostRunning >= 1, "no trial was ever seen running");
        Assert.True(silosUsed.Count <= 2, $"trials ran on more slots than exist: {string.Join(", ", silosUsed)}");
    }

    [Fact]
    public async Task With_one_trial_at_a_time_trials_run_in_plan_order()
    {
        var sweep = Grains.GetGrain<ISweepGrain>($"order-{Guid.NewGuid():N}");
        await sweep.SubmitAsync(new SweepSubmission("order.yaml", GridWorld.TinySpec("order", "  learning_rate: [1.0e-5, 2.0e-5, 3.0e-5]", maxConcurrent: 1)));
        var end = await GridWorld.WaitForEndAsync(sweep, SweepLimit, snapshot =>
        {
            // Completed trials always form a prefix of the plan, and at most one trial is out of the queue's hands.
            var statuses = snapshot.Trials.Select(t => t.Status).ToList();
            var firstUnfinished = statuses.FindIndex(s => s != TrialStatus.Completed);
            if (firstUnfinished >= 0)
                Assert.True(statuses.Skip(firstUnfinished + 1).All(s => s == TrialStatus.Pending),
                    $"trials ran out of order or together: {string.Join(", ", snapshot.Trials.Select(t => $"{t.TrialId}={t.Status}"))}");
            return Task.CompletedTask;
        });
        Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
    }

    [Fact]
    public async Task A_trial_that_throws_is_retried_then_failed_with_its_error_and_the_silos_keep_running()
    {
        var sweep = Grains.GetGrain<ISweepGrain>($"fail-{Guid.NewGuid():N}");
        await sweep.SubmitAsync(new SweepSubmission("fail.yaml", GridWorld.TinySpec("fail", "  dataset: [broken, rotten_tomatoes]", retries: 1, dataset: null)));
        var end = await GridWorld.WaitForEndAsync(sweep, SweepLimit);

        var broken = await Grains.GetGrain<ITrialGrain>(TrialKeys.Format(end.SweepId, end.Trials[0].TrialId)).GetAsync();
        Assert.Equal(TrialStatus.Failed, broken.Status);
        Assert.Equal(2, broken.Attempts);
        Assert.Contains("train.jsonl", broken.Error);
        var healthy = await Grains.GetGrain<ITrialGrain>(TrialKeys.Format(end.SweepId, end.Trials[1].TrialId)).GetAsync();
        Assert.Equal(TrialStatus.Completed, healthy.Status);
        Assert.Equal(2, fixture.Cluster.GetActiveSilos().Count());
    }

    [Fact]
    public async Task A_bad_spec_is_refused_with_every_problem_named()
    {
        var sweep = Grains.GetGrain<ISweepGrain>($"bad-{Guid.NewGuid():N}");
        var error = await Assert.ThrowsAsync<SweepRejectedException>(() => sweep.SubmitAsync(new SweepSubmission("bad.yaml", """
            name: bad
            trial: { task: text-classification, dataset: no-such-dataset, epochs: 0 }
            grid: { learning_rate: [] }
            """)));
        Assert.Contains("epochs", error.Message);
        Assert.Contains("no-such-dataset", error.Message);
        Assert.Contains("learning_rate", error.Message);
        Assert.Equal(SweepStatus.Unknown, (await sweep.GetAsync()).Status);
    }

    [Fact]
    public async Task The_leaderboard_ranks_by_each_objective_and_records_a_trial_once()
    {
        var board = Grains.GetGrain<ILeaderboardGrain>($"board-{Guid.NewGuid():N}");
        var max = new SweepObjective(EvaluationMetric.F1, ObjectiveMode.Max);
        var min = new SweepObjective(EvaluationMetric.Perplexity, ObjectiveMode.Min);
        LeaderboardEntry Entry(string sweep, string trial, SweepObjective objective, double value) =>
            new(sweep, trial, objective, value, [new Hyperparameter("learning_rate", trial)], [], DateTimeOffset.UtcNow);

        Assert.True(await board.RecordAsync(Entry("a", "t1", max, 0.6)));
        Assert.True(await board.RecordAsync(Entry("a", "t2", max, 0.8)));
        Assert.True(await board.RecordAsync(Entry("a", "t3", max, double.NaN)));
        Assert.False(await board.RecordAsync(Entry("a", "t1", max, 0.99)));
        Assert.True(await board.RecordAsync(Entry("b", "t1", min, 12.0)));
        Assert.True(await board.RecordAsync(Entry("b", "t2", min, 3.0)));

        Assert.Equal(["t2", "t1", "t3"], (await board.TopAsync("a", 10)).Select(e => e.TrialId));
        Assert.Equal(0.6, (await board.TopAsync("a", 10)).Single(e => e.TrialId == "t1").Value);
        Assert.Equal(["t2"], (await board.TopAsync("b", 1)).Select(e => e.TrialId));
        Assert.Equal(5, (await board.TopAsync(null, 10)).Count);
    }

    [Fact]
    public async Task A_finished_sweep_puts_each_completed_trial_on_the_leaderboard_once()
    {
        var end = await GridWorld.RunTwoTrialSweepAsync(Grains, $"board-{Guid.NewGuid():N}");
        var entries = await Grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).TopAsync(end.SweepId, 100);
        Assert.Equal(end.Trials.Select(t => t.TrialId).Order(), entries.Select(e => e.TrialId).Order());
        Assert.All(entries, e => Assert.Equal("learning_rate", Assert.Single(e.Hyperparameters).Field));
        Assert.True(entries[0].Score >= entries[1].Score);
        // Each trial leaves its trained model, which serves predictions, and no checkpoint: nothing resumes a finished trial.
        foreach (var entry in entries)
        {
            Assert.NotNull(entry.Model);
            // The slot deletes the checkpoints once the trial grain has accepted the result, which may be just after
            // the sweep heard of it.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (Directory.GetDirectories(Path.GetDirectoryName(entry.Model)!).Length > 1 && DateTime.UtcNow < deadline) await Task.Delay(100);
            Assert.Equal([entry.Model], Directory.GetDirectories(Path.GetDirectoryName(entry.Model)!));
            using var classifier = ExperimentGrid.Core.Inference.TextClassifier.Load(entry.Model, device: "cpu");
            Assert.Equal(2, Assert.Single(classifier.Predict(["a gripping, beautifully acted film"])).Scores.Count);
        }
    }
}
