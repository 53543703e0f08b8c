using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;

namespace ExperimentGrid.Core.Tests;

/// <summary>
/// A trial that runs out of memory halves its micro-batch (or evaluation batch) and redoes the work, on the CPU with
/// libtorch's CUDA error injected before the forward passes.
/// </summary>
public sealed class OutOfMemoryTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("oom-").FullName;
    private readonly string _model;

    public OutOfMemoryTests() => _model = TinyBert.SaveWithoutDropout(Path.Combine(_directory, "tiny"));

    public void Dispose()
    {
        OutOfMemory.BeforeForward = null;
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>What libtorch's caching allocator throws, as TorchSharp surfaces it.</summary>
    private static ExternalException CudaOutOfMemory() =>
        new("CUDA out of memory. Tried to allocate 1.50 GiB. GPU 0 has a total capacity of 139.80 GiB of which 1.12 GiB is free.");

    /// <summary>40 training examples in batches of 8: five optimizer steps an epoch.</summary>
    private TrialSpec Spec(TaskKind task = TaskKind.TextClassification, string dataset = "rotten_tomatoes") => new()
    {
        Task = task,
        Model = _model,
        Dataset = dataset,
        TrainLimit = 40,
        EvalLimit = 16,
        TestSplit = null,
        MaxLength = 32,
        BatchSize = 8,
        EvalBatchSize = 16,
        LearningRate = 1e-3,
        Device = "cpu",
    };

    private static (List<double> Losses, double Validation, int Steps) TrainEpoch(TrialSpec spec, ILogger? logger = null)
    {
        using var trainable = TrialRunner.Create(spec, logger, progress: null);
        trainable.Setup();
        var epoch = trainable.Step();
        return ([.. trainable.LossCurve.Select(p => p.Loss)], epoch.Validation.Loss, trainable.GlobalStep);
    }

    [Theory]
    [InlineData(TaskKind.TextClassification, "rotten_tomatoes")]
    [InlineData(TaskKind.TokenClassification, "conll2003")]
    public void An_out_of_memory_step_is_redone_in_half_micro_batches_and_the_epoch_goes_on_as_without_it(TaskKind task, string dataset)
    {
        var spec = Spec(task, dataset);
        var clean = TrainEpoch(spec);

        var passes = new List<(int Step, int Size)>();
        OutOfMemory.BeforeForward = pass =>
        {
            if (!pass.Training || pass.Spec != spec) return;
            passes.Add((pass.Step, pass.Size));
            if (pass.Step == 3 && pass.Size == 8) throw CudaOutOfMemory();
        };
        var logger = new ListLogger();
        using var trainable = TrialRunner.Create(spec, logger, progress: null);
        trainable.Setup();
        var epoch = trainable.Step();

        // Step 3 failed at its first micro-batch of 8 and ran again as two of 4; every later step runs as two of 4.
        Assert.Equal([(1, 8), (2, 8), (3, 8), (3, 4), (3, 4), (4, 4), (4, 4), (5, 4), (5, 4)], passes);
        Assert.Equal(4, trainable.MicroBatchSize);
        Assert.Equal(5, trainable.GlobalStep);
        Assert.Equal(clean.Steps, epoch.GlobalStep);
        Assert.Equal([1, 2, 3, 4, 5], trainable.LossCurve.Select(p => p.Step));
        // No dropout, so the same batches give the same losses: the redone step trained on step 3's batch.
        Assert.Equal(clean.Losses.Count, trainable.LossCurve.Count);
        foreach (var (expected, actual) in clean.Losses.Zip(trainable.LossCurve))
            Assert.Equal(expected, actual.Loss, 4);
        Assert.Equal(clean.Validation, epoch.Validation.Loss, 4);
        var warning = Assert.Single(logger.Messages, m => m.Level == LogLevel.Warning).Text;
        Assert.Contains("step 3", warning);
        Assert.Contains("batch of 8", warning);
        Assert.Contains("micro-batches of 4", warning);
    }

    [Fact]
    public void Out_of_memory_down_to_micro_batch_1_fails_the_trial_saying_what_to_lower()
    {
        var spec = Spec();
        var sizes = new List<int>();
        OutOfMemory.BeforeForward = pass =>
        {
            if (!pass.Training || pass.Spec != spec) return;
            sizes.Add(pass.Size);
            throw CudaOutOfMemory();
        };
        using var trainable = TrialRunner.Create(spec, logger: null, progress: null);
        trainable.Setup();

        var error = Assert.Throws<TrialOutOfMemoryException>(() => trainable.Step());
        Assert.Equal("out of memory even at micro-batch 1 on cpu; lower max_length or batch_size.", error.Message);
        Assert.Equal([8, 4, 2, 1], sizes);
        Assert.Equal(0, trainable.GlobalStep);
    }

    [Fact]
    public void Other_libtorch_errors_are_not_taken_for_out_of_memory()
    {
        var spec = Spec();
        OutOfMemory.BeforeForward = pass =>
        {
            if (pass.Spec == spec) throw new ExternalException("CUDA error: device-side assert triggered");
        };
        using var trainable = TrialRunner.Create(spec, logger: null, progress: null);
        trainable.Setup();

        Assert.Throws<ExternalException>(() => trainable.Step());
        Assert.Equal(8, trainable.MicroBatchSize);
    }

    [Fact]
    public void An_out_of_memory_evaluation_runs_again_in_half_batches_with_the_same_result()
    {
        var spec = Spec();
        var clean = TrainEpoch(spec);
        var evaluations = new List<int>();
        OutOfMemory.BeforeForward = pass =>
        {
            if (pass.Training || pass.Spec != spec) return;
            evaluations.Add(pass.Size);
            if (evaluations.Count == 1) throw CudaOutOfMemory();
        };
        var result = TrainEpoch(spec);

        Assert.Equal([16, 8], evaluations);
        Assert.Equal(clean.Validation, result.Validation, 5);
        Assert.Equal(clean.Losses, result.Losses);
    }

    [Fact]
    public void The_halved_micro_batch_is_kept_by_checkpoints_and_reported_in_metrics_json()
    {
        var spec = Spec() with { Epochs = 2 };
        OutOfMemory.BeforeForward = pass =>
        {
            if (pass.Training && pass.Spec == spec && pass.Step == 2 && pass.Size > 2) throw CudaOutOfMemory();
        };
        var checkpoint = Path.Combine(_directory, "checkpoint");
        using (var trainable = TrialRunner.Create(spec, logger: null, progress: null))
        {
            trainable.Setup();
            trainable.Step();
            Assert.Equal(2, trainable.MicroBatchSize);
            trainable.SaveCheckpoint(checkpoint);
        }
        OutOfMemory.BeforeForward = null;
        using (var resumed = TrialRunner.Create(spec, logger: null, progress: null))
        {
            resumed.Setup();
            Assert.Equal(8, resumed.MicroBatchSize);
            resumed.LoadCheckpoint(checkpoint);
            Assert.Equal(2, resumed.MicroBatchSize);
            Assert.Equal(16, resumed.EvalBatchSize);
        }

        OutOfMemory.BeforeForward = pass =>
        {
            if (pass.Training && pass.Spec == spec && pass.Step == 7 && pass.Size == 8) throw CudaOutOfMemory();
        };
        var output = Path.Combine(_directory, "trained");
        var result = TrialRunner.Run(spec, output);
        Assert.Equal(4, result.MicroBatchSize);
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(output, TrialRunner.MetricsFile)))!;
        Assert.Equal(4, (int)metrics["micro_batch_size"]!);
        Assert.Equal(16, (int)metrics["eval_batch_size"]!);
        Assert.Equal(10, (int)metrics["epochs"]![1]!["global_step"]!);
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Text)> Messages { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Add((logLevel, formatter(state, exception)));
    }
}
