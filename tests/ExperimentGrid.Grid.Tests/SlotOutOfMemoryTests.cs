using System.Runtime.InteropServices;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Training;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>A trial that runs out of memory on a slot, with libtorch's CUDA error injected before its forward passes.</summary>
[Collection(SiloCollection.Name)]
public sealed class SlotOutOfMemoryTests
{
    [Fact]
    public async Task A_trial_out_of_memory_once_completes_and_one_always_out_of_memory_fails_saying_so_while_the_slot_serves_on()
    {
        using var directory = new TemporaryDirectory();
        // Plan order on the one slot: t001 (3.3e-5) always runs out of memory, t002 (4.4e-5) once, at its step 2; t003
        // never. The hook is process-wide: learning rates no other test uses keep it to this sweep's trials.
        var passes = new List<(double LearningRate, int Size)>();
        OutOfMemory.BeforeForward = pass =>
        {
            if (!pass.Training || pass.Spec.LearningRate is not (3.3e-5 or 4.4e-5 or 6.6e-5)) return;
            lock (passes) passes.Add((pass.Spec.LearningRate, pass.Size));
            if (pass.Spec.LearningRate == 3.3e-5 || (pass.Spec.LearningRate == 4.4e-5 && pass.Step == 2 && pass.Size == 8))
                throw new ExternalException("CUDA out of memory. Tried to allocate 1.50 GiB. GPU 0 has a total capacity of 139.80 GiB of which 1.12 GiB is free.");
        };
        try
        {
            await using var silo = await Silos.StartAsync(Silos.Training(directory.Path));
            var grains = silo.Services.GetRequiredService<IGrainFactory>();
            var sweep = grains.GetGrain<ISweepGrain>("oom");
            await sweep.SubmitAsync(new SweepSubmission("oom.yaml", GridWorld.TinySpec("oom", "  learning_rate: [3.3e-5, 4.4e-5, 6.6e-5]", maxConcurrent: 1)));
            var end = await GridWorld.WaitForEndAsync(sweep, TimeSpan.FromMinutes(5), grains: grains);

            Assert.Equal(["Failed", "Completed", "Completed"], end.Trials.OrderBy(t => t.TrialId).Select(t => t.Status.ToString()));
            var failed = await grains.GetGrain<ITrialGrain>(TrialKeys.Format("oom", "t001")).GetAsync();
            Assert.Equal("out of memory even at micro-batch 1 on cpu; lower max_length or batch_size.", failed.Error);
            // 32 examples in batches of 8: the trial that ran out of memory once still took 4 optimizer steps.
            var recovered = await grains.GetGrain<ITrialGrain>(TrialKeys.Format("oom", "t002")).GetAsync();
            Assert.Equal(4, recovered.Outcome!.GlobalStep);
            lock (passes)
            {
                Assert.Equal([8, 4, 2, 1], passes.Where(p => p.LearningRate == 3.3e-5).Select(p => p.Size));
                // Step 2 failed at 8 and ran as two micro-batches of 4, as did steps 3 and 4.
                Assert.Equal([8, 8, 4, 4, 4, 4, 4, 4], passes.Where(p => p.LearningRate == 4.4e-5).Select(p => p.Size));
                Assert.True(passes.FindLastIndex(p => p.LearningRate == 3.3e-5) < passes.FindIndex(p => p.LearningRate == 4.4e-5),
                    "the failing trial did not run first, so the test does not show the slot serving after it");
            }
            // Stopped, not only disposed: the slot may still be deleting the last trial's checkpoints after the sweep
            // has heard it ended, and disposing does not wait for slots.
            await silo.StopAsync();
        }
        finally
        {
            OutOfMemory.BeforeForward = null;
        }
    }
}
