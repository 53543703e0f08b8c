using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using ExperimentGrid.Contracts;
using ExperimentGrid.TestSupport;
using static ExperimentGrid.TestSupport.BenchmarkHost;

namespace ExperimentGrid.Chaos;

/// <summary>The sweep both runs train: short MiniLM trials with mid-epoch checkpoints, one per seed.</summary>
public sealed record ChaosWorkload(int Trials)
{
    public const string Dataset = "rotten_tomatoes";
    public const int TrainLimit = 32;
    public const int BatchSize = 8;
    public const int Epochs = 2;
    public const int CheckpointEvery = 2;
    public const int Retries = 3;

    public int StepsPerTrial => TrainLimit / BatchSize * Epochs;

    public string Spec(string model) => $"""
        name: chaos
        trial:
          task: text-classification
          model: {model}
          dataset: {Dataset}
          train_limit: {TrainLimit}
          eval_limit: 16
          max_length: 32
          batch_size: {BatchSize}
          epochs: {Epochs}
          test_split: none
        seeds: [{string.Join(", ", Enumerable.Range(1, Trials))}]
        objective:
          metric: f1
          mode: max
        retries: {Retries}
        checkpoint_every: {CheckpointEvery}
        """;
}

public static class Program
{
    private const string Model = "minilm";
    private const int Silos = 3;
    private static readonly TimeSpan SweepLimit = TimeSpan.FromMinutes(40);

    public static Task<int> Main(string[] args)
    {
        var postgres = new Option<string>("--postgres")
        {
            Description = "PostgreSQL connection string of a role that may create databases: each run gets a new database beside the one named, " +
                          "dropped afterwards. The server is restarted mid-sweep (--postgres-restart): do not point this at a server others use.",
            Required = true,
        };
        var seed = new Option<int>("--seed") { Description = "Seed of the fault schedule: which silo each fault hits, in which order and at which gaps", DefaultValueFactory = _ => 1 };
        var restart = new Option<string>("--postgres-restart")
        {
            Description = "Shell command that restarts the PostgreSQL server behind --postgres, and returns once it accepts connections again",
            DefaultValueFactory = _ => "pg_ctlcluster 15 main restart",
        };
        var trials = new Option<int>("--trials") { Description = "MiniLM trials in the sweep, one per seed", DefaultValueFactory = _ => 30 };
        trials.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1) result.AddError($"--trials: must be at least 1, got {result.GetValueOrDefault<int>()}.");
        });
        var lease = new Option<int>("--lease") { Description = "The silos' --lease in seconds; the zombie stays stopped for more than twice this", DefaultValueFactory = _ => 5 };
        lease.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1) result.AddError($"--lease: must be at least 1 second, got {result.GetValueOrDefault<int>()}.");
        });
        var noBaseline = new Option<bool>("--no-baseline") { Description = "Skip the fault-free run of the same sweep that the wall time is compared with" };
        var root = new RootCommand(
            "Runs a sweep of short MiniLM trials on 3 silo processes and PostgreSQL while a seeded schedule of faults hits it: 10 SIGKILLs, a zombie " +
            "silo (SIGSTOP past the lease, then SIGCONT), a PostgreSQL restart, a full checkpoint directory (a filled tmpfs over it; needs root) and a " +
            "corrupt checkpoint. Prints what survived, against a fault-free run of the same sweep.")
        {
            postgres, seed, restart, trials, lease, noBaseline,
        };
        root.SetAction((parse, cancellationToken) => RunAsync(parse.GetValue(postgres)!, parse.GetValue(seed), parse.GetValue(restart)!,
            new ChaosWorkload(parse.GetValue(trials)), TimeSpan.FromSeconds(parse.GetValue(lease)), !parse.GetValue(noBaseline), args, cancellationToken));
        return root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(15) });
    }

    private static Task<int> RunAsync(string postgres, int seed, string restartCommand, ChaosWorkload workload, TimeSpan lease, bool baseline,
        string[] args, CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        return BenchmarkHost.RunAsync(async () =>
        {
            var server = FreshDatabase.Describe(postgres);
            await FreshDatabase.CheckAsync(postgres, cancellationToken);
            var paths = BenchmarkPaths.Prepare(Path.Combine(Path.GetTempPath(), "experimentgrid-chaos"), Model, ChaosWorkload.Dataset);
            Progress($"PostgreSQL at {server}; silo logs in {paths.Logs}");

            ChaosResult? clean = null;
            if (baseline)
            {
                Progress("fault-free run");
                clean = await RunOnceAsync("baseline", null, workload, lease, paths, postgres, cancellationToken);
                Progress($"fault-free run: {clean.Wall.TotalSeconds:F0} s, {clean.Completed} of {clean.Trials} trials completed");
            }
            Progress($"run with faults, seed {seed}");
            var chaos = await RunOnceAsync("faults", (checkpoints, _) => new ChaosPlan(seed, lease, checkpoints,
                token => PrivatePostgres.RunAsync("bash", ["-c", restartCommand], token)), workload, lease, paths, postgres, cancellationToken);
            Console.Out.Write(Render(BenchmarkHost.CommandLine("benchmarks/ExperimentGrid.Chaos", args), server, workload, lease, seed, clean, chaos, total.Elapsed));
            Progress($"done in {total.Elapsed.TotalMinutes:F1} min; silo logs in {paths.Logs}");
            return chaos.Lost.Count == 0 && chaos.Duplicated.Count == 0 ? 0 : 1;
        }, cancellationToken);
    }


    /// <summary>A new database and cluster of <see cref="Silos"/> silos, the sweep run on it under the plan (none: fault-free), and everything removed after.</summary>
    private static async Task<ChaosResult> RunOnceAsync(string name, Func<string, string, ChaosPlan>? plan, ChaosWorkload workload, TimeSpan lease,
        BenchmarkPaths paths, string postgres, CancellationToken cancellationToken)
    {
        var runId = $"chaos_{name}_{Guid.NewGuid():N}"[..24];
        var checkpoints = Directory.CreateDirectory(Path.Combine(paths.Work, "checkpoints", runId)).FullName;
        await using var database = await FreshDatabase.CreateAsync(postgres, runId, cancellationToken);
        var launch = new SiloLaunch(SiloExecutable.Silo,
            [.. SiloLaunch.PostgresArguments(database.ConnectionString, runId), "--slots", "cpu:1", "--checkpoints", checkpoints,
             "--data-root", paths.DataRoot, "--lease", $"{lease.TotalSeconds}"],
            Path.Combine(paths.Logs, name))
        {
            Environment = new Dictionary<string, string>
            {
                ["EXPERIMENTGRID_HOME"] = paths.Home,
                // One libtorch thread each: by default every silo would take every core.
                ["OMP_NUM_THREADS"] = "1",
                ["MKL_NUM_THREADS"] = "1",
            },
        };
        try
        {
            await using var cluster = await Cluster.StartAsync(Silos, launch, database.ConnectionString, runId, cancellationToken);
            Progress($"{name}: {Silos} silos healthy after {cluster.Healthy.TotalSeconds:F0} s; submitting {workload.Trials} trials");
            try
            {
                return await ChaosRun.RunAsync(cluster, "chaos", new SweepSubmission("chaos.yaml", workload.Spec(paths.Model)),
                    plan?.Invoke(checkpoints, database.ConnectionString), SweepLimit, message => Progress($"{name}: {message}"), cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw cluster.Failure(e);
            }
        }
        finally
        {
            if (Directory.Exists(checkpoints)) Directory.Delete(checkpoints, recursive: true);
        }
    }

    private static string Render(string command, string server, ChaosWorkload workload, TimeSpan lease, int seed, ChaosResult? clean, ChaosResult chaos, TimeSpan total)
    {
        var text = new StringBuilder();
        void Line(string line = "") => text.Append(line).Append('\n');
        Line($"## ExperimentGrid chaos benchmark, seed {seed}");
        Line();
        Line($"- Command: `{command}`");
        Line($"- PostgreSQL: {server}. Silos: {Silos} processes, `dotnet ExperimentGrid.Silo.dll --slots cpu:1 --lease {lease.TotalSeconds:F0}`, one libtorch thread each.");
        Line($"- Sweep: {workload.Trials} trials (seeds 1 to {workload.Trials}) fine-tuning MiniLM on {ChaosWorkload.Dataset}: {ChaosWorkload.TrainLimit} examples, " +
             $"batch {ChaosWorkload.BatchSize}, {ChaosWorkload.Epochs} epochs ({workload.StepsPerTrial} steps), a checkpoint every {ChaosWorkload.CheckpointEvery} steps, " +
             $"{ChaosWorkload.Retries} retries.");
        Line($"- Machine: {Machine.CpuModel()}, {Environment.ProcessorCount} logical cores; {RuntimeInformation.OSDescription}; {RuntimeInformation.FrameworkDescription}. " +
             $"The benchmark took {total.TotalMinutes:F1} min.");
        Line();
        Line("| Fault | Injected |");
        Line("|---|---:|");
        (FaultKind Kind, string Name)[] kinds =
        [
            (FaultKind.SiloKill, "SIGKILL of a random silo, started again"),
            (FaultKind.Zombie, "zombie: SIGSTOP of a training silo past its lease, then SIGCONT"),
            (FaultKind.PostgresRestart, "PostgreSQL restart"),
            (FaultKind.FullDisk, "checkpoint directory full (filled 64 KiB tmpfs over it)"),
            (FaultKind.CorruptCheckpoint, "latest checkpoint of a running trial truncated, its silo killed"),
        ];
        foreach (var (kind, name) in kinds) Line($"| {name} | {chaos.Injected(kind)} |");
        Line($"| **all** | **{chaos.Faults.Count}** |");
        Line();
        Line("| Outcome | With faults | Fault-free |");
        Line("|---|---:|---:|");
        string Clean(Func<ChaosResult, object> value) => clean is null ? "not run" : Convert.ToString(value(clean), CultureInfo.InvariantCulture)!;
        Line($"| trials | {chaos.Trials} | {Clean(r => r.Trials)} |");
        Line($"| completed | {chaos.Completed} | {Clean(r => r.Completed)} |");
        Line($"| lost (not completed, or not on the leaderboard) | {chaos.Lost.Count} | {Clean(r => r.Lost.Count)} |");
        Line($"| on the leaderboard more than once | {chaos.Duplicated.Count} | {Clean(r => r.Duplicated.Count)} |");
        Line($"| leaderboard rows whose model is not the trial's final one, or is gone | {chaos.StaleModels.Count} | {Clean(r => r.StaleModels.Count)} |");
        Line($"| resumed from a checkpoint | {chaos.Resumed.Count} | {Clean(r => r.Resumed.Count)} |");
        Line($"| steps redone (of {workload.Trials * workload.StepsPerTrial}; seen by polling every 0.5 s, a lower bound) | {chaos.StepsRedone} | {Clean(r => r.StepsRedone)} |");
        Line($"| attempts beyond each trial's first | {chaos.ExtraAttempts} | {Clean(r => r.ExtraAttempts)} |");
        Line($"| failed attempts (each spends one of its trial's retries) | {chaos.Failures.Count} | {Clean(r => r.Failures.Count)} |");
        Line($"| unreadable resume checkpoints dropped (trial restarted from step 0) | {chaos.CheckpointsDropped} | {Clean(r => r.CheckpointsDropped)} |");
        Line($"| checkpoint writes that failed and were skipped (full disk, or a stale attempt's folder pruned) | {chaos.CheckpointsRefused} | {Clean(r => r.CheckpointsRefused)} |");
        Line($"| silos that exited without a fault killing them | {chaos.UnexpectedExits.Count} | {Clean(r => r.UnexpectedExits.Count)} |");
        var slower = clean is null ? "" : $" ({chaos.Wall.TotalSeconds / clean.Wall.TotalSeconds:F2}× the fault-free run)";
        Line($"| sweep wall time | {chaos.Wall.TotalSeconds:F0} s{slower} | {Clean(r => $"{r.Wall.TotalSeconds:F0} s")} |");
        Line();
        Line("Faults in order (seconds from the submission):");
        Line();
        foreach (var fault in chaos.Faults) Line($"- {fault.At.TotalSeconds:F0} s, {fault.Kind}: {fault.Detail}");
        foreach (var lost in chaos.Lost) Line($"- LOST: {lost}");
        foreach (var duplicated in chaos.Duplicated) Line($"- DUPLICATED: {duplicated}");
        foreach (var stale in chaos.StaleModels) Line($"- STALE MODEL: {stale}");
        foreach (var exit in chaos.UnexpectedExits) Line($"- UNEXPECTED EXIT: {exit}");
        foreach (var (error, count) in chaos.Failures.CountBy(e => e.Length > 100 ? e[..100] + "…" : e)) Line($"- attempt failed ×{count}: {error}");
        Line();
        Line(chaos.Summary);
        return text.ToString();
    }
}
