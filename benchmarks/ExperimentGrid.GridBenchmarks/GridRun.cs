using ExperimentGrid.Contracts;
using ExperimentGrid.TestSupport;

namespace ExperimentGrid.GridBenchmarks;

/// <summary>What the benchmark runs, the same for every silo count.</summary>
public sealed record Workload(int Trials, int TrainLimit, int ThreadsPerSilo)
{
    public const int EvalLimit = 64;
    public const int MaxLength = 64;
    public const int BatchSize = 16;
    public const string Dataset = "rotten_tomatoes";

    /// <summary>One trial per seed, so that every trial does the same work and only the grid varies between runs.</summary>
    public string Spec(string model) => SeedSweep("gridbench", model, TrainLimit, EvalLimit, MaxLength, BatchSize, Enumerable.Range(1, Trials), checkpointEvery: 0);

    /// <summary>A sweep of one-epoch MiniLM classification trials on <see cref="Dataset"/>, one per seed, with no retries.</summary>
    public static string SeedSweep(string name, string model, int trainLimit, int evalLimit, int maxLength, int batchSize, IEnumerable<int> seeds, int checkpointEvery) => $"""
        name: {name}
        trial:
          task: text-classification
          model: {model}
          dataset: {Dataset}
          train_limit: {trainLimit}
          eval_limit: {evalLimit}
          max_length: {maxLength}
          batch_size: {batchSize}
          epochs: 1
          test_split: none
        seeds: [{string.Join(", ", seeds)}]
        objective:
          metric: f1
          mode: max
        retries: 0
        checkpoint_every: {checkpointEvery}
        """;
}

/// <summary>What one silo count measured.</summary>
/// <param name="TrialStarts">Per silo, the trial attempts its slot started.</param>
/// <param name="Warnings">Per silo, the warnings and errors it logged between the submission and the sweep's end.</param>
public sealed record RunResult(int Silos, TimeSpan Healthy, TimeSpan Wall, IReadOnlyList<TrialTiming> Trials, CpuUse Cpu,
    IReadOnlyList<int> TrialStarts, IReadOnlyList<int> Warnings)
{
    /// <summary>One cpu:1 slot per silo.</summary>
    public int Slots => Silos;

    public double TrialSeconds => Trials.Sum(t => t.Seconds);

    public double Parallelism => TrialSeconds / Wall.TotalSeconds;

    /// <summary>Slot time not spent holding a trial, per trial: see <see cref="Report"/> for what it holds.</summary>
    public double IdleSlotSecondsPerTrial => (Slots * Wall.TotalSeconds - TrialSeconds) / Trials.Count;
}

/// <summary>Starts a cluster of silo processes on a new database, runs the sweep on it, and stops it.</summary>
public static class GridRun
{
    private static readonly TimeSpan SweepLimit = TimeSpan.FromMinutes(30);
    private const string SweepId = "gridbench";

    public static async Task<RunResult> MeasureAsync(int silos, Workload workload, BenchmarkPaths paths, string postgres, CancellationToken cancellationToken)
    {
        var runId = $"gridbench_{silos}_{Guid.NewGuid():N}"[..24];
        var logs = Directory.CreateDirectory(Path.Combine(paths.Logs, $"{silos}-silo{(silos == 1 ? "" : "s")}")).FullName;
        var checkpoints = Path.Combine(paths.Work, "checkpoints", runId);
        await using var database = await FreshDatabase.CreateAsync(postgres, runId, cancellationToken);
        var launch = new SiloLaunch(SiloExecutable.Silo,
            [.. SiloLaunch.PostgresArguments(database.ConnectionString, runId), "--slots", "cpu:1", "--checkpoints", checkpoints, "--data-root", paths.DataRoot],
            logs)
        {
            Environment = new Dictionary<string, string>
            {
                // The silos import nothing: the model is already in the cache this home names.
                ["EXPERIMENTGRID_HOME"] = paths.Home,
                // libtorch sizes its intra-op pool from these when it loads; by default each silo would take every core.
                ["OMP_NUM_THREADS"] = $"{workload.ThreadsPerSilo}",
                ["MKL_NUM_THREADS"] = $"{workload.ThreadsPerSilo}",
            },
        };
        try
        {
            await using var cluster = await Cluster.StartAsync(silos, launch, database.ConnectionString, runId, cancellationToken);
            BenchmarkHost.Progress($"{silos} silo(s) healthy after {cluster.Healthy.TotalSeconds:F1} s; submitting {workload.Trials} trials");
            try
            {
                // Start-up and shutdown warnings (a watchdog complaining of a slow start, a client's connection reset) are not the sweep's.
                var warningsBefore = cluster.Silos.Select(p => p.Warnings).ToList();
                var run = await cluster.RunSweepAsync(SweepId, new SweepSubmission("gridbench.yaml", workload.Spec(paths.Model)), SweepLimit, cancellationToken);
                var trials = await cluster.TrialTimingsAsync(run.End);
                return new RunResult(silos, cluster.Healthy, run.Wall, trials, run.Cpu, [.. cluster.Silos.Select(p => p.TrialStarts)],
                    [.. cluster.Silos.Select((p, i) => p.Warnings - warningsBefore[i])]);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw cluster.Failure(e);
            }
        }
        finally
        {
            // Every trial writes a checkpoint at its epoch's end, model and optimizer state, a few hundred MB each.
            if (Directory.Exists(checkpoints)) Directory.Delete(checkpoints, recursive: true);
        }
    }
}
