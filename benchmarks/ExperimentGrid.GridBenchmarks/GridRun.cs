using System.Diagnostics;
using ExperimentGrid.Contracts;
using ExperimentGrid.Runtime.Slots;
using ExperimentGrid.Runtime.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace ExperimentGrid.GridBenchmarks;

/// <summary>What the benchmark runs, the same for every silo count.</summary>
public sealed record Workload(int Trials, int TrainLimit, int ThreadsPerSilo)
{
    public const int EvalLimit = 64;
    public const int MaxLength = 64;
    public const int BatchSize = 16;
    public const string Dataset = "rotten_tomatoes";

    /// <summary>One trial per seed, so that every trial does the same work and only the grid varies between runs.</summary>
    public string Spec(string model) => $"""
        name: gridbench
        trial:
          task: text-classification
          model: {model}
          dataset: {Dataset}
          train_limit: {TrainLimit}
          eval_limit: {EvalLimit}
          max_length: {MaxLength}
          batch_size: {BatchSize}
          epochs: 1
          test_split: none
        seeds: [{string.Join(", ", Enumerable.Range(1, Trials))}]
        objective:
          metric: f1
          mode: max
        retries: 0
        checkpoint_every: 0
        """;
}

/// <summary>One trial's record, as its grain kept it.</summary>
public sealed record TrialTiming(string TrialId, double Seconds, int Attempts);

/// <summary>Cores busy on average during the sweep: in the silo processes, and elsewhere on the machine (null off Linux).</summary>
public sealed record CpuUse(double Silos, double? Elsewhere);

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
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan StartLimit = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan SweepLimit = TimeSpan.FromMinutes(30);
    private const string SweepId = "gridbench";

    public static async Task<RunResult> MeasureAsync(int silos, Workload workload, BenchmarkPaths paths, string postgres, CancellationToken cancellationToken)
    {
        var runId = $"gridbench_{silos}_{Guid.NewGuid():N}"[..24];
        var logs = Directory.CreateDirectory(Path.Combine(paths.Logs, $"{silos}-silo{(silos == 1 ? "" : "s")}")).FullName;
        var checkpoints = Path.Combine(paths.Work, "checkpoints", runId);
        await using var database = await FreshDatabase.CreateAsync(postgres, runId, cancellationToken);
        var launch = new SiloLaunch(database.ConnectionString, runId, paths.Home, paths.DataRoot, checkpoints, logs, workload.ThreadsPerSilo);
        var processes = new List<SiloProcess>();
        try
        {
            var starting = Stopwatch.StartNew();
            for (var i = 0; i < silos; i++) processes.Add(SiloProcess.Start(launch));
            await Task.WhenAll(processes.Select(p => p.WaitHealthyAsync(StartLimit, cancellationToken)));
            var healthy = starting.Elapsed;
            Program.Progress($"{silos} silo(s) healthy after {healthy.TotalSeconds:F1} s; submitting {workload.Trials} trials");

            var client = await ConnectAsync(database.ConnectionString, runId, cancellationToken);
            try
            {
                var grains = client.Services.GetRequiredService<IClusterClient>();
                // Start-up and shutdown warnings (a watchdog complaining of a slow start, a client's connection reset) are not the sweep's.
                var warningsBefore = processes.Select(p => p.Warnings).ToList();
                var (wall, trials, cpu) = await RunSweepAsync(grains, workload, paths.Model, processes, cancellationToken);
                return new RunResult(silos, healthy, wall, trials, cpu, [.. processes.Select(p => p.TrialStarts)],
                    [.. processes.Select((p, i) => p.Warnings - warningsBefore[i])]);
            }
            finally
            {
                await client.StopAsync(CancellationToken.None);
                client.Dispose();
            }
        }
        catch (Exception e) when (e is not OperationCanceledException && processes.Count > 0)
        {
            // What the silos logged is the only account of a failure in other processes.
            throw new BenchmarkException($"{e.Message}\n{string.Join('\n', processes.Select(p => p.Tail(30)))}\n(whole logs in {logs})");
        }
        finally
        {
            foreach (var process in processes) process.Dispose();
            // Every trial writes a checkpoint at its epoch's end, model and optimizer state, a few hundred MB each.
            if (Directory.Exists(checkpoints)) Directory.Delete(checkpoints, recursive: true);
        }
    }

    private static async Task<(TimeSpan Wall, List<TrialTiming> Trials, CpuUse Cpu)> RunSweepAsync(
        IGrainFactory grains, Workload workload, string model, IReadOnlyList<SiloProcess> silos, CancellationToken cancellationToken)
    {
        var sweep = grains.GetGrain<ISweepGrain>(SweepId);
        // The machine's CPU time less the silos' is PostgreSQL, this client and whatever else ran: a job sharing the CPU shows there.
        var machineBefore = Machine.BusyCpuTime();
        var silosBefore = SilosCpuTime(silos);
        // Any silo that exits spoils the measurement; a call to a grain it held would only time out 30 s later.
        var anyExit = Task.WhenAny(silos.Select(s => s.ExitAsync()));
        async Task<T> UnlessASiloExits<T>(Task<T> call)
        {
            if (await Task.WhenAny(call, anyExit) != call)
                foreach (var silo in silos) silo.EnsureRunning("during the sweep");
            return await call;
        }

        var clock = Stopwatch.StartNew();
        await UnlessASiloExits(sweep.SubmitAsync(new SweepSubmission("gridbench.yaml", workload.Spec(model))));
        SweepSnapshot end;
        while (true)
        {
            end = await UnlessASiloExits(sweep.GetAsync());
            if (end.Status is SweepStatus.Finished or SweepStatus.Cancelled) break;
            if (clock.Elapsed > SweepLimit)
                throw new BenchmarkException($"the sweep did not end within {SweepLimit.TotalMinutes:F0} minutes: {string.Join(", ", end.Trials.Select(t => $"{t.TrialId}={t.Status}"))}");
            await Task.Delay(PollInterval, cancellationToken);
        }
        var wall = clock.Elapsed;
        var siloSeconds = (SilosCpuTime(silos) - silosBefore).TotalSeconds;
        var machineSeconds = (Machine.BusyCpuTime() - machineBefore)?.TotalSeconds;
        var cpu = new CpuUse(siloSeconds / wall.TotalSeconds, (machineSeconds - siloSeconds) / wall.TotalSeconds);

        var trials = new List<TrialTiming>();
        foreach (var trial in end.Trials)
        {
            var snapshot = await grains.GetGrain<ITrialGrain>(TrialKeys.Format(SweepId, trial.TrialId)).GetAsync();
            if (snapshot is not { Status: TrialStatus.Completed, Outcome: { } outcome })
                throw new BenchmarkException($"trial {trial.TrialId} ended {snapshot.Status} after {snapshot.Attempts} attempt(s): {snapshot.Error ?? "no error recorded"}");
            trials.Add(new TrialTiming(trial.TrialId, outcome.Seconds, snapshot.Attempts));
        }
        return (wall, trials, cpu);
    }

    private static TimeSpan SilosCpuTime(IReadOnlyList<SiloProcess> silos) => silos.Aggregate(TimeSpan.Zero, (sum, silo) => sum + silo.CpuTime);

    private static async Task<IHost> ConnectAsync(string postgres, string clusterId, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder();
        // Stdout is the report alone; the client's warnings go to stderr with the progress lines.
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, clusterId));
            client.UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = (GridDatabase.Invariant, postgres));
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            host.Dispose();
            throw new BenchmarkException($"cannot connect an Orleans client to the silos: {e.Message}");
        }
        return host;
    }
}
