using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// A sweep's id names its directory under the checkpoint root, and any client may choose it: one that would leave the
/// root, or nest in it, is refused before the sweep keeps anything; a trial that a client defines directly, past
/// the sweep grain, fails on its slot instead of writing outside the root.
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class SweepIdTests
{
    [Fact]
    public async Task An_id_that_is_not_a_plain_name_is_refused_before_anything_is_written()
    {
        using var directory = new TemporaryDirectory();
        await using var silo = await Silos.StartWithFakesAsync(directory.Path, new FakeTrainableFactory());
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        string[] ids = ["../../etc", "..", ".", "a/b", "a\\b", "/tmp/escape", "ok/../../escape", "name\n", ".hidden", new string('a', 129)];

        foreach (var id in ids)
        {
            var sweep = grains.GetGrain<ISweepGrain>(id);
            var error = await Assert.ThrowsAsync<SweepRejectedException>(() => sweep.SubmitAsync(new SweepSubmission("escape.yaml", GridWorld.TinySpec("escape", "  learning_rate: [1.0e-5]"))));
            Assert.Equal($"sweep id '{id}' must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit, so that it is safe in paths and metric labels", error.Message);
            Assert.Equal(SweepStatus.Unknown, (await sweep.GetAsync()).Status);
        }

        Assert.Empty(await grains.GetGrain<ISweepIndexGrain>(0).ListAsync());
        var checkpoints = Path.Combine(directory.Path, "checkpoints");
        Assert.True(!Directory.Exists(checkpoints) || !Directory.EnumerateFileSystemEntries(checkpoints).Any(), "a refused sweep wrote under the checkpoint root");
        Assert.False(Directory.Exists(Path.Combine(directory.Path, "..", "escape")));
    }

    [Fact]
    public async Task The_id_the_cli_makes_from_the_longest_name_is_accepted()
    {
        using var directory = new TemporaryDirectory();
        await using var silo = await Silos.StartWithFakesAsync(directory.Path, new FakeTrainableFactory());
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        var name = new string('n', 64);
        var sweep = grains.GetGrain<ISweepGrain>($"{name}-20261130-052500");

        var snapshot = await sweep.SubmitAsync(new SweepSubmission("long.yaml", GridWorld.TinySpec(name, "  learning_rate: [1.0e-5]")));
        await sweep.CancelAsync();

        Assert.Equal(name, snapshot.Name);
    }

    [Fact]
    public async Task A_trial_defined_past_the_sweep_grain_with_an_escaping_id_fails_without_writing_outside_the_checkpoint_root()
    {
        using var directory = new TemporaryDirectory();
        await using var silo = await Silos.StartWithFakesAsync(directory.Path, new FakeTrainableFactory());
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        var checkpoints = Path.Combine(directory.Path, "checkpoints");
        var plan = SweepSpec.Parse(GridWorld.TinySpec("escape", "  learning_rate: [1.0e-5]"), "escape.yaml")
            .Expand(new SweepRoots(GridWorld.DataRoot(directory.Path), [GridWorld.ModelCache], checkpoints));
        var trial = plan.Trials[0];
        var definition = new TrialDefinition("../escape", trial.Id, trial.Spec, trial.Hyperparameters, plan.Objective, MaxAttempts: 1, trial.Spec.Epochs, CheckpointEvery: 0);
        var grain = grains.GetGrain<ITrialGrain>(definition.Key);

        await grain.InitializeAsync(definition);
        var limit = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        TrialSnapshot snapshot;
        while (!(snapshot = await grain.GetAsync()).Status.IsFinal() && DateTime.UtcNow < limit) await Task.Delay(100);

        Assert.Equal(TrialStatus.Failed, snapshot.Status);
        Assert.Equal($"trial ../escape/{trial.Id}: its checkpoint directory is {directory.Path}/escape/{trial.Id}, outside the checkpoint root {checkpoints}", snapshot.Error);
        Assert.False(Directory.Exists(Path.Combine(directory.Path, "escape")), "the trial wrote outside the checkpoint root");
    }
}
