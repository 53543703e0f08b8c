using ExperimentGrid.Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace ExperimentGrid.Runtime.Storage;

/// <summary>
/// The two durable stores a silo can run on. Each registers grain state under <see cref="StorageNames"/>, written by
/// Orleans' own serializer: grain state holds Core's types (a trial's spec, its objective and metrics), which reach the
/// wire and the store through the same surrogates, versioned by field id. Orleans' default for storage, a JSON
/// serializer of its own, would instead write .NET type names and reflect over Core's records.
/// </summary>
public static class GridStoreExtensions
{
    /// <summary>
    /// A cluster: membership, grain state and reminders in PostgreSQL, through Orleans' AdoNet providers and the
    /// scripts in deploy/sql/, which the silo applies before Orleans starts.
    /// </summary>
    public static ISiloBuilder UseGridPostgres(this ISiloBuilder silo, string connectionString, string serviceId)
    {
        silo.Services.AddHostedService(_ => new DatabaseInitializer(connectionString, serviceId));
        silo.UseAdoNetClustering(o =>
        {
            o.Invariant = GridDatabase.Invariant;
            o.ConnectionString = connectionString;
        });
        silo.AddAdoNetGrainStorage(StorageNames.Grid, options => options.Configure<Serializer>((o, serializer) =>
        {
            o.Invariant = GridDatabase.Invariant;
            o.ConnectionString = connectionString;
            o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
        }));
        silo.UseAdoNetReminderService(o =>
        {
            o.Invariant = GridDatabase.Invariant;
            o.ConnectionString = connectionString;
        });
        return silo;
    }

    /// <summary>
    /// One machine without a database server: grain state and reminders in files under <paramref name="directory"/>.
    /// Clustering is the caller's (localhost clustering: a one-silo cluster needs no membership store).
    /// </summary>
    public static ISiloBuilder UseGridEmbeddedStore(this ISiloBuilder silo, string directory)
    {
        silo.Services.AddSingleton(_ => new EmbeddedStore(directory));
        silo.Services.AddHostedService(sp => sp.GetRequiredService<EmbeddedStore>());
        silo.Services.AddGrainStorage(StorageNames.Grid, (sp, name) => new FileGrainStorage(
            name, sp.GetRequiredService<EmbeddedStore>(), new OrleansGrainStorageSerializer(sp.GetRequiredService<Serializer>()),
            sp.GetRequiredService<IActivatorProvider>()));
        silo.AddReminders();
        silo.Services.AddSingleton<IReminderTable, FileReminderTable>();
        return silo;
    }

    /// <summary>Applies the schema in the host's starting phase, which completes before Orleans' silo starts.</summary>
    private sealed class DatabaseInitializer(string connectionString, string serviceId) : IHostedLifecycleService
    {
        public Task StartingAsync(CancellationToken cancellationToken) => GridDatabase.InitializeAsync(connectionString, serviceId, cancellationToken);
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
