using System.Diagnostics;
using Npgsql;

namespace ExperimentGrid.TestSupport;

/// <summary>
/// A PostgreSQL server of one's own, made with initdb in a temporary directory and listening on a free loopback port:
/// restarting it, as the chaos runs do, disturbs no other test or benchmark. It runs as the postgres user when this
/// process is root (PostgreSQL refuses to run as root), and is stopped and deleted when disposed.
/// </summary>
public sealed class PrivatePostgres : IAsyncDisposable
{
    private const string ServiceUser = "postgres";

    private readonly string _binaries;
    private readonly string _directory;

    private PrivatePostgres(string binaries, string directory, int port) => (_binaries, _directory, Port) = (binaries, directory, port);

    public int Port { get; }

    /// <summary>The superuser on loopback, with trust authentication: the server is reachable from this machine only.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Database=postgres;Username={ServiceUser}";

    private string Data => Path.Combine(_directory, "data");

    /// <summary>The command that restarts it (fast shutdown: the silos' connections are cut, as in a real restart), for a shell.</summary>
    public string RestartCommand =>
        $"{AsServiceUser($"{Path.Combine(_binaries, "pg_ctl")} -D {Data} -m fast -w -t 60 restart")} >> {Path.Combine(_directory, "server.log")} 2>&1";

    /// <summary>The newest /usr/lib/postgresql/N/bin that has initdb, or null when PostgreSQL's server is not installed.</summary>
    public static string? FindBinaries() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var version) ? version : 0)
                .FirstOrDefault()
            : null;

    public static async Task<PrivatePostgres> StartAsync(CancellationToken cancellationToken = default)
    {
        var binaries = FindBinaries() ?? throw new InvalidOperationException("no PostgreSQL server under /usr/lib/postgresql/*/bin (Debian's postgresql package installs it).");
        var directory = Directory.CreateTempSubdirectory("experimentgrid-pg-").FullName;
        var server = new PrivatePostgres(binaries, directory, SiloPorts.Free().Silo);
        try
        {
            if (Environment.IsPrivilegedProcess) await RunAsync("chown", [ServiceUser, directory], cancellationToken);
            await server.RunAsServiceUserAsync("initdb", ["-D", server.Data, "-A", "trust", "-U", ServiceUser, "--no-sync"], cancellationToken);
            // Durability is not what is tested: without fsync the server starts and restarts in a second.
            await server.RunAsServiceUserAsync("pg_ctl", ["-D", server.Data, "-w", "-t", "60", "-l", Path.Combine(directory, "server.log"),
                "-o", $"-p {server.Port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200", "start"],
                cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Restarts the server and waits until it accepts connections again; returns how long it was away.</summary>
    public async Task<TimeSpan> RestartAsync(CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        await RunAsync("bash", ["-c", RestartCommand], cancellationToken);
        return clock.Elapsed;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (File.Exists(Path.Combine(Data, "postmaster.pid")))
            await RunAsServiceUserAsync("pg_ctl", ["-D", Data, "-m", "immediate", "-w", "stop"], CancellationToken.None);
        Directory.Delete(_directory, recursive: true);
    }

    private string AsServiceUser(string command) => Environment.IsPrivilegedProcess ? $"runuser -u {ServiceUser} -- {command}" : command;

    private Task RunAsServiceUserAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken) =>
        Environment.IsPrivilegedProcess
            ? RunAsync("runuser", ["-u", ServiceUser, "--", Path.Combine(_binaries, program), .. arguments], cancellationToken)
            : RunAsync(Path.Combine(_binaries, program), arguments, cancellationToken);

    /// <summary>Runs a command to its end; one that fails throws with what it printed.</summary>
    public static async Task RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"`{program} {string.Join(' ', arguments)}` exited with code {process.ExitCode}: {(await errors).Trim()} {(await output).Trim()}");
    }
}
