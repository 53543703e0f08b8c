using System.Text.Json;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.TestSupport;

/// <summary>
/// A trainable that trains nothing and behaves as a real one does where the grid can see it: <see cref="FakeObjective"/>'s
/// metrics from the hyperparameters, a fixed number of optimizer steps an epoch, each reported to the progress it was
/// given (so that mid-epoch checkpoints and heartbeats happen), cancellation between steps, checkpoints that resume
/// exactly (generator state included), a saved model, and the faults its factory injects. Make it with
/// <see cref="FakeTrainableFactory.Create"/>.
/// </summary>
public sealed class FakeTrainable : ISupervisedTrainable
{
    public const string CheckpointFile = "fake-checkpoint.json";
    public const string ModelFile = "fake-model.json";

    private readonly FakeTrainableFactory _settings;
    private readonly IProgress<TrainingProgress> _progress;
    private readonly List<LossPoint> _lossCurve = [];
    private readonly List<string> _evaluatedSplits = [];
    private ulong _random;
    private EpochSums _epoch = new(0, 0, 0);
    private bool _setUp;

    internal FakeTrainable(TrialSpec spec, FakeTrainableFactory settings, int attempt, IProgress<TrainingProgress> progress) =>
        (Spec, _settings, Attempt, _progress) = (spec, settings, attempt, progress);

    public TrialSpec Spec { get; }

    /// <summary>Which fake this is of those made for its spec, from 1.</summary>
    public int Attempt { get; }

    /// <summary>The splits evaluated besides each epoch's validation (the final test evaluation, say), in order.</summary>
    public IReadOnlyList<string> EvaluatedSplits => _evaluatedSplits;

    public int Epochs => Spec.Epochs;
    public int CompletedEpochs { get; private set; }
    public int GlobalStep { get; private set; }
    public IReadOnlyList<LossPoint> LossCurve => _lossCurve;
    public long TrainableParameters => 1_000;
    public long TotalParameters => 1_000;
    public string DeviceName => Spec.Device;
    public int MicroBatchSize => Spec.MicroBatchSize ?? Spec.BatchSize;
    public int EvalBatchSize => Spec.EvalBatchSize;

    private int StepsPerEpoch => _settings.StepsPerEpoch;
    private int EvaluationExamples => Spec.EvalLimit ?? 100;

    public void Setup()
    {
        if (FaultAt(0) is { } fault) throw new InjectedFaultException(fault.Message);
        _random = (ulong)Spec.Seed;
        _setUp = true;
    }

    public EpochResult Step(CancellationToken cancellationToken = default)
    {
        if (!_setUp) throw new InvalidOperationException("Setup first.");
        if (CompletedEpochs >= Epochs) throw new InvalidOperationException($"all {Epochs} epochs are done.");
        var epoch = CompletedEpochs + 1;
        var stepTime = _settings.StepTime(epoch);
        // A checkpoint taken mid-epoch resumes at its step, with the epoch's sums so far.
        if (GlobalStep == CompletedEpochs * StepsPerEpoch) _epoch = new EpochSums(0, 0, 0);
        while (GlobalStep < epoch * StepsPerEpoch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var step = GlobalStep + 1;
            _settings.BeforeStep?.Invoke(new FakeStep(Spec, Attempt, epoch, step, cancellationToken));
            var fault = FaultAt(step);
            if (fault is { Kind: FakeFaultKind.Exception }) throw new InjectedFaultException(fault.Message);
            // A step cut short did not happen, as a real batch interrupted half-way leaves no trace.
            if (stepTime > TimeSpan.Zero && cancellationToken.WaitHandle.WaitOne(stepTime)) cancellationToken.ThrowIfCancellationRequested();
            var loss = fault is { Kind: FakeFaultKind.NaNLoss } ? double.NaN : FakeObjective.TrainingLoss(Spec, step, StepsPerEpoch) + Noise();
            GlobalStep = step;
            if (!double.IsFinite(loss))
                throw new TrainingDivergedException($"loss became {loss} at step {step} (epoch {epoch}, learning rate {Spec.LearningRate:G3}); lower learning_rate or check the data.");
            _lossCurve.Add(new LossPoint(step, loss));
            _epoch = new EpochSums(_epoch.LossSum + loss, _epoch.Steps + 1, _epoch.Seconds + stepTime.TotalSeconds);
            _progress.Report(new TrainingProgress(epoch, Epochs, step, StepsPerEpoch * Epochs, _epoch.LossSum / _epoch.Steps, Spec.LearningRate,
                SamplesPerSecond, SamplesPerSecond * Spec.MaxLength, TimeSpan.FromSeconds(_epoch.Seconds), MicroBatchSize));
        }
        CompletedEpochs = epoch;
        var f1 = Math.Clamp(FakeObjective.F1(Spec, epoch) + Noise(), 0, 1);
        return new EpochResult(epoch, GlobalStep, _epoch.LossSum / _epoch.Steps, FakeObjective.Metrics(f1, EvaluationExamples), _epoch.Seconds,
            SamplesPerSecond, SamplesPerSecond * Spec.MaxLength);
    }

    /// <summary>The epoch's nominal rate so far: each step trains one batch in its step time.</summary>
    private double SamplesPerSecond => _epoch.Seconds > 0 ? _epoch.Steps * Spec.BatchSize / _epoch.Seconds : 0;

    public EvaluationMetrics EvaluateSplit(string split, int? limit = null)
    {
        _evaluatedSplits.Add(split);
        return FakeObjective.Metrics(FakeObjective.F1(Spec, CompletedEpochs), limit ?? EvaluationExamples);
    }

    public void SaveCheckpoint(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, CheckpointFile),
            JsonSerializer.Serialize(new Checkpoint(Spec.Seed, CompletedEpochs, GlobalStep, _random, _lossCurve, _epoch)));
    }

    public void LoadCheckpoint(string directory)
    {
        var path = Path.Combine(directory, CheckpointFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{directory}: not a checkpoint (no {CheckpointFile}).");
        var state = JsonSerializer.Deserialize<Checkpoint>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty checkpoint.");
        if (state.Seed != Spec.Seed) throw new InvalidDataException($"{path}: checkpoint was made with seed {state.Seed}, this trial uses {Spec.Seed}.");
        if (state.GlobalStep < state.CompletedEpochs * StepsPerEpoch || state.GlobalStep > (state.CompletedEpochs + 1) * StepsPerEpoch)
            throw new InvalidDataException($"{path}: step {state.GlobalStep} does not fall in epoch {state.CompletedEpochs + 1} of {StepsPerEpoch} steps.");
        (CompletedEpochs, GlobalStep, _random, _epoch) = (state.CompletedEpochs, state.GlobalStep, state.Random, state.Epoch);
        _lossCurve.Clear();
        _lossCurve.AddRange(state.LossCurve);
    }

    public void SaveModel(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, ModelFile), JsonSerializer.Serialize(new { CompletedEpochs, GlobalStep, F1 = FakeObjective.F1(Spec, CompletedEpochs) }));
    }

    public void Dispose()
    {
        // Nothing is held: no model, no data, no device memory.
    }

    private FakeFault? FaultAt(int step) => _settings.Faults.FirstOrDefault(f => f.Fires(Spec, Attempt, step));

    /// <summary>Noise·u, u uniform in [−1, 1) from SplitMix64, whose whole state is one number a checkpoint carries.</summary>
    private double Noise()
    {
        var z = _random += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        z ^= z >> 31;
        return _settings.Noise * (2.0 * (z >> 11) / (1UL << 53) - 1);
    }

    private sealed record EpochSums(double LossSum, int Steps, double Seconds);

    private sealed record Checkpoint(int Seed, int CompletedEpochs, int GlobalStep, ulong Random, List<LossPoint> LossCurve, EpochSums Epoch);
}
