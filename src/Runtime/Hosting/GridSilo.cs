using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Runtime;
using ExperimentGrid.Runtime.Storage;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using Orleans.Dashboard;
using OpenTelemetry.Resources;
using Orleans.Configuration;
using Orleans.Runtime;

namespace ExperimentGrid.Runtime.Hosting;

/// <summary>
/// Builds a silo host: Orleans on the chosen store, plus /metrics (Prometheus), /healthz, the JSON API (/api) and the
/// dashboard (/, unless turned off) over HTTP. `dotnet run
/// --project src/Silo` uses it, and so can anything that starts a silo in its own process (the CLI, tests).
/// </summary>
public static class GridSilo
{
    /// <summary>What Orleans' Kubernetes hosting reads of the pod; deploy/kubernetes/silo.yaml sets them.</summary>
    public static readonly IReadOnlyList<string> PodVariables = ["POD_NAME", "POD_NAMESPACE", "POD_IP"];

    /// <summary>The Orleans runtime's own meter (requests, activations, storage, the scheduler), exported beside the grid's.</summary>
    public const string OrleansMeter = "Microsoft.Orleans";

    /// <summary>Where the Orleans dashboard is mounted on the HTTP port.</summary>
    public const string OrleansDashboardPath = "/orleans";

    /// <summary>
    /// A host builder with everything configured; callers may add services (such as more grain assemblies) before
    /// passing it to <see cref="Build(WebApplicationBuilder)"/>.
    /// </summary>
    /// <exception cref="IOException">The checkpoint directory cannot be created.</exception>
    /// <exception cref="InvalidDataException">A TLS certificate or CA file cannot be used, or a pod variable is missing.</exception>
    public static WebApplicationBuilder CreateBuilder(SiloOptions options)
    {
        try
        {
            Directory.CreateDirectory(options.CheckpointDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"--checkpoints: {options.CheckpointDirectory}: cannot create the directory: {e.Message}", e);
        }
        if (options.Kubernetes && PodVariables.Where(v => string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v))).ToList() is [_, ..] unset)
        {
            throw new InvalidDataException(
                $"--kubernetes: {string.Join(", ", unset)} not set; the pod spec sets them from the downward API (see deploy/kubernetes/silo.yaml).");
        }
        // Read before anything starts, so that a bad certificate is one line naming its flag and file.
        var tls = options.Tls?.Load();

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenAnyIP(options.HttpPort));
        // Prometheus scrapes every few seconds; a log entry per request would bury the silo's own messages.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // A silo that cannot start (its state directory taken or from an earlier version, PostgreSQL unreachable) is
        // told to the user in one line by whoever started it; the host's own log of it is a stack trace above that line.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        // Its one informational line at start-up spells out the connection string, password snipped but host, database
        // and user in the clear; nothing in a silo's log shows a connection string.
        builder.Logging.AddFilter("Orleans.Storage.AdoNetGrainStorage", LogLevel.Warning);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(options.Slots);
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("experimentgrid-silo", serviceInstanceId: $"{options.ClusterId}/{options.SiloPort}"))
            .WithMetrics(metrics => metrics.AddMeter(GridMetrics.MeterName, OrleansMeter).AddPrometheusExporter());
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(cluster =>
            {
                cluster.ClusterId = options.ClusterId;
                cluster.ServiceId = options.ServiceId;
            });
            if (tls is not null) silo.UseTls(tls);
            if (options.OrleansDashboard) silo.AddDashboard();
            silo.AddGridSlots(options.Slots, grid =>
            {
                // Sweeps may start from bundled models (imported into the cache) and from models other trials wrote.
                grid.Roots = new SweepRoots(options.DataRoot, options.ModelRoots, options.CheckpointDirectory);
                grid.LeaseDuration = options.LeaseDuration;
                grid.CacheRoot = options.CacheDirectory;
                grid.CacheMaxBytes = options.CacheMaxBytes;
                // A lease shorter than the check interval would be judged late, and its trial left waiting that long.
                if (grid.LeaseCheckInterval > options.LeaseDuration / 2) grid.LeaseCheckInterval = options.LeaseDuration / 2;
            });
            if (options.Postgres is { } postgres)
            {
                silo.UseGridPostgres(postgres, options.ServiceId);
                if (options.Kubernetes)
                {
                    // Only the ports: Kubernetes hosting advertises the pod's IP and listens on every address.
                    silo.Configure<EndpointOptions>(endpoints =>
                    {
                        endpoints.SiloPort = options.SiloPort;
                        endpoints.GatewayPort = options.GatewayPort;
                    });
                    silo.UseKubernetesHosting();
                }
                else if (options.Address is { } address) silo.ConfigureEndpoints(address, options.SiloPort, options.GatewayPort);
                else silo.ConfigureEndpoints(options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: true);
            }
            else
            {
                silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, serviceId: options.ServiceId, clusterId: options.ClusterId);
                silo.UseGridEmbeddedStore(options.StateDirectory);
            }
        });
        return builder;
    }

    /// <summary>A loopback TCP port that nothing listens on now, as the OS picks it.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A started silo's HTTP base address on loopback (it listens on any address, on its port or one the OS chose).</summary>
    public static Uri LoopbackHttpAddress(WebApplication app)
    {
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
        return new Uri($"http://127.0.0.1:{bound.Port}/");
    }

    public static WebApplication Build(WebApplicationBuilder builder)
    {
        var app = builder.Build();
        // Instruments exist once their meter's owner does; create it now so the first scrape already has them.
        app.Services.GetRequiredService<GridMetrics>();
        app.MapPrometheusScrapingEndpoint();
        if (app.Services.GetRequiredService<SiloOptions>().OrleansDashboard) app.MapOrleansDashboard(OrleansDashboardPath);
        app.MapGet("/healthz", (ISiloStatusOracle silo) => silo.CurrentStatus == SiloStatus.Active
            ? Results.Text("ok\n")
            : Results.Text($"{silo.CurrentStatus}\n", statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapGridApi();
        if (app.Services.GetRequiredService<SiloOptions>().Dashboard) app.MapGridDashboard();
        return app;
    }
}
