using static TorchSharp.torch;

namespace ExperimentGrid.Benchmarks;

public sealed record MatmulResult(int Size, Timing Timing)
{
    /// <summary>2·n³: n³ multiply-adds.</summary>
    public double Flops => 2.0 * Size * Size * Size;
    public double BestGflops => Flops / Timing.Best / 1e9;
    public double MedianGflops => Flops / Timing.Median / 1e9;
}

/// <summary>The fp32 GEMM rate libtorch reaches on this machine and thread count: the denominator of model FLOPs utilisation.</summary>
public static class MatmulPeak
{
    public static IReadOnlyList<MatmulResult> Measure(IReadOnlyList<int> sizes, int warmup, int repetitions)
    {
        var results = new List<MatmulResult>();
        foreach (var size in sizes)
        {
            using var scope = NewDisposeScope();
            var a = randn(size, size, ScalarType.Float32);
            var b = randn(size, size, ScalarType.Float32);
            // A fresh result tensor per call, as every Linear in the model allocates one: a peak that only an
            // out= kernel reaches would not be reachable by the model's own calls.
            var timing = Timing.Measure(warmup, repetitions, () =>
            {
                using var product = matmul(a, b);
            });
            results.Add(new MatmulResult(size, timing));
        }
        return results;
    }
}
