using System.Collections.Concurrent;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;

namespace ExperimentGrid.TestSupport;

/// <summary>A fake about to train optimizer step <paramref name="Step"/> (from 1, over the whole trial) of epoch <paramref name="Epoch"/>.</summary>
public sealed record FakeStep(TrialSpec Spec, int Attempt, int Epoch, int Step, CancellationToken Cancellation);

/// <summary>
/// Makes <see cref="FakeTrainable"/>s, as <see cref="TrainableFactory"/> does: pass <see cref="Create"/> where a
/// trainable factory goes (a silo's services, a session). Set it up with its init properties; one factory serves a
/// whole test or silo, and slots call it from their own threads. It counts the trainables made for each spec, which
/// are the trial's attempts on a grid (evaluations count too), so that a fault can hit only the first few.
/// </summary>
public sealed class FakeTrainableFactory
{
    private readonly ConcurrentDictionary<string, int> _attempts = new();
    private readonly ConcurrentQueue<FakeTrainable> _created = new();

    public int StepsPerEpoch { get; init; } = 4;

    /// <summary>
    /// How long each optimizer step of epoch e (from 1) sleeps, and the time it reports: throughput is this nominal
    /// time, not the measured one, so that tests compute it by hand. A few milliseconds by default.
    /// </summary>
    public Func<int, TimeSpan> StepTime { get; init; } = _ => TimeSpan.FromMilliseconds(3);

    /// <summary>The amplitude of the noise on each epoch's validation and on the training loss; 0 makes runs exact.</summary>
    public double Noise { get; init; } = 0.01;

    public IReadOnlyList<FakeFault> Faults { get; init; } = [];

    /// <summary>Runs before each optimizer step, on the training thread: to meet another trial, say, or to time a stop.</summary>
    public Action<FakeStep>? BeforeStep { get; init; }

    /// <summary>Every fake made so far, oldest first.</summary>
    public IReadOnlyList<FakeTrainable> Created => [.. _created];

    public FakeTrainable Create(TrialSpec spec, ILogger logger, IProgress<TrainingProgress> progress)
    {
        var fake = new FakeTrainable(spec, this, _attempts.AddOrUpdate(Key(spec), 1, (_, made) => made + 1), progress);
        _created.Enqueue(fake);
        return fake;
    }

    /// <summary>How many fakes were made for <paramref name="spec"/>, on any device.</summary>
    public int Attempts(TrialSpec spec) => _attempts.GetValueOrDefault(Key(spec));

    // A slot sets the device it runs on; the trial is the same on any.
    private static string Key(TrialSpec spec) => TrialRunner.ToJson(spec with { Device = "auto" });
}
