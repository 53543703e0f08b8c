using System.Diagnostics;
using ExperimentGrid.Contracts;
using ExperimentGrid.Runtime.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace ExperimentGrid.TestSupport;

/// <summary>A sweep run to its end: how long its submission took, and its wall time from submission to the first poll that found it ended.</summary>
public sealed record SweepRun(TimeSpan Submit, TimeSpan Wall, SweepSnapshot End, CpuUse Cpu);

/// <summary>One trial's record, as its grain kept it.</summary>
public sealed record TrialTiming(string TrialId, double Seconds, int Attempts);

/// <summary>Cores busy on average during the sweep: in the silo processes, and elsewhere on the machine (null off Linux).</summary>
public sealed record CpuUse(double Silos, double? Elsewhere);

/// <summary>
/// Silo processes of one new cluster on a new database, with this process's Orleans client connected to them. Any
/// failure comes back as a <see cref="BenchmarkException"/> carrying the tails of the silos' logs.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan StartLimit = TimeSpan.FromMinutes(3);

    private readonly IHost _client;
    private readonly SiloLaunch _launch;
    private readonly List<SiloProcess> _silos;

    private Cluster(List<SiloProcess> silos, TimeSpan healthy, IHost client, SiloLaunch launch) =>
        (_silos, Healthy, _client, _launch) = (silos, healthy, client, launch);

    /// <summary>The silos as they are now: one started again by <see cref="Restart"/> replaces the one it follows.</summary>
    public IReadOnlyList<SiloProcess> Silos => [.. _silos];

    /// <summary>From starting the processes until every silo answered /healthz.</summary>
    public TimeSpan Healthy { get; }

    public string Logs => _launch.Logs;

    public IGrainFactory Grains => _client.Services.GetRequiredService<IClusterClient>();

    /// <summary>CPU time the silos have used so far, all of them together.</summary>
    public TimeSpan CpuTime => Silos.Aggregate(TimeSpan.Zero, (sum, silo) => sum + silo.CpuTime);

    /// <summary>Starts <paramref name="count"/> silos of <paramref name="launch"/>, waits until they are healthy and connects a client.</summary>
    public static async Task<Cluster> StartAsync(int count, SiloLaunch launch, string postgres, string clusterId, CancellationToken cancellationToken)
    {
        var silos = new List<SiloProcess>();
        try
        {
            var starting = Stopwatch.StartNew();
            for (var i = 0; i < count; i++) silos.Add(SiloProcess.Start(launch));
            await Task.WhenAll(silos.Select(p => p.WaitHealthyAsync(StartLimit, cancellationToken)));
            var healthy = starting.Elapsed;
            var client = await ConnectAsync(postgres, clusterId, cancellationToken);
            return new Cluster(silos, healthy, client, launch);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var failure = Failure(e, silos, launch.Logs);
            foreach (var silo in silos) silo.Dispose();
            throw failure;
        }
        catch
        {
            foreach (var silo in silos) silo.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts silo <paramref name="index"/> again, after it exited or was killed, on its ports (its log goes on in the
    /// same file), and waits until it is healthy.
    /// </summary>
    public async Task<SiloProcess> Restart(int index, CancellationToken cancellationToken)
    {
        var old = _silos[index];
        if (!old.HasExited) throw new InvalidOperationException($"silo on port {old.SiloPort} is still running; kill it first.");
        old.Dispose();
        var silo = SiloProcess.Start(_launch, old.Ports);
        _silos[index] = silo;
        await silo.WaitHealthyAsync(StartLimit, cancellationToken);
        return silo;
    }

    /// <summary>What the silos logged is the only account of a failure in other processes.</summary>
    public BenchmarkException Failure(Exception e) => Failure(e, Silos, Logs);

    private static BenchmarkException Failure(Exception e, IReadOnlyList<SiloProcess> silos, string logs) =>
        new($"{e.Message}\n{string.Join('\n', silos.Select(p => p.Tail(30)))}\n(whole logs in {logs})");

    /// <summary>
    /// The call's result, or an error naming the silo that exited meanwhile: any silo that exits spoils the
    /// measurement, and a call to a grain it held would only time out 30 s later.
    /// </summary>
    public async Task<T> UnlessASiloExits<T>(Task<T> call, string when)
    {
        await UnlessASiloExits((Task)call, when);
        return await call;
    }

    public async Task UnlessASiloExits(Task call, string when)
    {
        var anyExit = Task.WhenAny(Silos.Select(s => s.ExitAsync()));
        if (await Task.WhenAny(call, anyExit) != call)
            foreach (var silo in Silos) silo.EnsureRunning(when);
        await call;
    }

    /// <summary>Submits a sweep and polls it every <see cref="PollInterval"/> until it has ended, or fails after <paramref name="limit"/>.</summary>
    public async Task<SweepRun> RunSweepAsync(string sweepId, SweepSubmission submission, TimeSpan limit, CancellationToken cancellationToken)
    {
        var sweep = Grains.GetGrain<ISweepGrain>(sweepId);
        // The machine's CPU time less the silos' is PostgreSQL, this client and whatever else ran: a job sharing the CPU shows there.
        var machineBefore = Machine.BusyCpuTime();
        var silosBefore = CpuTime;
        var clock = Stopwatch.StartNew();
        await UnlessASiloExits(sweep.SubmitAsync(submission), "during the submission");
        var submitted = clock.Elapsed;
        SweepSnapshot end;
        while (true)
        {
            end = await UnlessASiloExits(sweep.GetAsync(), "during the sweep");
            if (end.Status is SweepStatus.Finished or SweepStatus.Cancelled) break;
            if (clock.Elapsed > limit)
            {
                var unfinished = end.Trials.Where(t => !t.Status.IsFinal());
                throw new BenchmarkException($"the sweep did not end within {limit.TotalMinutes:F0} minutes ({end.Trials.Count} trials created); " +
                    $"not ended: {string.Join(", ", unfinished.Select(t => $"{t.TrialId}={t.Status}"))}");
            }
            await Task.Delay(PollInterval, cancellationToken);
        }
        var wall = clock.Elapsed;
        var siloSeconds = (CpuTime - silosBefore).TotalSeconds;
        var machineSeconds = (Machine.BusyCpuTime() - machineBefore)?.TotalSeconds;
        return new SweepRun(submitted, wall, end, new CpuUse(siloSeconds / wall.TotalSeconds, (machineSeconds - siloSeconds) / wall.TotalSeconds));
    }

    /// <summary>Each trial's record as its grain kept it; a trial that did not complete fails the benchmark, naming its error.</summary>
    public async Task<List<TrialTiming>> TrialTimingsAsync(SweepSnapshot sweep)
    {
        var trials = new List<TrialTiming>();
        foreach (var trial in sweep.Trials)
        {
            var snapshot = await Grains.GetGrain<ITrialGrain>(TrialKeys.Format(sweep.SweepId, trial.TrialId)).GetAsync();
            if (snapshot is not { Status: TrialStatus.Completed, Outcome: { } outcome })
                throw new BenchmarkException($"trial {trial.TrialId} ended {snapshot.Status} after {snapshot.Attempts} attempt(s): {snapshot.Error ?? "no error recorded"}");
            trials.Add(new TrialTiming(trial.TrialId, outcome.Seconds, snapshot.Attempts));
        }
        return trials;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _client.StopAsync(CancellationToken.None);
        }
        finally
        {
            _client.Dispose();
            foreach (var silo in _silos) silo.Dispose();
        }
    }

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
