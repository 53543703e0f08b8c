using System.CommandLine;
using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace ExperimentGrid.GcRace;

/// <summary>
/// Reproduces, on purpose and in seconds, the race that killed silo processes with SIGSEGV inside libtorch: TorchSharp
/// reads a tensor's or scalar's native handle and calls libtorch with it, and nothing keeps the managed object alive
/// during the call. If nothing else references it (a temporary), a garbage collection started by another thread can
/// find it dead, and the finalizer thread frees the native object while libtorch still reads it.
///
/// Each pattern runs in a child process (a crash takes the whole process), with two threads doing the same tensor work
/// and a third collecting garbage and running finalizers in a loop, which stands in for the collections that another
/// slot's training starts in a silo. The patterns differ only in what keeps the native objects alive.
/// </summary>
public static class Program
{
    private static readonly Dictionary<string, (string Description, Action<Tensor, Scalar> Work)> Patterns = new()
    {
        ["temporary-tensor"] = ("`value.detach().to_type(Float64)` outside any scope: the detached tensor is a temporary", (value, _) =>
        {
            using var wide = value.detach().to_type(ScalarType.Float64);
            Touch(wide);
        }),
        ["scoped-tensor"] = ("the same inside a dispose scope, which holds the temporary until it ends", (value, _) =>
        {
            using var scope = NewDisposeScope();
            Touch(value.detach().to_type(ScalarType.Float64));
        }),
        ["implicit-scalar"] = ("`value + value` inside a dispose scope: TorchSharp makes the alpha of 1 as a temporary Scalar, which no scope holds", (value, _) =>
        {
            using var scope = NewDisposeScope();
            Touch(value + value);
        }),
        ["held-scalar"] = ("`value.add(value, one)` inside a dispose scope, with a Scalar the caller holds", (value, one) =>
        {
            using var scope = NewDisposeScope();
            Touch(value.add(value, one));
        }),
    };

    private static void Touch(Tensor tensor) => _ = tensor.dtype == ScalarType.Float64 ? tensor.data<double>()[0] : tensor.data<float>()[0];

    public static int Main(string[] args)
    {
        var seconds = new Option<int>("--seconds") { Description = "How long each pattern runs", DefaultValueFactory = _ => 20 };
        var pattern = new Option<string?>("--pattern") { Description = "Run one pattern in this process (what the parent asks of each child)", Hidden = true };
        var root = new RootCommand(
            "Runs each way of handing tensors and scalars to libtorch under constant garbage collection, each in its own process, " +
            "and prints how many operations each did and how its process ended.")
        {
            seconds, pattern,
        };
        root.SetAction(parse => parse.GetValue(pattern) is { } one ? RunOne(one, parse.GetValue(seconds)) : RunAll(parse.GetValue(seconds)));
        return root.Parse(args).Invoke();
    }

    private static int RunAll(int seconds)
    {
        Console.WriteLine("| Pattern | What keeps the native objects alive | Operations (last count printed) | Ran for | Process ended |");
        Console.WriteLine("|---|---|---:|---:|---|");
        var crashed = 0;
        foreach (var (name, (description, _)) in Patterns)
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { typeof(Program).Assembly.Location, "--pattern", name, "--seconds", $"{seconds}" }) start.ArgumentList.Add(argument);
            var ran = Stopwatch.StartNew();
            using var child = Process.Start(start)!;
            var stderr = child.StandardError.ReadToEndAsync();
            var output = child.StandardOutput.ReadToEnd();
            child.WaitForExit();
            _ = stderr.Result;
            var operations = output.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("operations ", StringComparison.Ordinal))?["operations ".Length..] ?? "0";
            var ended = child.ExitCode switch
            {
                0 => "cleanly",
                139 => "**SIGSEGV**",
                134 => "**SIGABRT** (libtorch read a freed object and threw, uncaught)",
                var code => $"**exit {code}**",
            };
            if (child.ExitCode != 0) crashed++;
            Console.WriteLine($"| {name} | {description} | {operations} | {ran.Elapsed.TotalSeconds:F1} s | {ended} |");
        }
        Console.WriteLine();
        Console.WriteLine($"gc-race: {Patterns.Count} patterns, {crashed} crashed");
        return 0;
    }

    private static int RunOne(string name, int seconds)
    {
        if (!Patterns.TryGetValue(name, out var pattern))
        {
            Console.Error.WriteLine($"error: --pattern: '{name}' is not one of {string.Join(", ", Patterns.Keys)}.");
            return 2;
        }
        set_num_threads(1);
        var values = Enumerable.Range(0, 8).Select(_ => randn(256, 256)).ToArray();
        Scalar one = 1;
        var clock = Stopwatch.StartNew();
        long operations = 0;
        // Progress goes out as it comes, so that a crash still leaves the count reached.
        var workers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                foreach (var value in values) pattern.Work(value, one);
                var done = Interlocked.Add(ref operations, values.Length);
                if (done % 10_000 < values.Length) Console.WriteLine($"operations {done:N0}");
            }
        })).ToList();
        var collector = new Thread(() =>
        {
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        workers.ForEach(t => t.Start());
        collector.Start();
        workers.ForEach(t => t.Join());
        collector.Join();
        Console.WriteLine($"operations {Interlocked.Read(ref operations):N0}");
        GC.KeepAlive(one);
        return 0;
    }
}
