using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using ExperimentGrid.Core.Modeling;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;

namespace ExperimentGrid.Benchmarks;

/// <summary>The results as Markdown, ready to paste into the README, with the facts needed to compare runs.</summary>
public static class Report
{
    public static string Render(BenchmarkPlan plan, BertConfig config, IReadOnlyList<MatmulResult> matmul,
        ThroughputResult throughput, UtilisationResult utilisation, InferenceResult inference)
    {
        var threads = torch.get_num_threads();
        var peak = matmul.Max(m => m.BestGflops);
        var text = new StringBuilder();
        void Line(string line = "") => text.Append(line).Append('\n');
        void Row(string measurement, string setting, string median, string best) => Line($"| {measurement} | {setting} | {median} | {best} |");

        Line("## ExperimentGrid CPU benchmark");
        Line();
        Line($"- CPU: {CpuModel()}, {Environment.ProcessorCount} logical cores");
        Line($"- Threads: torch {threads} (inter-op {torch.get_num_interop_threads()}), ONNX Runtime intra-op {threads}, inter-op 1");
        Line($"- OS: {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture}); {RuntimeInformation.FrameworkDescription}");
        Line($"- TorchSharp {Version(typeof(torch).Assembly)} (CPU), ONNX Runtime {OrtEnv.Instance().GetVersionString()}");
        if (plan.Quick) Line("- **Quick mode**: a few iterations only, to prove the benchmark runs. These are not measurements.");
        Line();
        Line("| Measurement | Setting | Median | Best |");
        Line("|---|---|---:|---:|");
        foreach (var m in matmul)
            Row("fp32 matmul", $"torch.matmul {m.Size}×{m.Size}, {m.Timing.Seconds.Count} runs", $"{m.MedianGflops:F1} GFLOP/s", $"{m.BestGflops:F1} GFLOP/s");
        var trainSetting = $"MiniLM, full fine-tune, rotten_tomatoes train, batch {TrainingBenchmarks.ThroughputBatchSize}, dynamic padding, " +
                           $"{throughput.Timing.Seconds.Count} × {throughput.Steps} steps";
        Row("Training throughput", trainSetting, $"{throughput.MedianSamplesPerSecond:F1} samples/s", $"{throughput.BestSamplesPerSecond:F1} samples/s");
        Row("Training throughput", "the same, real (unpadded) tokens", $"{throughput.MedianTokensPerSecond:F0} tokens/s", $"{throughput.BestTokensPerSecond:F0} tokens/s");
        Row("Training step time", $"batch {TrainingBenchmarks.FixedBatch} × {TrainingBenchmarks.FixedSequence} tokens, no padding, {utilisation.StepTiming.Seconds.Count} steps",
            $"{utilisation.StepTiming.Median * 1000:F0} ms", $"{utilisation.StepTiming.Best * 1000:F0} ms");
        Row("Achieved model FLOP rate", $"{utilisation.StepFlops / 1e9:F1} GFLOP per step", $"{utilisation.MedianGflops:F1} GFLOP/s", $"{utilisation.BestGflops:F1} GFLOP/s");
        Row("Model FLOPs utilisation (aim ≥ 40%)", $"of the best matmul rate, {peak:F1} GFLOP/s", $"{utilisation.MedianGflops / peak * 100:F1}%", $"{utilisation.BestGflops / peak * 100:F1}%");
        var inferenceSetting = $"{inference.Texts} rotten_tomatoes test texts, batch {InferenceBenchmark.BatchSize}, dynamic padding, {inference.Ours.Seconds.Count} passes";
        Row("Inference, ours (TorchSharp BertModel, eval, no_grad)", inferenceSetting, $"{inference.OursMedianSamplesPerSecond:F1} samples/s", $"{inference.OursBestSamplesPerSecond:F1} samples/s");
        Row("Inference, ONNX Runtime (original graph, ORT_ENABLE_ALL)", "the same texts and batches", $"{inference.OnnxRuntimeMedianSamplesPerSecond:F1} samples/s", $"{inference.OnnxRuntimeBestSamplesPerSecond:F1} samples/s");
        Row("Inference ratio ours / ONNX Runtime (aim ≥ 1.0×)", $"max abs difference of last_hidden_state {inference.MaxDifference:0.0e+0}", $"{inference.MedianRatio:F2}×", $"{inference.BestRatio:F2}×");
        Line();
        Line($"Model FLOPs (matrix multiplications only, 2 per multiply-add): {ModelFlops.Formula}, with L = {config.NumHiddenLayers} layers, " +
             $"H = {config.HiddenSize}, I = {config.IntermediateSize}, B = {TrainingBenchmarks.FixedBatch}, S = {TrainingBenchmarks.FixedSequence}, C = {FineTuner.Labels} labels: " +
             $"{utilisation.StepFlops / 1e9:F2} GFLOP per step. Training: AdamW lr {FineTuner.LearningRate:0e+0}, weight decay {FineTuner.WeightDecay:G}, " +
             $"gradient norm clipped at {FineTuner.MaxGradNorm:F1}, dropout on. Median and best are over the timed repetitions, after warm-up.");
        return text.ToString();
    }

    private static string CpuModel()
    {
        const string cpuInfo = "/proc/cpuinfo";
        var model = File.Exists(cpuInfo)
            ? File.ReadLines(cpuInfo).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return model ?? RuntimeInformation.ProcessArchitecture.ToString();
    }

    // The informational version carries a "+commit" suffix that says nothing to a reader comparing runs.
    private static string Version(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? assembly.GetName().Version?.ToString()
        ?? "unknown";
}
