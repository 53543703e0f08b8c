using System.Net;
using ExperimentGrid.Runtime.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace ExperimentGrid.Grid.Tests;

/// <summary>Orleans clients of silos that run in processes of their own (<see cref="TestSupport.SiloProcess"/>).</summary>
internal static class SiloClients
{
    /// <summary>A client of a cluster on PostgreSQL, which finds the silos' gateways in the membership table.</summary>
    public static Task<IHost> ConnectPostgresAsync(string postgres, string clusterId) =>
        ConnectAsync(clusterId, client => client.UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = (GridDatabase.Invariant, postgres)));

    /// <summary>A client of a single silo on the embedded store, through its gateway on loopback.</summary>
    public static Task<IHost> ConnectGatewayAsync(int gatewayPort, string clusterId) =>
        ConnectAsync(clusterId, client => client.UseStaticClustering(new IPEndPoint(IPAddress.Loopback, gatewayPort)));

    private static async Task<IHost> ConnectAsync(string clusterId, Action<IClientBuilder> clustering)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, clusterId));
            clustering(client);
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
