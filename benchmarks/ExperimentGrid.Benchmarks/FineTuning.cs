using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Training;
using static TorchSharp.torch;

namespace ExperimentGrid.Benchmarks;

/// <summary>
/// Full fine-tuning of a sequence classifier, each step exactly as TextClassificationTrainable takes it: train mode
/// (dropout on), AdamW with transformers' weight-decay groups, gradient clipping, no frozen layers.
/// </summary>
public sealed class FineTuner : IDisposable
{
    public const int Labels = 2;
    public const double LearningRate = 2e-5;
    public const double WeightDecay = 0.01;
    public const double MaxGradNorm = 1.0;

    private readonly BertForSequenceClassification _model;
    private readonly AdamW _optimizer;

    public FineTuner(ModelDirectory source, int seed)
    {
        // As in the trainer, the seed fixes the new head's initialisation and the dropout masks.
        random.manual_seed(seed);
        _model = source.LoadModel(config => new BertForSequenceClassification(config, Labels));
        _model.train();
        _optimizer = Optimization.AdamW(_model, LearningRate, WeightDecay);
    }

    public void Step(Batch batch) => Optimization.TrainingStep(
        [() => new LossSum(nn.functional.cross_entropy(_model.call(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds), batch.Labels, reduction: nn.Reduction.Sum), batch.InputIds.shape[0])],
        _optimizer, MaxGradNorm);

    public void Dispose()
    {
        _optimizer.Dispose();
        _model.Dispose();
    }
}

public sealed record ThroughputResult(Timing Timing, int Steps, long Samples, long Tokens)
{
    public double MedianSamplesPerSecond => Samples / Timing.Median;
    public double BestSamplesPerSecond => Samples / Timing.Best;
    public double MedianTokensPerSecond => Tokens / Timing.Median;
    public double BestTokensPerSecond => Tokens / Timing.Best;
}

public sealed record UtilisationResult(Timing StepTiming, double StepFlops)
{
    public double MedianGflops => StepFlops / StepTiming.Median / 1e9;
    public double BestGflops => StepFlops / StepTiming.Best / 1e9;
}

public static class TrainingBenchmarks
{
    public const int ThroughputBatchSize = 16;
    public const int FixedBatch = 32;
    public const int FixedSequence = 64;
    public const int Seed = 42;

    /// <summary>
    /// Samples and real tokens per second on training texts in the trainer's seeded shuffle, padded per batch.
    /// Collation is timed because the trainer's loop pays for it too.
    /// </summary>
    public static ThroughputResult Throughput(FineTuner tuner, IReadOnlyList<EncodedExample> train, int padId,
        int warmupSteps, int steps, int repetitions)
    {
        var batches = Batching.ShuffledBatches(train.Count, ThroughputBatchSize, Seed, epoch: 0)
            .Take(warmupSteps + steps)
            .Select(indices => indices.Select(i => train[i]).ToArray())
            .ToList();
        if (batches.Count < warmupSteps + steps)
            throw new ArgumentOutOfRangeException(nameof(steps), steps, $"{train.Count} training texts make only {batches.Count} batches of {ThroughputBatchSize}.");

        void Train(IEnumerable<EncodedExample[]> run)
        {
            foreach (var examples in run)
            {
                using var scope = NewDisposeScope();
                using var batch = Batching.Collate(examples, padId, CPU);
                tuner.Step(batch);
            }
        }

        Train(batches.Take(warmupSteps));
        var timed = batches.Skip(warmupSteps).ToList();
        // Every repetition trains on the same batches, so repetitions differ by noise, not by sequence lengths.
        var timing = Timing.Measure(warmup: 0, repetitions, () => Train(timed));
        return new ThroughputResult(timing, timed.Count, timed.Sum(b => (long)b.Length), timed.Sum(b => b.Sum(e => (long)e.Ids.Length)));
    }

    /// <summary>
    /// Step time at a fixed FixedBatch × FixedSequence shape without padding, so the analytic FLOPs are exactly the
    /// FLOPs the step does. The rows are real training text packed end to end between [CLS] and [SEP].
    /// </summary>
    public static UtilisationResult Utilisation(FineTuner tuner, BertConfig config, IReadOnlyList<EncodedExample> train,
        int clsId, int sepId, int padId, int warmupSteps, int steps)
    {
        var rows = train.SelectMany(e => e.Ids[1..^1])
            .Chunk(FixedSequence - 2)
            .Take(FixedBatch)
            .Select((pieces, k) => new EncodedExample([clsId, .. pieces, sepId], train[k].Label))
            .ToArray();
        if (rows.Length < FixedBatch || rows[^1].Ids.Length != FixedSequence)
            throw new InvalidDataException($"the training texts hold fewer than {FixedBatch} × {FixedSequence} tokens.");

        using var batch = Batching.Collate(rows, padId, CPU);
        var timing = Timing.Measure(warmupSteps, steps, () => tuner.Step(batch));
        return new UtilisationResult(timing, ModelFlops.TrainingStep(config, FixedBatch, FixedSequence, FineTuner.Labels));
    }
}
