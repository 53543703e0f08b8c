using System.Net;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Grid.Tests.TestGrains;
using ExperimentGrid.TestSupport;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.Runtime.Slots;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ExperimentGrid.Grid.Tests;

/// <summary>Starts real silos (GridSilo, as `dotnet run --project src/Silo` does) on loopback for the tests.</summary>
internal static class Silos
{
    /// <summary>A silo of a new cluster, keeping its embedded store and checkpoints under <paramref name="directory"/>.</summary>
    public static SiloOptions Options(string directory, string? postgres = null, string? slots = null)
    {
        var id = $"test-{Guid.NewGuid():N}";
        return new SiloOptions
        {
            Postgres = postgres,
            StateDirectory = Path.Combine(directory, "state"),
            CheckpointDirectory = Path.Combine(directory, "checkpoints"),
            Slots = SiloSlots.Parse(slots ?? "cpu:1"),
            SiloPort = GridSilo.FreePort(),
            GatewayPort = GridSilo.FreePort(),
            HttpPort = 0,
            ClusterId = id,
            ServiceId = id,
            Address = postgres is null ? null : IPAddress.Loopback,
        };
    }

    /// <summary>A silo of a new cluster that trains: sweeps read <see cref="GridWorld"/>'s data root and model cache.</summary>
    public static SiloOptions Training(string directory) => Options(directory) with
    {
        DataRoot = GridWorld.DataRoot(directory),
        ModelRoots = [GridWorld.ModelCache],
    };

    /// <summary>The same cluster and store on new ports, as a restarted silo would be.</summary>
    public static SiloOptions Restarted(SiloOptions options) => options with { SiloPort = GridSilo.FreePort(), GatewayPort = GridSilo.FreePort() };

    /// <summary>Starts a silo; <paramref name="services"/> may replace its services (a fake trainable, say).</summary>
    public static async Task<WebApplication> StartAsync(SiloOptions options, Action<IServiceCollection>? services = null)
    {
        var builder = GridSilo.CreateBuilder(options);
        services?.Invoke(builder.Services);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = GridSilo.Build(builder);
        await app.StartAsync();
        return app;
    }

    /// <summary>A silo of a new cluster whose slots train <paramref name="fakes"/>: the grid's own behaviour, in seconds.</summary>
    public static Task<WebApplication> StartWithFakesAsync(string directory, FakeTrainableFactory fakes, string slots = "cpu:2") =>
        StartAsync(Training(directory) with { Slots = SiloSlots.Parse(slots) }, services => services.AddSingleton(new TrainableFactory(fakes.Create)));

    public static INoteGrain Note(this WebApplication silo, string key) =>
        silo.Services.GetRequiredService<IGrainFactory>().GetGrain<INoteGrain>(key);

    /// <summary>The silo's HTTP base address on loopback (it listens on any address, on a port the OS chose).</summary>
    public static Uri HttpAddress(this WebApplication silo) => GridSilo.LoopbackHttpAddress(silo);

}

/// <summary>A directory for one test, deleted with it.</summary>
internal sealed class TemporaryDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("experimentgrid-test-").FullName;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Silo tests run one at a time: each silo takes ports and, on two cores, most of the machine while it starts.</summary>
[CollectionDefinition(Name)]
public sealed class SiloCollection
{
    public const string Name = "Silos";
}
