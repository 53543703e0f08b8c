using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Import;
using ExperimentGrid.Runtime.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace ExperimentGrid.Grid.Tests;

/// <summary>Two silo processes on one PostgreSQL database; one is killed with SIGKILL while it trains.</summary>
[Collection(SiloCollection.Name)]
public sealed class SiloFailoverTests
{
    private const string ClusterId = "failover";

    [PostgresFact]
    public async Task A_trial_on_a_killed_silo_resumes_from_its_checkpoint_on_the_other_and_each_trial_is_ranked_once()
    {
        using var directory = new TemporaryDirectory();
        await using var database = await TestPostgres.CreateDatabaseAsync();
        // Each silo process imports nothing: the model is imported here, into the cache its EXPERIMENTGRID_HOME names.
        var home = Path.Combine(directory.Path, "home");
        var model = BundledModels.EnsureImported(BundledModels.Find("minilm")!, cacheRoot: Path.Combine(home, "models"));
        var dataRoot = GridWorld.DataRoot(directory.Path);
        var checkpoints = Path.Combine(directory.Path, "checkpoints");
        var logs = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "failover-logs", $"{DateTime.UtcNow:yyyyMMdd-HHmmss}")).FullName;

        using var first = SiloProcess.Start(database.ConnectionString, home, dataRoot, checkpoints, logs);
        using var second = SiloProcess.Start(database.ConnectionString, home, dataRoot, checkpoints, logs);
        try
        {
            await first.WaitHealthyAsync();
            await second.WaitHealthyAsync();

            using var client = await ConnectAsync(database.ConnectionString);
            var grains = client.Services.GetRequiredService<IClusterClient>();
            var sweep = grains.GetGrain<ISweepGrain>("failover");
            // 96 examples in batches of 8: 12 steps an epoch, 48 in all, a checkpoint every 5 steps and at each epoch's end.
            var spec = GridWorld.TinySpec("failover", "  learning_rate: [2.0e-5, 5.0e-5]", epochs: 4, retries: 0)
                .Replace(GridWorld.MiniLmDirectory, model, StringComparison.Ordinal)
                .Replace("train_limit: 32", "train_limit: 96", StringComparison.Ordinal) + "\ncheckpoint_every: 5\n";
            await sweep.SubmitAsync(new SweepSubmission("failover.yaml", spec));

            // Wait for a trial that has a checkpoint and steps left, then kill the silo training it.
            var (victimTrial, victimSilo, checkpointStep) = await WaitForCheckpointedTrialAsync(grains, first, second);
            victimSilo.Kill();

            // A hang guard, not a timing: on a quiet 2-core machine the sweep ends about a minute after the kill.
            var end = await GridWorld.WaitForEndAsync(sweep, TimeSpan.FromMinutes(15));
            Assert.Equal(SweepStatus.Finished, end.Status);
            Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
            var entries = await grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).TopAsync("failover", 100);
            Assert.Equal(end.Trials.Select(t => t.TrialId).Order(), entries.Select(e => e.TrialId).Order());
            var resumed = await grains.GetGrain<ITrialGrain>(TrialKeys.Format("failover", victimTrial)).GetAsync();
            Assert.True(resumed.Attempts >= 2, $"trial {victimTrial} ran {resumed.Attempts} time(s); it should have started again after the kill");
            Assert.True(resumed.ResumedFromStep >= checkpointStep,
                $"trial {victimTrial} resumed from step {resumed.ResumedFromStep?.ToString() ?? "none"}, not from its checkpoint at step {checkpointStep}");
            Assert.Equal((4, 48), (resumed.Outcome!.EpochsTrained, resumed.Outcome.GlobalStep));
            Assert.False(victimSilo == first ? second.HasExited : first.HasExited, "the surviving silo exited");
        }
        catch (Exception e)
        {
            // What the silos logged is the only account of a failure in two other processes.
            throw new InvalidOperationException($"{e.Message}\n{first.Tail(80)}\n{second.Tail(80)}\n(whole logs in {logs})", e);
        }
    }

    private static async Task<(string Trial, SiloProcess Silo, int CheckpointStep)> WaitForCheckpointedTrialAsync(IGrainFactory grains, params SiloProcess[] silos)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(4);
        while (DateTime.UtcNow < deadline)
        {
            var sweep = await grains.GetGrain<ISweepGrain>("failover").GetAsync();
            foreach (var trial in sweep.Trials.Where(t => t.Status == TrialStatus.Running))
            {
                var snapshot = await grains.GetGrain<ITrialGrain>(TrialKeys.Format("failover", trial.TrialId)).GetAsync();
                var silo = silos.FirstOrDefault(s => snapshot.Silo?.Contains($":{s.SiloPort}", StringComparison.Ordinal) == true);
                if (snapshot is { Status: TrialStatus.Running, Checkpoint: not null, Progress.Step: < 36 } && silo is not null)
                    return (trial.TrialId, silo, snapshot.CheckpointStep);
            }
            await Task.Delay(100);
        }
        Assert.Fail("no running trial wrote a checkpoint within 4 minutes");
        throw new UnreachableException();
    }

    private static async Task<IHost> ConnectAsync(string postgres)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (ClusterId, ClusterId));
            client.UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = (GridDatabase.Invariant, postgres));
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>A silo as users start one: `dotnet ExperimentGrid.Silo.dll` with flags, in its own process.</summary>
    private sealed class SiloProcess : IDisposable
    {
        private readonly Process _process;
        private readonly int _httpPort;
        private readonly StreamWriter _log;

        private SiloProcess(Process process, int siloPort, int httpPort, StreamWriter log) =>
            (_process, SiloPort, _httpPort, _log) = (process, siloPort, httpPort, log);

        public int SiloPort { get; }
        public bool HasExited => _process.HasExited;

        public static SiloProcess Start(string postgres, string home, string dataRoot, string checkpoints, string logs)
        {
            var (siloPort, gatewayPort, httpPort) = (FreePort(), FreePort(), FreePort());
            var dll = Path.Combine(AppContext.BaseDirectory, "ExperimentGrid.Silo.dll");
            var start = new ProcessStartInfo("dotnet")
            {
                ArgumentList =
                {
                    dll, "--postgres", postgres, "--address", "127.0.0.1", "--slots", "cpu:1", "--cluster-id", ClusterId, "--service-id", ClusterId,
                    "--silo-port", $"{siloPort}", "--gateway-port", $"{gatewayPort}", "--http-port", $"{httpPort}",
                    "--checkpoints", checkpoints, "--data-root", dataRoot, "--lease", "5",
                },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            start.Environment["EXPERIMENTGRID_HOME"] = home;
            var log = new StreamWriter(Path.Combine(logs, $"silo-{siloPort}.log")) { AutoFlush = true };
            var process = Process.Start(start)!;
            // Read the output as it comes, so that a chatty silo never blocks on a full pipe.
            process.OutputDataReceived += (_, line) => Write(log, line.Data);
            process.ErrorDataReceived += (_, line) => Write(log, line.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return new SiloProcess(process, siloPort, httpPort, log);
        }

        /// <summary>The last <paramref name="lines"/> lines this silo wrote.</summary>
        public string Tail(int lines)
        {
            lock (_log)
            {
                var path = ((FileStream)_log.BaseStream).Name;
                using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
                var all = reader.ReadToEnd().Split('\n');
                return $"--- silo on port {SiloPort}{(HasExited ? " (exited)" : "")}, last {lines} lines:\n{string.Join('\n', all.TakeLast(lines))}";
            }
        }

        private static void Write(StreamWriter log, string? line)
        {
            if (line is null) return;
            lock (log) log.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");
        }

        public async Task WaitHealthyAsync()
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            for (var i = 0; i < 240; i++)
            {
                Assert.False(_process.HasExited, $"silo on port {SiloPort} exited with code {(_process.HasExited ? _process.ExitCode : 0)} while starting");
                try
                {
                    if ((await http.GetAsync(new Uri($"http://127.0.0.1:{_httpPort}/healthz"))).IsSuccessStatusCode) return;
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }
                await Task.Delay(500);
            }
            Assert.Fail($"silo on port {SiloPort} was not healthy within 2 minutes");
        }

        /// <summary>SIGKILL: the process gets no chance to stop its slots or leave the cluster.</summary>
        public void Kill() => _process.Kill(entireProcessTree: true);

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
            _process.Dispose();
            lock (_log) _log.Dispose();
        }

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
    }
}
