using System.Net;
using ExperimentGrid.Grains.Sweeps;
using ExperimentGrid.Silo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace ExperimentGrid.Client.Commands;

/// <summary>
/// The grains the sweep commands talk to: through an Orleans client to a running cluster's gateway, or, for
/// `grid sweep run` without --cluster, through a silo started in this process on the embedded store.
/// </summary>
internal sealed class GridConnection(IHost host, IGrainFactory grains) : IAsyncDisposable
{
    public const string DefaultCluster = "127.0.0.1:30000";

    public IGrainFactory Grains { get; } = grains;

    public static async Task<GridConnection> ConnectAsync(string cluster, string clusterId, CancellationToken cancellationToken)
    {
        var gateway = ParseEndpoint(cluster);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, clusterId));
            client.UseStaticClustering(gateway);
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            host.Dispose();
            throw new IOException($"--cluster: cannot reach a silo's gateway at {cluster}: {e.Message}", e);
        }
        return new GridConnection(host, host.Services.GetRequiredService<IClusterClient>());
    }

    /// <summary>A one-machine silo in this process, with the silo's defaults (embedded store, detected slots).</summary>
    public static async Task<GridConnection> StartSiloAsync(ExperimentGrid.Silo.SiloOptions options, CancellationToken cancellationToken)
    {
        var builder = GridSilo.CreateBuilder(options);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = GridSilo.Build(builder);
        await app.StartAsync(cancellationToken);
        return new GridConnection(app, app.Services.GetRequiredService<IGrainFactory>());
    }

    public ISweepGrain Sweep(string id) => Grains.GetGrain<ISweepGrain>(id);

    public async ValueTask DisposeAsync()
    {
        await host.StopAsync();
        host.Dispose();
    }

    private static IPEndPoint ParseEndpoint(string text)
    {
        if (IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port > 0) return endpoint;
        var colon = text.LastIndexOf(':');
        if (colon > 0 && int.TryParse(text[(colon + 1)..], out var port) && port is > 0 and <= 65535)
        {
            var addresses = Dns.GetHostAddresses(text[..colon]);
            if (addresses.Length > 0) return new IPEndPoint(addresses[0], port);
        }
        throw new ArgumentException($"--cluster: '{text}' is not HOST:PORT (a silo's gateway, e.g. 127.0.0.1:30000).");
    }
}
