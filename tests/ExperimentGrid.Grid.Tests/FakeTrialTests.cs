using System.Diagnostics;
using System.Globalization;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Runtime.Slots;
using ExperimentGrid.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// Sweeps on a silo whose slots train fake trainables: the grid's own behaviour, in seconds. The sweeps are
/// <see cref="GridWorld.TinySpec"/>'s (batch_size 8, weight_decay 0.01, nothing frozen), so FakeObjective's quality is
/// 0.9 − 0.1·log10(learning_rate / 3e-5)² − 0.02·log2(8 / 16)² = 0.88 − 0.1·log10(learning_rate / 3e-5)².
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class FakeTrialTests
{
    private static readonly TimeSpan SweepLimit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_sweep_of_fake_trials_completes_in_seconds_and_ranks_them_by_the_known_objective()
    {
        using var directory = new TemporaryDirectory();
        var fakes = new FakeTrainableFactory { Noise = 0 };
        await using var silo = await Silos.StartWithFakesAsync(directory.Path, fakes);
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        var sweep = grains.GetGrain<ISweepGrain>("fakes");

        var clock = Stopwatch.StartNew();
        await sweep.SubmitAsync(new SweepSubmission("fakes.yaml", GridWorld.TinySpec("fakes", "  learning_rate: [1.0e-5, 3.0e-5, 1.0e-4, 3.0e-4]", epochs: 2)));
        var end = await GridWorld.WaitForEndAsync(sweep, SweepLimit, grains: grains);
        clock.Stop();

        Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        // After 2 epochs the F1 is 0.75 × quality: log10(1e-5 / 3e-5)² = 0.227645, log10(1e-4 / 3e-5)² = 0.273402.
        (double LearningRate, double F1)[] expected = [(3e-5, 0.66), (1e-5, 0.642926648), (1e-4, 0.639494836), (3e-4, 0.585)];
        var entries = await grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).TopAsync("fakes", 10);
        Assert.Equal(expected.Select(e => e.LearningRate), entries.Select(e => double.Parse(e.Hyperparameters.Single().Value, CultureInfo.InvariantCulture)));
        foreach (var (entry, (_, f1)) in entries.Zip(expected)) Assert.Equal(f1, entry.Value, 1e-9);
        foreach (var trial in end.Trials)
        {
            var outcome = (await grains.GetGrain<ITrialGrain>(TrialKeys.Format("fakes", trial.TrialId)).GetAsync()).Outcome!;
            Assert.Equal((2, 8), (outcome.EpochsTrained, outcome.GlobalStep));
            // Each trial leaves its model and no checkpoint. The slot deletes the checkpoints once the trial grain has
            // accepted the result, which may be just after the sweep heard of it.
            Assert.NotNull(outcome.Model);
            var folder = Path.GetDirectoryName(outcome.Model)!;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (Directory.GetDirectories(folder).Length > 1 && DateTime.UtcNow < deadline) await Task.Delay(50);
            Assert.Equal([outcome.Model], Directory.GetDirectories(folder));
        }
        Assert.Equal(4, fakes.Created.Count);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"4 fake trials of 8 steps took {clock.Elapsed} on 2 slots");
        await silo.StopAsync();
    }

    [Fact]
    public async Task An_injected_failure_is_retried_then_fails_the_trial_with_its_message_while_the_others_complete()
    {
        using var directory = new TemporaryDirectory();
        var fakes = new FakeTrainableFactory
        {
            Faults =
            [
                FakeFault.Throws(spec => spec.LearningRate == 1e-4, step: 3, "the data loader broke"),
                FakeFault.Throws(spec => spec.LearningRate == 3e-5, step: 6, "a flaky node") with { Attempts = 1 },
                FakeFault.NaNLoss(spec => spec.LearningRate == 3e-4, step: 2),
            ],
        };
        await using var silo = await Silos.StartWithFakesAsync(directory.Path, fakes);
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        var sweep = grains.GetGrain<ISweepGrain>("faults");

        await sweep.SubmitAsync(new SweepSubmission("faults.yaml",
            GridWorld.TinySpec("faults", "  learning_rate: [1.0e-5, 3.0e-5, 1.0e-4, 3.0e-4]", retries: 1, epochs: 2)));
        var end = await GridWorld.WaitForEndAsync(sweep, SweepLimit, grains: grains);

        async Task<TrialSnapshot> Trial(string id) => await grains.GetGrain<ITrialGrain>(TrialKeys.Format("faults", id)).GetAsync();
        var (clean, flaky, broken, diverging) = (await Trial("t001"), await Trial("t002"), await Trial("t003"), await Trial("t004"));
        Assert.Equal((TrialStatus.Completed, 1), (clean.Status, clean.Attempts));
        // The flaky trial failed at step 6 once, and its retry resumed from the checkpoint of epoch 1.
        Assert.Equal((TrialStatus.Completed, 2, 4), (flaky.Status, flaky.Attempts, flaky.ResumedFromStep));
        Assert.Equal((TrialStatus.Failed, 2, "the data loader broke"), (broken.Status, broken.Attempts, broken.Error));
        Assert.Equal((TrialStatus.Failed, 2), (diverging.Status, diverging.Attempts));
        Assert.StartsWith("loss became NaN at step 2 (epoch 1", diverging.Error);
        Assert.Equal(2, fakes.Created.Count(f => f.Spec.LearningRate == 1e-4));
        var entries = await grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).TopAsync("faults", 10);
        Assert.Equal(["t001", "t002"], entries.Select(e => e.TrialId).Order());
        Assert.Equal(SweepStatus.Finished, end.Status);
        await silo.StopAsync();
    }
}
