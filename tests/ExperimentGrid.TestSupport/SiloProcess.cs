using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using ExperimentGrid.Runtime.Hosting;

namespace ExperimentGrid.TestSupport;

/// <summary>
/// The silo executables a <see cref="SiloProcess"/> runs. Each lands in the output of a project that references it
/// (src/Silo, tests/ExperimentGrid.FakeSilo), where the process starts it from.
/// </summary>
public enum SiloExecutable
{
    /// <summary>ExperimentGrid.Silo.dll, the silo users run.</summary>
    Silo,

    /// <summary>ExperimentGrid.FakeSilo.dll: the same silo, its slots training fake trainables (<see cref="FakeSiloSettings"/>).</summary>
    FakeSilo,
}

/// <summary>
/// What to start: an executable with its flags (all but the ports, which <see cref="SiloProcess"/> adds), extra
/// environment variables, and the directory its log goes to.
/// </summary>
public sealed record SiloLaunch(SiloExecutable Executable, IReadOnlyList<string> Arguments, string Logs)
{
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Flags of a silo in cluster <paramref name="clusterId"/> (its service id too) on PostgreSQL, on loopback.</summary>
    public static IReadOnlyList<string> PostgresArguments(string postgres, string clusterId) =>
        ["--postgres", postgres, "--address", "127.0.0.1", "--cluster-id", clusterId, "--service-id", clusterId];

    public string Dll => Path.Combine(AppContext.BaseDirectory, $"ExperimentGrid.{Executable}.dll");
}

/// <summary>The ports a silo listens on: to its peers, to clients, and for /metrics and /healthz.</summary>
public sealed record SiloPorts(int Silo, int Gateway, int Http)
{
    /// <summary>Three ports free now; another process may still take one before the silo binds it, which is rare on loopback.</summary>
    public static SiloPorts Free() => new(GridSilo.FreePort(), GridSilo.FreePort(), GridSilo.FreePort());

}

/// <summary>A silo process's failure to start or to keep running, with what it said last.</summary>
public sealed class SiloProcessException(string message) : Exception(message);

/// <summary>
/// A silo as users start one: `dotnet ExperimentGrid.Silo.dll` (or the fake silo) with flags, in its own process, its
/// output in a log file. It counts the warnings and trial starts it logs and can be killed with SIGKILL.
/// </summary>
public sealed partial class SiloProcess : IDisposable
{
    // Every silo still running, so that a run ended by Ctrl+C or an unhandled exception leaves none behind.
    private static readonly ConcurrentDictionary<SiloProcess, byte> Live = new();

    private readonly Process _process;
    private readonly StreamWriter _log;
    private int _warnings;
    private int _trialStarts;
    private bool _closed;

    static SiloProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var silo in Live.Keys) silo.Dispose();
    };

    private SiloProcess(Process process, SiloPorts ports, StreamWriter log, string logPath) =>
        (_process, Ports, _log, LogPath) = (process, ports, log, logPath);

    public SiloPorts Ports { get; }

    public int SiloPort => Ports.Silo;

    public string LogPath { get; }

    /// <summary>Lines the silo logged at warning level or above.</summary>
    public int Warnings => Volatile.Read(ref _warnings);

    /// <summary>Trial attempts this silo's slots started. A finished trial's grain no longer names its silo, so the log is where this is kept.</summary>
    public int TrialStarts => Volatile.Read(ref _trialStarts);

    public bool HasExited => _process.HasExited;

    /// <summary>The exit code of a process that has exited: 128 + the signal's number for one a signal killed.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>CPU time the silo has used so far, all its threads.</summary>
    public TimeSpan CpuTime => _process.TotalProcessorTime;

    /// <summary>
    /// Starts the silo on <paramref name="ports"/>, or on free ones. Its log is
    /// {<see cref="SiloLaunch.Logs"/>}/silo-{silo port}.log, appended to when a silo starts again on the same ports.
    /// </summary>
    public static SiloProcess Start(SiloLaunch launch, SiloPorts? ports = null)
    {
        ports ??= SiloPorts.Free();
        if (!File.Exists(launch.Dll)) throw new SiloProcessException($"{launch.Dll} not found; reference its project from the one that starts it.");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(launch.Dll);
        foreach (var argument in launch.Arguments) start.ArgumentList.Add(argument);
        foreach (var argument in new[] { "--silo-port", $"{ports.Silo}", "--gateway-port", $"{ports.Gateway}", "--http-port", $"{ports.Http}" })
            start.ArgumentList.Add(argument);
        foreach (var (name, value) in launch.Environment) start.Environment[name] = value;
        Directory.CreateDirectory(launch.Logs);
        var logPath = Path.Combine(launch.Logs, $"silo-{ports.Silo}.log");
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new SiloProcessException($"could not start `dotnet {Path.GetFileName(launch.Dll)}`");
        }
        catch
        {
            log.Dispose();
            throw;
        }
        var silo = new SiloProcess(process, ports, log, logPath);
        Live[silo] = 0;
        // Read the output as it comes, so that a chatty silo never blocks on a full pipe.
        process.OutputDataReceived += (_, line) => silo.Write(line.Data);
        process.ErrorDataReceived += (_, line) => silo.Write(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return silo;
    }

    /// <summary>Waits until /healthz answers OK; throws if the silo exits first or is not healthy within <paramref name="limit"/>.</summary>
    public async Task WaitHealthyAsync(TimeSpan limit, CancellationToken cancellationToken = default)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            EnsureRunning("while starting");
            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{Ports.Http}/healthz"), cancellationToken);
                if (response.IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException || e is TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // Not listening yet, or too busy starting to answer within the client's timeout.
            }
            await Task.Delay(250, cancellationToken);
        }
        throw new SiloProcessException($"silo on port {SiloPort} was not healthy within {limit.TotalSeconds:F0} s");
    }

    /// <summary>Completes when the silo process exits.</summary>
    public Task ExitAsync() => _process.WaitForExitAsync();

    /// <summary>Throws, naming the exit code (and the signal, for a process killed by one), if the silo has exited.</summary>
    public void EnsureRunning(string when)
    {
        if (!_process.HasExited) return;
        // A process killed by a signal reports 128 + its number: 137 SIGKILL, 139 SIGSEGV (the kernel log has the faulting library).
        var code = _process.ExitCode;
        var signal = code > 128 ? $" (signal {code - 128}; see dmesg)" : "";
        throw new SiloProcessException($"silo on port {SiloPort} exited with code {code}{signal} {when}");
    }

    /// <summary>
    /// SIGKILL, and waits for the process to be gone: it gets no chance to stop its slots or leave the cluster, and the
    /// kernel has released its ports and file locks when this returns.
    /// </summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It had exited already.
        }
        _process.WaitForExit();
        Write("(killed with SIGKILL)");
    }

    /// <summary>
    /// SIGSTOP: every thread stops where it is and its sockets stay open, as in a long GC pause or a frozen VM; the
    /// silo carries on from there at <see cref="Thaw"/>, unaware that time passed.
    /// </summary>
    public void Freeze() => Signal("STOP");

    /// <summary>SIGCONT, after <see cref="Freeze"/>.</summary>
    public void Thaw() => Signal("CONT");

    private void Signal(string name)
    {
        using var kill = Process.Start("kill", [$"-{name}", $"{_process.Id}"]) ?? throw new SiloProcessException("could not start kill");
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new SiloProcessException($"kill -{name} {_process.Id} (silo on port {SiloPort}) exited with code {kill.ExitCode}");
        Write($"(sent SIG{name})");
    }

    /// <summary>The last <paramref name="lines"/> lines this silo wrote, with where the whole log is.</summary>
    public string Tail(int lines)
    {
        lock (_log)
        {
            using var reader = new StreamReader(new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
            var all = reader.ReadToEnd().TrimEnd('\n').Split('\n');
            return $"--- silo on port {SiloPort}{(HasExited ? " (exited)" : "")}, last {lines} lines of {LogPath}:\n{string.Join('\n', all.TakeLast(lines))}";
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
}
