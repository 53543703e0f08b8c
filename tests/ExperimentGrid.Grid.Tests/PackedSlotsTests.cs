using ExperimentGrid.Core.Training;
using ExperimentGrid.Grains;
using ExperimentGrid.Grains.Trials;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>Slots sharing one GPU (--slots gpu:0x2) each take a trial, at the same time, on that GPU.</summary>
[Collection(SiloCollection.Name)]
public sealed class PackedSlotsTests
{
    [Fact]
    public async Task Two_slots_on_one_GPU_train_two_trials_at_once_on_it()
    {
        using var directory = new TemporaryDirectory();
        // Each trial's only step waits until the other trial is at its step too: they finish only if both slots train at once.
        using var bothTraining = new Barrier(2);
        var seen = new List<(string? Thread, string Device)>();
        var fakes = new FakeTrainableFactory
        {
            StepsPerEpoch = 1,
            BeforeStep = step =>
            {
                lock (seen) seen.Add((Thread.CurrentThread.Name, step.Spec.Device));
                if (!bothTraining.SignalAndWait(TimeSpan.FromMinutes(1), step.Cancellation))
                    throw new TimeoutException("the other slot on the GPU took no trial while this one trained");
            },
        };
        var options = Silos.Training(directory.Path) with { Slots = SiloSlots.Parse("gpu:0x2") };
        await using var silo = await Silos.StartAsync(options, services => services.AddSingleton(new TrainableFactory(fakes.Create)));
        var grains = silo.Services.GetRequiredService<IGrainFactory>();

        var end = await GridWorld.RunTwoTrialSweepAsync(grains, "packed");

        Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        Assert.Equal([("slot gpu:0.0", "cuda:0"), ("slot gpu:0.1", "cuda:0")], seen.Order());
        await silo.StopAsync();
    }
}
