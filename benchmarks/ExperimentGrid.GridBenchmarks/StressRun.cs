using System.Diagnostics;
using System.Text.RegularExpressions;
using ExperimentGrid.Contracts;
using ExperimentGrid.TestSupport;

namespace ExperimentGrid.GridBenchmarks;

/// <summary>
/// The crash hunt: many short MiniLM trials on one silo process that runs as deployed (server GC), with two slot
/// threads training side by side, a mid-epoch checkpoint, an evaluation and a model save in every trial, and heartbeats
/// throughout. Two training threads matter: a garbage collection that one thread's allocations start can run while the
/// other thread is inside a libtorch call.
/// </summary>
/// <param name="Gen0Bytes">DOTNET_GCgen0size for the silos: a small gen0 budget collects more often.</param>
/// <param name="GcHammer">Load ExperimentGrid.GcHammer into the silos: a thread that collects and finalizes in a loop.</param>
public sealed record StressWorkload(int Trials, int Slots, long? Gen0Bytes, bool GcHammer)
{
    public const string GcHammerAssembly = "ExperimentGrid.GcHammer.dll";

    public const int TrainLimit = 16;
    public const int EvalLimit = 16;
    public const int MaxLength = 24;
    public const int BatchSize = 4;
    public const int CheckpointEvery = 2;

    /// <summary>A sweep of <paramref name="count"/> trials, one per seed from <paramref name="firstSeed"/>: each trial does the same work.</summary>
    public string Spec(string model, int firstSeed, int count) =>
        Workload.SeedSweep("stress", model, TrainLimit, EvalLimit, MaxLength, BatchSize, Enumerable.Range(firstSeed, count), CheckpointEvery);
}

/// <summary>A silo that died on its own: its exit code, the kernel's account of a fault if it logged one, and its last log lines.</summary>
public sealed record SiloCrash(int ExitCode, int CompletedBefore, string? KernelLine, string Tail)
{
    public string Signal => ExitCode switch
    {
        139 => "SIGSEGV",
        134 => "SIGABRT",
        137 => "SIGKILL",
        135 => "SIGBUS",
        > 128 => $"signal {ExitCode - 128}",
        _ => $"exit {ExitCode}",
    };
}

/// <param name="Failures">Each failed trial's error, first line: a trial the race hit fails with what libtorch read, where the silo survives.</param>
public sealed record StressResult(int Completed, IReadOnlyList<string> Failures, IReadOnlyList<SiloCrash> Crashes, int SiloStarts, TimeSpan Wall);

/// <summary>
/// Runs trials in rounds until <see cref="StressWorkload.Trials"/> have completed. A round is one silo and one sweep of
/// the trials still to run; a silo that dies ends its round, is counted as a crash and a new round starts on a new silo.
/// The grid's own recovery is the chaos benchmark's subject; here only the crashes count.
/// </summary>
public static partial class StressRun
{
    private static readonly TimeSpan RoundLimit = TimeSpan.FromHours(2);

    public static async Task<StressResult> RunAsync(StressWorkload workload, BenchmarkPaths paths, string postgres, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var crashes = new List<SiloCrash>();
        var failures = new List<string>();
        var (completed, rounds) = (0, 0);
        while (completed + failures.Count < workload.Trials)
        {
            rounds++;
            var runId = $"stress_{rounds}_{Guid.NewGuid():N}"[..24];
            var checkpoints = Path.Combine(paths.Work, "checkpoints", runId);
            var kernelBefore = KernelFaults();
            await using var database = await FreshDatabase.CreateAsync(postgres, runId, cancellationToken);
            var launch = Launch(workload, paths, database.ConnectionString, runId, checkpoints);
            try
            {
                await using var cluster = await Cluster.StartAsync(1, launch, database.ConnectionString, runId, cancellationToken);
                var silo = cluster.Silos[0];
                var remaining = workload.Trials - completed - failures.Count;
                BenchmarkHost.Progress($"round {rounds}: {remaining} trials on a silo with {workload.Slots} slots");
                var sweep = cluster.Grains.GetGrain<ISweepGrain>(runId);
                await cluster.UnlessASiloExits(sweep.SubmitAsync(new SweepSubmission("stress.yaml", workload.Spec(paths.Model, completed + failures.Count + 1, remaining))), "during the submission");
                var roundCompleted = 0;
                SweepSnapshot? last = null;
                var reported = 0;
                var round = Stopwatch.StartNew();
                while (true)
                {
                    await Task.WhenAny(silo.ExitAsync(), Task.Delay(TimeSpan.FromSeconds(1), cancellationToken));
                    if (silo.HasExited)
                    {
                        var crash = new SiloCrash(silo.ExitCode, completed + roundCompleted, KernelFaults().Except(kernelBefore).LastOrDefault(), silo.Tail(15));
                        crashes.Add(crash);
                        BenchmarkHost.Progress($"round {rounds}: the silo died ({crash.Signal}) after {completed + roundCompleted} trials in all; {crash.KernelLine ?? "no kernel line"}");
                        break;
                    }
                    var snapshot = last = await cluster.UnlessASiloExits(sweep.GetAsync(), "during the sweep");
                    roundCompleted = snapshot.Trials.Count(t => t.Status == TrialStatus.Completed);
                    if (completed + roundCompleted >= reported + 25)
                    {
                        reported = completed + roundCompleted;
                        BenchmarkHost.Progress($"{reported} trials completed, {crashes.Count} crash(es), {clock.Elapsed.TotalMinutes:F1} min");
                    }
                    if (snapshot.Status is SweepStatus.Finished or SweepStatus.Cancelled) break;
                    if (round.Elapsed > RoundLimit) throw new BenchmarkException($"round {rounds} did not end within {RoundLimit.TotalHours:F0} h");
                }
                completed += roundCompleted;
                if (!silo.HasExited && last is not null)
                    foreach (var trial in last.Trials.Where(t => t.Status == TrialStatus.Failed))
                    {
                        var record = await cluster.Grains.GetGrain<ITrialGrain>(TrialKeys.Format(runId, trial.TrialId)).GetAsync();
                        failures.Add($"{trial.TrialId}: {record.Error?.Split('\n')[0] ?? "no error recorded"}");
                    }
            }
            catch (SiloProcessException e)
            {
                // The silo died between two polls, during a call: the next loop turn would have seen it exit.
                throw new BenchmarkException($"round {rounds}: {e.Message}");
            }
            finally
            {
                // Each trial leaves its model (about 90 MB); a round's run directory holds them all.
                if (Directory.Exists(checkpoints)) Directory.Delete(checkpoints, recursive: true);
            }
        }
        return new StressResult(completed, failures, crashes, rounds, clock.Elapsed);
    }

    private static SiloLaunch Launch(StressWorkload workload, BenchmarkPaths paths, string postgres, string runId, string checkpoints)
    {
        var environment = new Dictionary<string, string>
        {
            ["EXPERIMENTGRID_HOME"] = paths.Home,
            // One libtorch thread per slot: the two slots then share the two cores without oversubscribing them.
            ["OMP_NUM_THREADS"] = "1",
            ["MKL_NUM_THREADS"] = "1",
        };
        if (workload.Gen0Bytes is { } gen0) environment["DOTNET_GCgen0size"] = $"{gen0:X}";
        if (workload.GcHammer) environment["DOTNET_STARTUP_HOOKS"] = Path.Combine(AppContext.BaseDirectory, StressWorkload.GcHammerAssembly);
        return new SiloLaunch(SiloExecutable.Silo,
            [.. SiloLaunch.PostgresArguments(postgres, runId), "--slots", $"cpu:{workload.Slots}", "--checkpoints", checkpoints, "--data-root", paths.DataRoot],
            paths.Logs)
        {
            Environment = environment,
        };
    }

    /// <summary>The kernel's segfault lines for dotnet processes, where dmesg may be read; none elsewhere.</summary>
    private static IReadOnlyList<string> KernelFaults()
    {
        try
        {
            using var dmesg = Process.Start(new ProcessStartInfo("dmesg") { RedirectStandardOutput = true, RedirectStandardError = true });
            if (dmesg is null) return [];
            var lines = dmesg.StandardOutput.ReadToEnd().Split('\n');
            dmesg.WaitForExit();
            return [.. lines.Where(l => SegfaultLine().IsMatch(l)).Select(l => l.Trim())];
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return [];
        }
    }

    [GeneratedRegex(@"dotnet\[\d+\]: segfault at")]
    private static partial Regex SegfaultLine();
}
