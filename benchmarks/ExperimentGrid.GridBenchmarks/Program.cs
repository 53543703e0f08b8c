using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using ExperimentGrid.TestSupport;
using static ExperimentGrid.TestSupport.BenchmarkHost;

namespace ExperimentGrid.GridBenchmarks;

/// <summary>The benchmark's flags, as given or defaulted.</summary>
public sealed record BenchmarkSettings(string Postgres, IReadOnlyList<int> Silos, Workload Workload, FileInfo? Markdown);

public static class Program
{
    private const string Model = "minilm";
    private static readonly IReadOnlyList<int> DefaultSilos = [1, 2, 3];
    private const int DefaultTrials = 6;
    private const int FakeSilos = 2;
    private const int FakeTrials = 1000;
    private const int StressTrials = 300;
    private const int StressSlots = 2;

    public static Task<int> Main(string[] args)
    {
        var postgres = new Option<string>("--postgres")
        {
            Description = "PostgreSQL connection string of a role that may create databases: each silo count runs on a new database " +
                          "created beside the one named, dropped afterwards.",
            Required = true,
        };
        var silos = new Option<IReadOnlyList<int>>("--silos")
        {
            // No DefaultValueFactory: help would print the default list as "1|2|3", which is not how the flag is written.
            Description = "Silo counts to measure, comma-separated; each silo is a process with one CPU slot " +
                          $"[default: {string.Join(',', DefaultSilos)}; with --fake, one count, {FakeSilos}]",
            CustomParser = ParseSilos,
        };
        var trials = new Option<int?>("--trials") { Description = $"Trials in the sweep [default: {DefaultTrials}, one per seed; with --fake, {FakeTrials}]" };
        trials.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 1 and var n) result.AddError($"--trials: must be at least 1, got {n}.");
        });
        var trainLimit = Positive("--train-limit", 64, "Training examples per MiniLM trial.");
        var threads = Positive("--threads-per-silo", 1, "libtorch intra-op threads of each MiniLM silo (OMP_NUM_THREADS and MKL_NUM_THREADS).");
        var fake = new Option<bool>("--fake")
        {
            Description = $"Measure the grid alone: a random search of fake trainables ({FakeWorkload.StepsPerEpoch} steps of " +
                          $"{FakeWorkload.StepMilliseconds} ms) on fake silo processes (tests/ExperimentGrid.FakeSilo), then a " +
                          $"{FakeWorkload.GridPoints}-point grid submitted and cancelled.",
        };
        var stress = new Option<bool>("--stress")
        {
            Description = $"Hunt crashes instead: {StressTrials} short MiniLM trials (--trials) on one silo process with {StressSlots} CPU slots, " +
                          "each with mid-epoch checkpoints, an evaluation and a model save; a silo that dies is counted, with the kernel's " +
                          "segfault line, and replaced.",
        };
        var gen0 = new Option<long?>("--gc-gen0-size")
        {
            Description = "With --stress: the silos' gen0 budget in bytes (DOTNET_GCgen0size). A small one, such as 1048576, collects far " +
                          "more often and makes a race with the garbage collector show sooner.",
        };
        gen0.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<long?>() is < 65536 and var n) result.AddError($"--gc-gen0-size: must be at least 65536 bytes, got {n}.");
        });
        var hammer = new Option<bool>("--gc-hammer")
        {
            Description = "With --stress: load a startup hook into the silos that collects garbage and runs finalizers in a loop " +
                          "(benchmarks/ExperimentGrid.GcHammer), so that an object freed by a finalizer during a native call shows in " +
                          "hundreds of trials rather than thousands.",
        };
        var markdown = new Option<FileInfo?>("--markdown") { Description = "Also write the Markdown report to this file." };
        var root = new RootCommand(
            "Measures the grid's scheduling overhead: one sweep of small MiniLM trials on 1, 2 and 3 silo processes on loopback " +
            "(or, with --fake, 1,000 fake trials on 2), its wall time against the sum of its trials' times, and prints a Markdown report.")
        {
            postgres, silos, trials, trainLimit, threads, fake, stress, gen0, hammer, markdown,
        };
        root.Validators.Add(result =>
        {
            foreach (var stressOnly in new Option[] { gen0, hammer })
                if (result.GetResult(stressOnly) is { Implicit: false } && !(result.GetResult(stress)?.GetValueOrDefault<bool>() ?? false))
                    result.AddError($"{stressOnly.Name}: only with --stress.");
            if (!(result.GetResult(stress)?.GetValueOrDefault<bool>() ?? false)) return;
            if (result.GetResult(fake)?.GetValueOrDefault<bool>() ?? false) result.AddError("--stress: runs real MiniLM trials; not with --fake.");
            foreach (var unused in new Option[] { silos, trainLimit, threads })
                if (result.GetResult(unused) is { Implicit: false }) result.AddError($"{unused.Name}: the stress run has its own workload; not used with --stress.");
        });
        root.Validators.Add(result =>
        {
            if (!(result.GetResult(fake)?.GetValueOrDefault<bool>() ?? false)) return;
            if (result.GetResult(trainLimit) is { Implicit: false }) result.AddError("--train-limit: fake trials read no data; not used with --fake.");
            if (result.GetResult(threads) is { Implicit: false }) result.AddError("--threads-per-silo: fake silos load no libtorch threads; not used with --fake.");
            if (result.GetResult(silos)?.GetValueOrDefault<IReadOnlyList<int>>() is { Count: > 1 })
                result.AddError($"--silos: --fake measures one silo count; give one, e.g. {FakeSilos}.");
        });
        root.SetAction((parse, cancellationToken) =>
        {
            var markdownFile = parse.GetValue(markdown);
            if (parse.GetValue(stress))
            {
                var workload = new StressWorkload(parse.GetValue(trials) ?? StressTrials, StressSlots, parse.GetValue(gen0), parse.GetValue(hammer));
                return RunStressAsync(parse.GetValue(postgres)!, workload, markdownFile, args, cancellationToken);
            }
            if (parse.GetValue(fake))
            {
                var workload = new FakeWorkload(parse.GetValue(trials) ?? FakeTrials, parse.GetValue(silos)?.Single() ?? FakeSilos);
                return RunFakeAsync(parse.GetValue(postgres)!, workload, markdownFile, args, cancellationToken);
            }
            return RunAsync(
                new BenchmarkSettings(
                    parse.GetValue(postgres)!,
                    parse.GetValue(silos) ?? DefaultSilos,
                    new Workload(parse.GetValue(trials) ?? DefaultTrials, parse.GetValue(trainLimit), parse.GetValue(threads)),
                    markdownFile),
                args, cancellationToken);
        });
        // Ctrl+C and SIGTERM cancel the run, which then stops its silos and drops its database; System.CommandLine
        // handles neither unless given a timeout, and this one leaves room for both.
        return root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(15) });
    }

    private static Task<int> RunAsync(BenchmarkSettings settings, string[] args, CancellationToken cancellationToken) =>
        FrameAsync(settings.Postgres, settings.Markdown, async (server, loadBefore, total) =>
        {
            var paths = Prepare();
            Progress($"PostgreSQL at {server}; silo logs in {paths.Logs}");
            var results = new List<RunResult>();
            foreach (var count in settings.Silos)
            {
                Progress($"{count} silo(s): starting");
                var result = await GridRun.MeasureAsync(count, settings.Workload, paths, settings.Postgres, cancellationToken);
                Progress($"{count} silo(s): sweep wall {result.Wall.TotalSeconds:F1} s, trials {result.TrialSeconds:F1} s in all, " +
                         $"idle slot time {result.IdleSlotSecondsPerTrial:F2} s per trial");
                results.Add(result);
            }
            return (Report.Render(settings, Command(args), server, results, loadBefore, LoadAverage.Read(), total.Elapsed), paths.Logs);
        }, cancellationToken);

    private static Task<int> RunFakeAsync(string postgres, FakeWorkload workload, FileInfo? markdown, string[] args, CancellationToken cancellationToken) =>
        FrameAsync(postgres, markdown, async (server, loadBefore, total) =>
        {
            var logs = Directory.CreateDirectory(Path.Combine(WorkDirectory, "logs", $"{DateTime.Now:yyyyMMdd-HHmmss}")).FullName;
            Progress($"PostgreSQL at {server}; silo logs in {logs}");
            var result = await FakeRun.MeasureAsync(workload, WorkDirectory, postgres, logs, cancellationToken);
            Progress($"{result.Trials.Count} trials in {result.Sweep.Wall.TotalSeconds:F1} s: overhead {result.OverheadSecondsPerTrial * 1000:F1} ms per trial");
            return (Report.RenderFake(Command(args), server, result, loadBefore, LoadAverage.Read(), total.Elapsed), logs);
        }, cancellationToken);

    private static Task<int> RunStressAsync(string postgres, StressWorkload workload, FileInfo? markdown, string[] args, CancellationToken cancellationToken) =>
        FrameAsync(postgres, markdown, async (server, loadBefore, total) =>
        {
            var paths = Prepare();
            Progress($"PostgreSQL at {server}; silo logs in {paths.Logs}");
            var result = await StressRun.RunAsync(workload, paths, postgres, cancellationToken);
            return (Report.RenderStress(Command(args), server, workload, result, total.Elapsed), paths.Logs);
        }, cancellationToken);

    /// <summary>
    /// What every mode does around their measurement: check the server first, print the report (and write it to
    /// --markdown), and turn problems the user can act on into one "error:" line.
    /// </summary>
    private static Task<int> FrameAsync(string postgres, FileInfo? markdown,
        Func<string, LoadAverage?, Stopwatch, Task<(string Report, string Logs)>> measure, CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        var loadBefore = LoadAverage.Read();
        Progress($"load average before: {loadBefore?.ToString() ?? "unknown"}");
        return BenchmarkHost.RunAsync(async () =>
        {
            var server = FreshDatabase.Describe(postgres);
            await FreshDatabase.CheckAsync(postgres, cancellationToken);
            var (report, logs) = await measure(server, loadBefore, total);
            Console.Out.Write(report);
            if (markdown is { } file) await File.WriteAllTextAsync(file.FullName, report, CancellationToken.None);
            Progress($"done in {total.Elapsed.TotalMinutes:F1} min; silo logs in {logs}");
            return 0;
        }, cancellationToken);
    }

    private static string WorkDirectory => Path.Combine(Path.GetTempPath(), "experimentgrid-gridbench");

    private static BenchmarkPaths Prepare() => BenchmarkPaths.Prepare(WorkDirectory, Model, Workload.Dataset);

    private static string Command(string[] args) => BenchmarkHost.CommandLine("benchmarks/ExperimentGrid.GridBenchmarks", args);

    private static IReadOnlyList<int> ParseSilos(ArgumentResult result)
    {
        var counts = new List<int>();
        foreach (var part in result.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            if (int.TryParse(part, out var count) && count > 0) counts.Add(count);
            else result.AddError($"--silos: '{part}' is not a positive number of silos.");
        }
        if (counts.Count == 0) result.AddError("--silos: give at least one silo count, e.g. 1,2,3.");
        return counts;
    }

    private static Option<int> Positive(string name, int defaultValue, string description)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1) result.AddError($"{name}: must be at least 1, got {result.GetValueOrDefault<int>()}.");
        });
        return option;
    }
}
