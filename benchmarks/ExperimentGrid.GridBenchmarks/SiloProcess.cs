using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using ExperimentGrid.Runtime.Slots;

namespace ExperimentGrid.GridBenchmarks;

/// <summary>What every silo of one measured cluster shares.</summary>
public sealed record SiloLaunch(string Postgres, string ClusterId, string Home, string DataRoot, string Checkpoints, string Logs, int Threads);

/// <summary>A silo as users start one: `dotnet ExperimentGrid.Silo.dll` with flags, in its own process, its output in a log file.</summary>
public sealed partial class SiloProcess : IDisposable
{
    // Every silo still running, so that a benchmark ended by Ctrl+C or an unhandled exception leaves none behind.
    private static readonly ConcurrentDictionary<SiloProcess, byte> Live = new();

    private readonly Process _process;
    private readonly int _httpPort;
    private readonly StreamWriter _log;
    private readonly string _logPath;
    private int _warnings;
    private int _trialStarts;
    private bool _closed;

    static SiloProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var silo in Live.Keys) silo.Dispose();
    };

    private SiloProcess(Process process, int siloPort, int httpPort, StreamWriter log, string logPath) =>
        (_process, SiloPort, _httpPort, _log, _logPath) = (process, siloPort, httpPort, log, logPath);

    public int SiloPort { get; }

    /// <summary>Lines the silo logged at warning level or above.</summary>
    public int Warnings => Volatile.Read(ref _warnings);

    /// <summary>Trial attempts this silo's slots started. A finished trial's grain no longer names its silo, so the log is where this is kept.</summary>
    public int TrialStarts => Volatile.Read(ref _trialStarts);

    public bool HasExited => _process.HasExited;

    /// <summary>CPU time the silo has used so far, all its threads.</summary>
    public TimeSpan CpuTime => _process.TotalProcessorTime;

    public static SiloProcess Start(SiloLaunch launch)
    {
        var (siloPort, gatewayPort, httpPort) = (FreePort(), FreePort(), FreePort());
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                Path.Combine(AppContext.BaseDirectory, "ExperimentGrid.Silo.dll"),
                "--postgres", launch.Postgres, "--address", "127.0.0.1", "--slots", "cpu:1",
                "--cluster-id", launch.ClusterId, "--service-id", launch.ClusterId,
                "--silo-port", $"{siloPort}", "--gateway-port", $"{gatewayPort}", "--http-port", $"{httpPort}",
                "--checkpoints", launch.Checkpoints, "--data-root", launch.DataRoot,
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // The silos import nothing: the model is already in the cache this home names.
        start.Environment["EXPERIMENTGRID_HOME"] = launch.Home;
        // libtorch sizes its intra-op pool from these when it loads; by default each silo would take every core.
        start.Environment["OMP_NUM_THREADS"] = $"{launch.Threads}";
        start.Environment["MKL_NUM_THREADS"] = $"{launch.Threads}";
        var logPath = Path.Combine(launch.Logs, $"silo-{siloPort}.log");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = Process.Start(start)
            ?? throw new InvalidOperationException("could not start `dotnet ExperimentGrid.Silo.dll`");
        var silo = new SiloProcess(process, siloPort, httpPort, log, logPath);
        Live[silo] = 0;
        // Read the output as it comes, so that a chatty silo never blocks on a full pipe.
        process.OutputDataReceived += (_, line) => silo.Write(line.Data);
        process.ErrorDataReceived += (_, line) => silo.Write(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return silo;
    }

    public async Task WaitHealthyAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            EnsureRunning("while starting");
            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{_httpPort}/healthz"), cancellationToken);
                if (response.IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException || e is TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // Not listening yet, or too busy starting to answer within the client's timeout.
            }
            await Task.Delay(250, cancellationToken);
        }
        throw new BenchmarkException($"silo on port {SiloPort} was not healthy within {limit.TotalSeconds:F0} s");
    }

    /// <summary>Completes when the silo process exits.</summary>
    public Task ExitAsync() => _process.WaitForExitAsync();

    public void EnsureRunning(string when)
    {
        if (!_process.HasExited) return;
        // A process killed by a signal reports 128 + its number: 137 SIGKILL, 139 SIGSEGV (the kernel log has the faulting library).
        var code = _process.ExitCode;
        var signal = code > 128 ? $" (signal {code - 128}; see dmesg)" : "";
        throw new BenchmarkException($"silo on port {SiloPort} exited with code {code}{signal} {when}");
    }

    /// <summary>The last <paramref name="lines"/> lines this silo wrote, with where the whole log is.</summary>
    public string Tail(int lines)
    {
        lock (_log)
        {
            using var reader = new StreamReader(new FileStream(_logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
            var all = reader.ReadToEnd().TrimEnd('\n').Split('\n');
            return $"--- silo on port {SiloPort}{(HasExited ? " (exited)" : "")}, last {lines} lines of {_logPath}:\n{string.Join('\n', all.TakeLast(lines))}";
        }
    }

    private void Write(string? line)
    {
        if (line is null) return;
        // The console logger starts each entry with its level: "warn:", "fail:" or "crit:" for the ones worth a look.
        if (line.StartsWith("warn:", StringComparison.Ordinal) || line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal))
            Interlocked.Increment(ref _warnings);
        else if (TrialStart().IsMatch(line))
            Interlocked.Increment(ref _trialStarts);
        lock (_log)
        {
            // Output can still arrive while the killed process's pipes drain.
            if (!_closed) _log.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");
        }
    }

    public void Dispose()
    {
        if (!Live.TryRemove(this, out _)) return;
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
        _process.Dispose();
        lock (_log)
        {
            _closed = true;
            _log.Dispose();
        }
    }

    // SlotWorkers logs "Slot cpu:0: trial sweep/t001, attempt 1" as it starts an attempt.
    [GeneratedRegex(@"^\s*Slot \S+: trial \S+, attempt \d+")]
    private static partial Regex TrialStart();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
