using System.Net;
using System.Net.Sockets;
using ExperimentGrid.Contracts;
using ExperimentGrid.Runtime.Hosting;
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

    // Orleans' own default retries the first connection for about three minutes; a command should say at once that
    // --cluster reaches no silo. A couple of retries still ride out a gateway that is just restarting.
    private const int ConnectRetries = 2;
    private static readonly TimeSpan ConnectRetryDelay = TimeSpan.FromSeconds(1);

    public IGrainFactory Grains { get; } = grains;

    /// <param name="tls">The cluster's mutual TLS (--tls-certificate, --tls-ca), when its silos require it.</param>
    public static async Task<GridConnection> ConnectAsync(string cluster, string clusterId, ClusterTls? tls, CancellationToken cancellationToken)
    {
        var gateway = ParseEndpoint(cluster);
        var tlsOptions = tls?.Load();
        var builder = Host.CreateApplicationBuilder();
        // The client logs to stdout, where tables and --json go, and logs a failed connection as a stack trace per
        // attempt; what goes wrong reaches the user as the command's own one-line error instead.
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, clusterId));
            client.UseStaticClustering(gateway);
            if (tlsOptions is not null) client.UseTls(tlsOptions);
            var retries = 0;
            client.UseConnectionRetryFilter(async (_, cancellation) =>
            {
                if (++retries > ConnectRetries) return false;
                await Task.Delay(ConnectRetryDelay, cancellation);
                return true;
            });
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            host.Dispose();
            // A gateway of another cluster, or one that refuses this client's TLS, drops the connection unexplained, so
            // the error names the flags that could be at fault.
            var flags = tls is null ? "(--cluster-id)" : $"(--cluster-id, {ClusterTls.CertificateFlag}, {ClusterTls.AuthorityFlag})";
            throw new IOException($"--cluster: no silo of cluster '{clusterId}' {flags} answers at {cluster}: {e.GetBaseException().Message}", e);
        }
        return new GridConnection(host, host.Services.GetRequiredService<IClusterClient>());
    }

    /// <summary>A one-machine silo in this process, with the silo's defaults (embedded store, detected slots).</summary>
    public static async Task<GridConnection> StartSiloAsync(ExperimentGrid.Runtime.Hosting.SiloOptions options, CancellationToken cancellationToken)
    {
        var builder = GridSilo.CreateBuilder(options);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // The CLI runs on workstation GC on purpose, and this category's only warnings at start-up advise server GC:
        // noise above the sweep's table. Its errors still show.
        builder.Logging.AddFilter("Orleans.Runtime.Silo", LogLevel.Error);
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
            var host = text[..colon];
            IPAddress[] addresses;
            try
            {
                addresses = Dns.GetHostAddresses(host);
            }
            catch (SocketException e)
            {
                throw new ArgumentException($"--cluster: cannot resolve '{host}': {e.Message}", e);
            }
            if (addresses.Length > 0) return new IPEndPoint(addresses[0], port);
        }
        throw new ArgumentException($"--cluster: '{text}' is not HOST:PORT (a silo's gateway, e.g. 127.0.0.1:30000).");
    }
}
