using System.CommandLine;
using System.CommandLine.Parsing;
using System.Net;
using ExperimentGrid.Runtime.Slots;
using ExperimentGrid.Runtime.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ExperimentGrid.Runtime.Hosting;

/// <summary>The silo's flags and the action that runs it; `grid silo` can reuse it on a command of its own.</summary>
public static class SiloCommand
{
    private const int UsageError = 2;

    /// <param name="services">
    /// Runs on the silo's services after GridSilo has registered its own: a host that trains something else (a fake
    /// trainable in tests) adds or replaces services there and keeps every flag and behaviour of the real silo.
    /// </param>
    public static Command Configure(Command command, Action<IServiceCollection>? services = null)
    {
        var defaults = new SiloOptions();
        var postgres = new Option<string>("--postgres")
        {
            Description = "PostgreSQL connection string (e.g. 'Host=db;Database=grid;Username=grid;Password=...'): membership, " +
                          "grain state and reminders go there, and the schema is applied at start-up. Without it, one silo runs on the embedded store.",
        };
        var state = new Option<string>("--state") { Description = $"Directory of the embedded store, when there is no --postgres [default: {defaults.StateDirectory}]" };
        var slots = new Option<SiloSlots>("--slots")
        {
            Description = "Training slots: gpu:I per GPU, gpu:IxK for K slots sharing GPU I (small trials packed on one GPU), and/or " +
                          "cpu:N for N CPU slots, comma-separated, e.g. cpu:2, gpu:0,gpu:1 or gpu:0x2,gpu:1x2 " +
                          $"[default: one per GPU, else one CPU slot; here: {defaults.Slots}]",
            CustomParser = ParseSlots,
        };
        var checkpoints = new Option<string>("--checkpoints") { Description = $"Checkpoint directory; every silo of a cluster must reach it at this path [default: {defaults.CheckpointDirectory}]" };
        var cache = new Option<string>("--cache") { Description = $"Directory where trials share tokenized data and frozen-prefix activations; best one every silo of a cluster reaches [default: {defaults.CacheDirectory}]" };
        var cacheSize = new Option<long>("--cache-size")
        {
            Description = "The cache's size limit, in bytes or with a K, M, G or T suffix; above it the least recently used entries are evicted.",
            DefaultValueFactory = _ => defaults.CacheMaxBytes,
            CustomParser = ParseSize,
        };
        var dataRoot = new Option<string>("--data-root") { Description = $"Directory of the datasets sweeps may use [default: $EXPERIMENTGRID_DATA, else ../shared/datasets; here: {defaults.DataRoot}]" };
        var lease = new Option<int>("--lease")
        {
            Description = "Seconds a running trial stays this silo's without a heartbeat; after that another silo resumes it from its checkpoint.",
            DefaultValueFactory = _ => (int)defaults.LeaseDuration.TotalSeconds,
        };
        lease.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1) result.AddError($"--lease: must be at least 1 second, got {result.GetValueOrDefault<int>()}.");
        });
        var siloPort = Port("--silo-port", defaults.SiloPort, "Port silos talk to each other on.", allowZero: false);
        var gatewayPort = Port("--gateway-port", defaults.GatewayPort, "Port clients (grid sweep --cluster) connect to.", allowZero: false);
        var httpPort = Port("--http-port", defaults.HttpPort, "Port of /metrics (Prometheus), /healthz, the JSON API (/api) and the dashboard (/); 0 takes a free port.", allowZero: true);
        var noDashboard = new Option<bool>("--no-dashboard") { Description = "Do not serve the sweep dashboard at / on the HTTP port; /metrics, /healthz and /api stay." };
        var clusterId = Name("--cluster-id", defaults.ClusterId, "Cluster id: silos with the same id and store form one cluster.");
        var serviceId = Name("--service-id", defaults.ServiceId, "Service id: grain state and reminders are kept per service id, across cluster restarts.");
        var address = new Option<IPAddress>("--address")
        {
            Description = "With --postgres: the IP address other silos and clients reach this silo at [default: one Orleans picks from this host's network interfaces].",
            CustomParser = ParseAddress,
        };
        var kubernetes = new Option<bool>("--kubernetes")
        {
            Description = "With --postgres: run as a Kubernetes pod (deploy/kubernetes). The silo takes its name and address from the pod " +
                          "(POD_NAME, POD_NAMESPACE, POD_IP from the downward API), and declares silos dead whose pods are gone.",
        };
        command.Options.Add(postgres);
        command.Options.Add(state);
        command.Options.Add(slots);
        command.Options.Add(checkpoints);
        var noOrleansDashboard = new Option<bool>("--no-orleans-dashboard") { Description = $"Do not serve the Orleans dashboard at {GridSilo.OrleansDashboardPath} on the HTTP port." };
        command.Options.Add(noOrleansDashboard);
        command.Options.Add(cache);
        command.Options.Add(cacheSize);
        command.Options.Add(dataRoot);
        command.Options.Add(lease);
        command.Options.Add(siloPort);
        command.Options.Add(gatewayPort);
        command.Options.Add(httpPort);
        command.Options.Add(noDashboard);
        command.Options.Add(clusterId);
        command.Options.Add(serviceId);
        command.Options.Add(address);
        command.Options.Add(kubernetes);
        var tls = ClusterTls.AddFlags(command, "silo");
        command.Validators.Add(result =>
        {
            var usesPostgres = result.GetResult(postgres) is not null;
            if (usesPostgres && result.GetResult(state) is not null) result.AddError("--state: the embedded store is not used with --postgres; give one or the other.");
            if (!usesPostgres && result.GetResult(address) is not null) result.AddError("--address: only used with --postgres; the embedded store's silo listens on loopback.");
            var inKubernetes = result.GetResult(kubernetes)?.GetValueOrDefault<bool>() ?? false;
            if (inKubernetes && !usesPostgres) result.AddError("--kubernetes: needs --postgres; Kubernetes hosting watches pods, the cluster's membership still lives in PostgreSQL.");
            if (inKubernetes && result.GetResult(address) is not null) result.AddError("--address: not used with --kubernetes; the silo advertises its pod's IP (POD_IP).");
            // GetValue here does not apply defaults to options left out, so fall back to them by hand.
            var silo = result.GetResult(siloPort)?.GetValueOrDefault<int>() ?? defaults.SiloPort;
            var gateway = result.GetResult(gatewayPort)?.GetValueOrDefault<int>() ?? defaults.GatewayPort;
            if (silo == gateway) result.AddError($"--gateway-port: {gateway} is also the --silo-port; they must differ.");
        });
        command.SetAction((parse, cancellation) =>
        {
            var options = new SiloOptions
            {
                Postgres = parse.GetValue(postgres),
                StateDirectory = parse.GetValue(state) ?? defaults.StateDirectory,
                Slots = parse.GetValue(slots) ?? defaults.Slots,
                CheckpointDirectory = parse.GetValue(checkpoints) ?? defaults.CheckpointDirectory,
                CacheDirectory = parse.GetValue(cache) is { } cacheDirectory ? Path.GetFullPath(cacheDirectory) : defaults.CacheDirectory,
                CacheMaxBytes = parse.GetValue(cacheSize),
                OrleansDashboard = !parse.GetValue(noOrleansDashboard),
                DataRoot = parse.GetValue(dataRoot) is { } data ? Path.GetFullPath(data) : defaults.DataRoot,
                LeaseDuration = TimeSpan.FromSeconds(parse.GetValue(lease)),
                SiloPort = parse.GetValue(siloPort),
                GatewayPort = parse.GetValue(gatewayPort),
                HttpPort = parse.GetValue(httpPort),
                Dashboard = !parse.GetValue(noDashboard),
                ClusterId = parse.GetValue(clusterId)!,
                ServiceId = parse.GetValue(serviceId)!,
                Address = parse.GetValue(address),
                Kubernetes = parse.GetValue(kubernetes),
                Tls = tls(parse),
            };
            return RunAsync(options, parse.InvocationConfiguration.Error, cancellation, services);
        });
        return command;
    }

    /// <summary>Runs the silo until the process is told to stop; problems a user can fix become one line and exit code 2.</summary>
    public static async Task<int> RunAsync(SiloOptions options, TextWriter error, CancellationToken cancellationToken, Action<IServiceCollection>? services = null)
    {
        try
        {
            var builder = GridSilo.CreateBuilder(options);
            services?.Invoke(builder.Services);
            await using var app = GridSilo.Build(builder);
            await app.RunAsync(cancellationToken);
            return 0;
        }
        catch (GridDatabaseException e)
        {
            await error.WriteLineAsync($"error: --postgres: {e.Message}");
            return UsageError;
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return UsageError;
        }
    }

    private static SiloSlots? ParseSlots(ArgumentResult result)
    {
        var text = result.Tokens.Single().Value;
        try
        {
            return SiloSlots.Parse(text);
        }
        catch (FormatException e)
        {
            result.AddError($"--slots: {e.Message}");
            return null;
        }
    }

    private static long ParseSize(ArgumentResult result)
    {
        var text = result.Tokens.Single().Value.Trim();
        var unit = text.Length > 0 ? char.ToUpperInvariant(text[^1]) : ' ';
        var shift = unit switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        var number = shift == 0 ? text : text[..^1];
        if (double.TryParse(number, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value) && value > 0 && value * (1L << shift) < long.MaxValue)
            return (long)(value * (1L << shift));
        result.AddError($"--cache-size: '{text}' is not a size; write bytes or a number with K, M, G or T, e.g. 20G.");
        return 0;
    }

    private static IPAddress? ParseAddress(ArgumentResult result)
    {
        var text = result.Tokens.Single().Value;
        if (IPAddress.TryParse(text, out var address)) return address;
        result.AddError($"--address: '{text}' is not an IP address.");
        return null;
    }

    private static Option<int> Port(string name, int defaultValue, string description, bool allowZero)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            var port = result.GetValueOrDefault<int>();
            if (port < (allowZero ? 0 : 1) || port > 65535)
                result.AddError($"{name}: {port} is not a port; use {(allowZero ? 0 : 1)} to 65535.");
        });
        return option;
    }

    private static Option<string> Name(string name, string defaultValue, string description)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (string.IsNullOrWhiteSpace(result.GetValueOrDefault<string>())) result.AddError($"{name}: must not be empty.");
        });
        return option;
    }
}
