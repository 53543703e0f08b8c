using System.Net;
using System.Net.Sockets;
using ExperimentGrid.Contracts;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.Runtime.Slots;
using ExperimentGrid.Runtime.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace ExperimentGrid.Client.Commands;

/// <summary>
/// The grains the sweep commands talk to: through an Orleans client to a running cluster's gateway, or, for
/// `grid sweep run` without --cluster, through a silo started in this process on the embedded store.
/// </summary>
internal sealed class GridConnection(IHost host, IGrainFactory grains, Uri? dashboard = null) : IAsyncDisposable
{
    /// <summary>The sweep dashboard of a silo in this process (on a port the OS chose); null for a cluster's.</summary>
    public Uri? Dashboard { get; } = dashboard;

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

    /// <summary>
    /// Services every silo this process starts gets on top of the runtime's: the client tests put fake trainables
    /// here, so that `grid sweep run` without --cluster trains in seconds. Null in the grid CLI.
    /// </summary>
    internal static Action<IServiceCollection>? SiloServices { get; set; }

    /// <summary>
    /// A one-machine silo in this process, with the silo's defaults (embedded store, detected slots). Its runtime logs
    /// below error stay hidden (Orleans' advice on server GC, which the CLI does without on purpose, a failed attempt
    /// the table shows anyway) unless <paramref name="verbose"/>, which shows them from information up.
    /// </summary>
    public static async Task<GridConnection> StartSiloAsync(ExperimentGrid.Runtime.Hosting.SiloOptions options, bool verbose, CancellationToken cancellationToken)
    {
        var builder = GridSilo.CreateBuilder(options);
        SiloServices?.Invoke(builder.Services);
        builder.Logging.SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Error);
        // The runtime lowers some categories' thresholds (to warning, say); a minimum level alone does not override a
        // category's rule, so each rule below error is raised to it.
        if (!verbose)
        {
            builder.Services.PostConfigure<LoggerFilterOptions>(filters =>
            {
                foreach (var (rule, i) in filters.Rules.Select((r, i) => (r, i)).Where(r => r.r.LogLevel < LogLevel.Error).ToList())
                    filters.Rules[i] = new LoggerFilterRule(rule.ProviderName, rule.CategoryName, LogLevel.Error, rule.Filter);
            });
        }
        var app = GridSilo.Build(builder);
        await app.StartAsync(cancellationToken);
        return new GridConnection(app, app.Services.GetRequiredService<IGrainFactory>(), options.Dashboard ? GridSilo.LoopbackHttpAddress(app) : null);
    }

    /// <summary>
    /// What `grid leaderboard` and `grid sweep list|status` read: the cluster at <paramref name="cluster"/> when one is
    /// given. Without it, the silo at the default gateway (a `grid silo`, or the one a running `grid sweep run` holds),
    /// else the embedded store that `grid sweep run` left (<paramref name="state"/>, else the default one), through a
    /// silo started here with no slots: one with slots would resume the store's unfinished trials. An explicit
    /// <paramref name="state"/> is read first; only when a silo holds it is the default gateway asked.
    /// </summary>
    public static async Task<GridConnection> QueryAsync(string? cluster, string? state, string clusterId, ClusterTls? tls, CancellationToken cancellationToken)
    {
        if (cluster is not null) return await ConnectAsync(cluster, clusterId, tls, cancellationToken);
        var options = new ExperimentGrid.Runtime.Hosting.SiloOptions();
        options = options with
        {
            StateDirectory = state is null ? options.StateDirectory : Path.GetFullPath(state),
            Slots = SiloSlots.None,
            // Its own ports: the default ones belong to a silo that may start meanwhile.
            SiloPort = GridSilo.FreePort(),
            GatewayPort = GridSilo.FreePort(),
            HttpPort = 0,
            Tls = tls,
        };
        if (state is null && await ListensAsync(DefaultCluster, cancellationToken))
        {
            try
            {
                return await ConnectAsync(DefaultCluster, clusterId, tls, cancellationToken);
            }
            catch (IOException) when (Directory.Exists(options.StateDirectory) && !EmbeddedStore.InUse(options.StateDirectory))
            {
                // Something else listens there (a silo of another cluster): the store is what this machine's sweeps left.
            }
        }
        if (!Directory.Exists(options.StateDirectory))
        {
            throw new IOException(state is null
                ? $"no silo answers at {DefaultCluster}, and there is no embedded store at {options.StateDirectory} (grid sweep run makes it): " +
                  "give a cluster's gateway with --cluster, or a store with --state."
                : $"--state: {options.StateDirectory}: no embedded store there (grid sweep run --state makes one).");
        }
        if (EmbeddedStore.InUse(options.StateDirectory))
        {
            if (state is not null && await ListensAsync(DefaultCluster, cancellationToken)) return await ConnectAsync(DefaultCluster, clusterId, tls, cancellationToken);
            throw new IOException($"{options.StateDirectory}: the embedded store is in use by a silo that does not answer at {DefaultCluster}; " +
                                  "give that silo's gateway with --cluster.");
        }
        return await StartSiloAsync(options, verbose: false, cancellationToken);
    }

    /// <summary>Whether anything accepts a TCP connection at the address: a refused port answers at once, where an Orleans client retries.</summary>
    private static async Task<bool> ListensAsync(string address, CancellationToken cancellationToken)
    {
        var endpoint = ParseEndpoint(address);
        using var client = new TcpClient(endpoint.AddressFamily);
        try
        {
            await client.ConnectAsync(endpoint, cancellationToken);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
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
