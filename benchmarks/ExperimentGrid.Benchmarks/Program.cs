using System.CommandLine;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Import;
using ExperimentGrid.Core.Modeling;
using static TorchSharp.torch;

namespace ExperimentGrid.Benchmarks;

public static class Program
{
    private const string Model = "minilm";
    private const string Dataset = "rotten_tomatoes";

    public static int Main(string[] args)
    {
        var quick = new Option<bool>("--quick") { Description = "A few iterations of each measurement: proves the benchmark runs; its numbers are not measurements." };
        var threads = new Option<int?>("--threads") { Description = "Threads for libtorch and for ONNX Runtime's intra-op pool. Default: libtorch's default." };
        var steps = new Option<int?>("--steps") { Description = "Timed optimizer steps per training measurement. Default 20, or 2 with --quick." };
        var markdown = new Option<FileInfo?>("--markdown") { Description = "Also write the Markdown report to this file." };
        var root = new RootCommand(
            "Measures the fp32 matmul peak, MiniLM fine-tuning throughput and model FLOPs utilisation, and inference against " +
            "ONNX Runtime, in one process, and prints a Markdown report.")
        {
            quick, threads, steps, markdown,
        };
        root.SetAction(parse => Run(parse.GetValue(quick), parse.GetValue(threads), parse.GetValue(steps), parse.GetValue(markdown)));
        return root.Parse(args).Invoke();
    }

    private static int Run(bool quick, int? threads, int? steps, FileInfo? markdown)
    {
        if (threads is <= 0 || steps is <= 0)
        {
            Console.Error.WriteLine("error: --threads and --steps must be positive.");
            return 2;
        }
        if (threads is { } count) set_num_threads(count);
        var plan = new BenchmarkPlan(quick, steps ?? (quick ? 2 : 20));

        Progress($"loading {Model} and {Dataset}");
        var bundled = BundledModels.Find(Model)!;
        var source = ModelSource.Open(Model);
        var train = Encode(source, "train");
        var test = Encode(source, "test");

        Progress($"fp32 matmul, sizes {string.Join(", ", plan.MatmulSizes)}");
        var matmul = MatmulPeak.Measure(plan.MatmulSizes, plan.MatmulWarmup, plan.MatmulRepetitions);

        ThroughputResult throughput;
        UtilisationResult utilisation;
        using (var tuner = new FineTuner(source, TrainingBenchmarks.Seed))
        {
            Progress($"training throughput, {plan.TrainingRepetitions} × {plan.Steps} steps at batch {TrainingBenchmarks.ThroughputBatchSize}");
            throughput = TrainingBenchmarks.Throughput(tuner, train, source.Tokenizer.PadId, plan.TrainingWarmupSteps, plan.Steps, plan.TrainingRepetitions);
            Progress($"fixed-shape training steps, {plan.Steps} at {TrainingBenchmarks.FixedBatch} × {TrainingBenchmarks.FixedSequence}");
            utilisation = TrainingBenchmarks.Utilisation(tuner, source.Config, train, source.Tokenizer.ClsId, source.Tokenizer.SepId,
                source.Tokenizer.PadId, plan.TrainingWarmupSteps, plan.Steps);
        }

        Progress($"inference, {plan.InferenceTexts} test texts, TorchSharp then ONNX Runtime");
        var inference = InferenceBenchmark.Run(source, bundled, [.. test.Take(plan.InferenceTexts).Select(e => e.Ids)],
            plan.InferenceWarmup, plan.InferenceRepetitions, get_num_threads());

        var report = Report.Render(plan, source.Config, matmul, throughput, utilisation, inference);
        Console.Out.Write(report);
        if (markdown is not null) File.WriteAllText(markdown.FullName, report);
        return 0;
    }

    private static List<EncodedExample> Encode(ModelDirectory source, string split) =>
    [
        .. TextClassificationData.Read(DatasetLocator.ResolveSplit(Dataset, split))
            .Select(e => new EncodedExample(source.Tokenizer.Encode(e.Text, source.Config.MaxPositionEmbeddings), e.Label)),
    ];

    // Progress goes to stderr so that stdout is the report alone and can be redirected into a file as it is.
    private static void Progress(string message) => Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {message}");
}

/// <summary>How many iterations each measurement runs; --quick shrinks them all to prove the benchmark works.</summary>
public sealed record BenchmarkPlan(bool Quick, int Steps)
{
    public IReadOnlyList<int> MatmulSizes { get; } = [1024, 1536, 2048];
    public int MatmulWarmup => Quick ? 1 : 3;
    public int MatmulRepetitions => Quick ? 2 : 10;
    public int TrainingWarmupSteps => Quick ? 1 : 5;
    public int TrainingRepetitions => Quick ? 1 : 3;
    public int InferenceTexts => Quick ? 64 : 512;
    public int InferenceWarmup => 1;
    public int InferenceRepetitions => Quick ? 2 : 5;
}
