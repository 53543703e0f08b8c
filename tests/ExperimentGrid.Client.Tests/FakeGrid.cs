using System.Text.RegularExpressions;
using ExperimentGrid.Client.Commands;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.Runtime.Slots;
using ExperimentGrid.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ExperimentGrid.Client.Tests;

/// <summary>
/// Sweeps of fake trainables, for the sweep commands' own behaviour in seconds: the silo that `grid sweep run` starts
/// in this process trains <see cref="Fakes"/>, in an EXPERIMENTGRID_HOME of its own (its default store and
/// checkpoints), and <see cref="StartSiloAsync"/> starts a cluster of fakes that the CLI reaches with --cluster.
/// Only for the console collection, whose tests run one at a time: it sets process-wide state and puts it back.
/// </summary>
internal sealed partial class FakeGrid : IAsyncDisposable
{
    private const string HomeVariable = "EXPERIMENTGRID_HOME";
    private readonly string? _previousHome;
    private readonly List<WebApplication> _silos = [];

    public FakeGrid(FakeTrainableFactory fakes)
    {
        // Cli sets the tests' home on first use: touched first, it cannot overwrite this one later.
        _ = Cli.Home;
        _previousHome = Environment.GetEnvironmentVariable(HomeVariable);
        Fakes = fakes;
        Home = Directory.CreateTempSubdirectory("experimentgrid-fakes-").FullName;
        Environment.SetEnvironmentVariable(HomeVariable, Home);
        GridConnection.SiloServices = services => services.AddSingleton(new TrainableFactory(fakes.Create));
    }

    public FakeTrainableFactory Fakes { get; }

    /// <summary>The EXPERIMENTGRID_HOME of this grid: `grid sweep run` keeps its store in state/ and its models in checkpoints/.</summary>
    public string Home { get; }

    public string DefaultState => Path.Combine(Home, "state");

    /// <summary>
    /// A one-silo cluster of fakes on the embedded store <paramref name="state"/> (default: a directory of its own),
    /// its CPU slots <paramref name="slots"/>; returns it and the flags that reach it. On free ports and a cluster of
    /// its own, unless <paramref name="asGridSilo"/>: then on `grid silo`'s default ports and cluster id.
    /// </summary>
    public async Task<(WebApplication Silo, string[] Flags)> StartSiloAsync(string? state = null, string slots = "cpu:1", bool asGridSilo = false)
    {
        var id = $"cli-fakes-{Guid.NewGuid():N}";
        var options = new SiloOptions
        {
            StateDirectory = state ?? Path.Combine(Home, $"cluster-state-{_silos.Count}"),
            CheckpointDirectory = Path.Combine(Home, "checkpoints"),
            Slots = SiloSlots.Parse(slots),
            SiloPort = GridSilo.FreePort(),
            GatewayPort = GridSilo.FreePort(),
            HttpPort = 0,
            ClusterId = id,
            ServiceId = id,
        };
        if (asGridSilo)
        {
            var defaults = new SiloOptions();
            options = options with { SiloPort = defaults.SiloPort, GatewayPort = defaults.GatewayPort, ClusterId = defaults.ClusterId, ServiceId = defaults.ServiceId };
        }
        var builder = GridSilo.CreateBuilder(options);
        builder.Services.AddSingleton(new TrainableFactory(Fakes.Create));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var silo = GridSilo.Build(builder);
        await silo.StartAsync();
        _silos.Add(silo);
        return (silo, ["--cluster", $"127.0.0.1:{options.GatewayPort}", "--cluster-id", id]);
    }

    /// <summary>Stops a silo as a user's Ctrl+C would: its slots give their trials back to the store.</summary>
    public async Task StopSiloAsync(WebApplication silo)
    {
        _silos.Remove(silo);
        await silo.StopAsync();
        await silo.DisposeAsync();
    }

    public string WriteSpec(string name, string text)
    {
        var path = Path.Combine(Home, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>
    /// A sweep of fakes over <paramref name="learningRates"/> (one trial each, in order), <paramref name="epochs"/>
    /// epochs, no retries, ranked by F1: with no noise the rate nearest 3e-5 wins (FakeObjective).
    /// </summary>
    public static string Spec(string name, string learningRates, int epochs = 2, int? maxConcurrent = null) => $"""
        name: {name}
        trial:
          task: text-classification
          model: minilm
          dataset: rotten_tomatoes
          epochs: {epochs}
          test_split: none
        grid:
          learning_rate: {learningRates}
        objective:
          metric: f1
          mode: max
        retries: 0
        {(maxConcurrent is { } most ? $"max_concurrent_trials: {most}" : "")}
        """;

    /// <summary>The id `grid sweep run` printed.</summary>
    public static string SweepId(string output)
    {
        var match = SweepLine().Match(output);
        Assert.True(match.Success, $"no sweep id in:\n{output}");
        return match.Groups[1].Value;
    }

    /// <summary>Every table's rows in <paramref name="output"/>, header rows included, each as its trimmed cells.</summary>
    public static List<string[]> Rows(string output) =>
        [.. output.Split('\n')
            .Where(line => line.StartsWith('│'))
            .Select(line => line.Trim().Trim('│').Split('│').Select(cell => cell.Trim()).ToArray())];

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"not reached within {limit}");
            await Task.Delay(100);
        }
    }


    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos)
        {
            await silo.StopAsync();
            await silo.DisposeAsync();
        }
        GridConnection.SiloServices = null;
        Environment.SetEnvironmentVariable(HomeVariable, _previousHome);
        Directory.Delete(Home, recursive: true);
    }

    [GeneratedRegex(@"^sweep (\S+)$", RegexOptions.Multiline)]
    private static partial Regex SweepLine();
}
