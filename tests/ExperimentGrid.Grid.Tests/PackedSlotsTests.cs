using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using ExperimentGrid.Grains;
using ExperimentGrid.Grains.Slots;
using ExperimentGrid.Grains.Sweeps;
using ExperimentGrid.Grains.Trials;
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
        // Each trial's only epoch waits until the other trial is in its epoch too: they finish only if both slots train at once.
        using var bothTraining = new Barrier(2);
        var seen = new List<(string? Thread, string Device)>();
        var options = Silos.Training(directory.Path) with { Slots = SiloSlots.Parse("gpu:0x2") };
        await using var silo = await Silos.StartAsync(options, services => services.AddSingleton(new TrainableFactory((spec, _, _) =>
            new MeetingTrainable(spec, bothTraining, () => { lock (seen) seen.Add((Thread.CurrentThread.Name, spec.Device)); }))));
        var grains = silo.Services.GetRequiredService<IGrainFactory>();

        var end = await GridWorld.RunTwoTrialSweepAsync(grains, "packed");

        Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        Assert.Equal([("slot gpu:0.0", "cuda:0"), ("slot gpu:0.1", "cuda:0")], seen.Order());
        await silo.StopAsync();
    }

    /// <summary>A trainable that trains nothing: its one epoch meets the other slot's at <paramref name="meeting"/>.</summary>
    private sealed class MeetingTrainable(TrialSpec spec, Barrier meeting, Action training) : ISupervisedTrainable
    {
        private static readonly ClassificationMetrics Metrics = ClassificationMetrics.Compute([0, 1], [0, 1], 2, 0.1);

        public int Epochs => 1;
        public int CompletedEpochs { get; private set; }
        public int GlobalStep { get; private set; }
        public IReadOnlyList<LossPoint> LossCurve => [];
        public long TrainableParameters => 0;
        public long TotalParameters => 0;
        public string DeviceName => spec.Device;
        public int MicroBatchSize => spec.BatchSize;
        public int EvalBatchSize => spec.EvalBatchSize;

        public void Setup()
        {
        }

        public EpochResult Step(CancellationToken cancellationToken = default)
        {
            training();
            if (!meeting.SignalAndWait(TimeSpan.FromMinutes(1), cancellationToken))
                throw new TimeoutException("the other slot on the GPU took no trial while this one trained");
            CompletedEpochs = 1;
            GlobalStep = 1;
            return new EpochResult(1, 1, 0.1, Metrics, 1, 1, 1);
        }

        public EvaluationMetrics EvaluateSplit(string split, int? limit = null) => Metrics;

        public void SaveCheckpoint(string directory) => Directory.CreateDirectory(directory);

        public void LoadCheckpoint(string directory)
        {
        }

        public void SaveModel(string directory) => Directory.CreateDirectory(directory);

        public void Dispose()
        {
        }
    }
}
