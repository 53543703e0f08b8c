using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Import;

namespace ExperimentGrid.GridBenchmarks;

/// <summary>A problem the user can act on: printed as one "error:" message, without a stack trace.</summary>
public sealed class BenchmarkException(string message) : Exception(message);

/// <summary>The benchmark's flags, as given or defaulted.</summary>
public sealed record BenchmarkSettings(string Postgres, IReadOnlyList<int> Silos, Workload Workload, FileInfo? Markdown);

/// <summary>Where the benchmark keeps its files: the silos' home with the imported model, the datasets, and the silos' logs.</summary>
public sealed record BenchmarkPaths(string Work, string Home, string Model, string DataRoot, string Logs);

public static class Program
{
    private const string Model = "minilm";
    private static readonly IReadOnlyList<int> DefaultSilos = [1, 2, 3];

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
            Description = $"Silo counts to measure, comma-separated; each silo is a process with one CPU slot [default: {string.Join(',', DefaultSilos)}]",
            CustomParser = ParseSilos,
        };
        var trials = Positive("--trials", 6, "Trials in the sweep, one per seed.");
        var trainLimit = Positive("--train-limit", 64, "Training examples per trial.");
        var threads = Positive("--threads-per-silo", 1, "libtorch intra-op threads of each silo (OMP_NUM_THREADS and MKL_NUM_THREADS).");
        var markdown = new Option<FileInfo?>("--markdown") { Description = "Also write the Markdown report to this file." };
        var root = new RootCommand(
            "Measures the grid's scheduling overhead: one sweep of small MiniLM trials on 1, 2 and 3 silo processes on loopback, " +
            "its wall time against the sum of its trials' times, and prints a Markdown report.")
        {
            postgres, silos, trials, trainLimit, threads, markdown,
        };
        root.SetAction((parse, cancellationToken) => RunAsync(
            new BenchmarkSettings(
                parse.GetValue(postgres)!,
                parse.GetValue(silos) ?? DefaultSilos,
                new Workload(parse.GetValue(trials), parse.GetValue(trainLimit), parse.GetValue(threads)),
                parse.GetValue(markdown)),
            args, cancellationToken));
        // Ctrl+C and SIGTERM cancel the run, which then stops its silos and drops its database; System.CommandLine
        // handles neither unless given a timeout, and this one leaves room for both.
        return root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(15) });
    }

    private static async Task<int> RunAsync(BenchmarkSettings settings, string[] args, CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        var loadBefore = LoadAverage.Read();
        Progress($"load average before: {loadBefore?.ToString() ?? "unknown"}");
        try
        {
            var server = FreshDatabase.Describe(settings.Postgres);
            await FreshDatabase.CheckAsync(settings.Postgres, cancellationToken);
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

            var report = Report.Render(settings, Command(args), server, results, loadBefore, LoadAverage.Read(), total.Elapsed);
            Console.Out.Write(report);
            if (settings.Markdown is { } file) await File.WriteAllTextAsync(file.FullName, report, CancellationToken.None);
            Progress($"done in {total.Elapsed.TotalMinutes:F1} min; silo logs in {paths.Logs}");
            return 0;
        }
        catch (BenchmarkException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("interrupted; the silos were stopped and their databases dropped.");
            return 130;
        }
    }

    /// <summary>The bundled model imported into the silos' home, and the data root holding the dataset.</summary>
    private static BenchmarkPaths Prepare()
    {
        var work = Path.Combine(Path.GetTempPath(), "experimentgrid-gridbench");
        var home = Path.Combine(work, "home");
        var dataRoot = DatasetLocator.DefaultDataRoot();
        if (!Directory.Exists(Path.Combine(dataRoot, Workload.Dataset)))
            throw new BenchmarkException($"no {Workload.Dataset} under the data root {dataRoot}; set {DatasetLocator.DataRootVariable} to the directory that holds it.");
        Progress($"importing {Model} into {home} (once; later runs reuse it)");
        var model = BundledModels.EnsureImported(BundledModels.Find(Model)!, cacheRoot: Path.Combine(home, "models"));
        var logs = Directory.CreateDirectory(Path.Combine(work, "logs", $"{DateTime.Now:yyyyMMdd-HHmmss}")).FullName;
        return new BenchmarkPaths(work, home, model, dataRoot, logs);
    }

    /// <summary>The command as run, ready to paste into a shell, with the connection string's password masked.</summary>
    private static string Command(string[] args)
    {
        var shown = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--postgres" && i + 1 < args.Length) shown.AddRange(["--postgres", FreshDatabase.Redact(args[++i])]);
            else if (args[i].StartsWith("--postgres=", StringComparison.Ordinal)) shown.Add($"--postgres={FreshDatabase.Redact(args[i]["--postgres=".Length..])}");
            else shown.Add(args[i]);
        }
        return string.Join(' ', new[] { "dotnet", "run", "--project", "benchmarks/ExperimentGrid.GridBenchmarks", "-c", "Release", "--" }.Concat(shown.Select(Quote)));
    }

    private static string Quote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsAsciiLetterOrDigit(c) || "-_./,:=@+".Contains(c)) ? arg : $"'{arg.Replace("'", "'\\''", StringComparison.Ordinal)}'";

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

    // Progress goes to stderr so that stdout is the report alone and can be redirected into a file as it is.
    public static void Progress(string message) => Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {message}");
}
