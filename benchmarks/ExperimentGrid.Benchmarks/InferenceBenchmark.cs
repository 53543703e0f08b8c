using ExperimentGrid.Core.Import;
using ExperimentGrid.Core.Modeling;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace ExperimentGrid.Benchmarks;

public sealed record InferenceResult(int Texts, Timing Ours, Timing OnnxRuntime, double MaxDifference)
{
    public double OursMedianSamplesPerSecond => Texts / Ours.Median;
    public double OursBestSamplesPerSecond => Texts / Ours.Best;
    public double OnnxRuntimeMedianSamplesPerSecond => Texts / OnnxRuntime.Median;
    public double OnnxRuntimeBestSamplesPerSecond => Texts / OnnxRuntime.Best;
    public double MedianRatio => OnnxRuntime.Median / Ours.Median;
    public double BestRatio => OnnxRuntime.Best / Ours.Best;
}

/// <summary>
/// Our TorchSharp encoder against ONNX Runtime running the package's original graph: the same token ids, batches and
/// thread count, last_hidden_state only. Each engine builds its own input tensors inside the timing; tokenization is
/// outside it for both.
/// </summary>
public static class InferenceBenchmark
{
    public const int BatchSize = 32;
    private static readonly string[] InputNames = ["input_ids", "attention_mask", "token_type_ids"];
    private static readonly string[] OutputNames = ["last_hidden_state"];

    /// <summary>One batch padded to its longest text, as plain arrays both engines read.</summary>
    private sealed record PaddedBatch(long[] Ids, long[] Mask, long[] Types, int Rows, int Width)
    {
        public static PaddedBatch From(int[][] texts, int padId)
        {
            var width = texts.Max(t => t.Length);
            var ids = new long[texts.Length * width];
            Array.Fill(ids, padId);
            var mask = new long[ids.Length];
            for (var b = 0; b < texts.Length; b++)
                for (var t = 0; t < texts[b].Length; t++)
                {
                    ids[b * width + t] = texts[b][t];
                    mask[b * width + t] = 1;
                }
            return new PaddedBatch(ids, mask, new long[ids.Length], texts.Length, width);
        }
    }

    public static InferenceResult Run(ModelDirectory source, BundledModel bundled, IReadOnlyList<int[]> texts, int warmup, int repetitions, int threads)
    {
        var batches = texts.Chunk(BatchSize).Select(chunk => PaddedBatch.From(chunk, source.Tokenizer.PadId)).ToList();
        var (ours, ourFirst) = MeasureTorch(source, batches, warmup, repetitions);
        var (ort, ortFirst) = MeasureOnnxRuntime(bundled, batches, warmup, repetitions, threads);
        return new InferenceResult(texts.Count, ours, ort, MaxDifferenceOnRealTokens(ourFirst, ortFirst, batches[0].Mask));
    }

    private static (Timing Timing, float[] FirstBatch) MeasureTorch(ModelDirectory source, List<PaddedBatch> batches, int warmup, int repetitions)
    {
        // No pooler: the ONNX graph is asked for last_hidden_state only.
        using var encoder = source.LoadEncoder(addPoolingLayer: false);
        encoder.eval();
        using var noGrad = no_grad();

        Tensor Forward(PaddedBatch batch) => encoder.call(
            tensor(batch.Ids, batch.Rows, batch.Width), tensor(batch.Mask, batch.Rows, batch.Width), tensor(batch.Types, batch.Rows, batch.Width));

        float[] first;
        using (NewDisposeScope()) first = Forward(batches[0]).data<float>().ToArray();
        var timing = Timing.Measure(warmup, repetitions, () =>
        {
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                Forward(batch);
            }
        });
        return (timing, first);
    }

    private static (Timing Timing, float[] FirstBatch) MeasureOnnxRuntime(BundledModel bundled, List<PaddedBatch> batches, int warmup, int repetitions, int threads)
    {
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        using var session = new InferenceSession(BundledModels.ReadOnnx(bundled), options);
        using var runOptions = new RunOptions();

        IDisposableReadOnlyCollection<OrtValue> Forward(PaddedBatch batch)
        {
            long[] shape = [batch.Rows, batch.Width];
            // These wrap (pin) the arrays rather than copy them; they are only read during Run.
            using var ids = OrtValue.CreateTensorValueFromMemory(batch.Ids, shape);
            using var mask = OrtValue.CreateTensorValueFromMemory(batch.Mask, shape);
            using var types = OrtValue.CreateTensorValueFromMemory(batch.Types, shape);
            return session.Run(runOptions, InputNames, [ids, mask, types], OutputNames);
        }

        float[] first;
        using (var outputs = Forward(batches[0])) first = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        var timing = Timing.Measure(warmup, repetitions, () =>
        {
            foreach (var batch in batches)
            {
                using var outputs = Forward(batch);
            }
        });
        return (timing, first);
    }

    /// <summary>
    /// Proves both engines computed the same thing. Padded positions are skipped: their hidden states are never used
    /// and the two graphs mask them differently.
    /// </summary>
    private static double MaxDifferenceOnRealTokens(float[] ours, float[] reference, long[] mask)
    {
        if (ours.Length != reference.Length) throw new InvalidDataException($"output sizes differ: ours {ours.Length}, ONNX Runtime {reference.Length}.");
        var hidden = ours.Length / mask.Length;
        double max = 0;
        for (var i = 0; i < ours.Length; i++)
            if (mask[i / hidden] == 1) max = Math.Max(max, Math.Abs(ours[i] - reference[i]));
        return max;
    }
}
