using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Import;

namespace ExperimentGrid.TestSupport;

/// <summary>Where a benchmark's silos find their model and data, and where they write their logs.</summary>
public sealed record BenchmarkPaths(string Work, string Home, string Model, string DataRoot, string Logs)
{
    /// <summary>
    /// The bundled <paramref name="model"/> imported into {<paramref name="work"/>}/home (once; later runs reuse it), the
    /// data root, which must hold <paramref name="dataset"/>, and a new folder for this run's logs.
    /// </summary>
    public static BenchmarkPaths Prepare(string work, string model, string dataset)
    {
        var home = Path.Combine(work, "home");
        var dataRoot = DatasetLocator.DefaultDataRoot();
        if (!Directory.Exists(Path.Combine(dataRoot, dataset)))
            throw new BenchmarkException($"no {dataset} under the data root {dataRoot}; set {DatasetLocator.DataRootVariable} to the directory that holds it.");
        BenchmarkHost.Progress($"importing {model} into {home} (once; later runs reuse it)");
        var imported = BundledModels.EnsureImported(BundledModels.Find(model)!, cacheRoot: Path.Combine(home, "models"));
        var logs = Directory.CreateDirectory(Path.Combine(work, "logs", $"{DateTime.Now:yyyyMMdd-HHmmss}")).FullName;
        return new BenchmarkPaths(work, home, imported, dataRoot, logs);
    }
}

/// <summary>What the benchmarks that start silo processes share around their measurements.</summary>
public static class BenchmarkHost
{
    // Progress goes to stderr so that stdout is the report alone and can be redirected into a file as it is.
    public static void Progress(string message) => Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {message}");

    /// <summary>
    /// Runs a benchmark: a problem the user can act on (<see cref="BenchmarkException"/>) becomes one "error:" line and
    /// exit code 1, an interruption exit code 130.
    /// </summary>
    public static async Task<int> RunAsync(Func<Task<int>> run, CancellationToken cancellationToken)
    {
        try
        {
            return await run();
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

    /// <summary>The command as run, ready to paste into a shell, with the connection string's password masked.</summary>
    public static string CommandLine(string project, string[] args)
    {
        var shown = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--postgres" && i + 1 < args.Length) shown.AddRange(["--postgres", FreshDatabase.Redact(args[++i])]);
            else if (args[i].StartsWith("--postgres=", StringComparison.Ordinal)) shown.Add($"--postgres={FreshDatabase.Redact(args[i]["--postgres=".Length..])}");
            else shown.Add(args[i]);
        }
        return string.Join(' ', new[] { "dotnet", "run", "--project", project, "-c", "Release", "--" }.Concat(shown.Select(Quote)));
    }

    private static string Quote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsAsciiLetterOrDigit(c) || "-_./,:=@+".Contains(c)) ? arg : $"'{arg.Replace("'", "'\\''", StringComparison.Ordinal)}'";
}
