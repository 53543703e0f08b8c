using System.CommandLine;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.FakeSilo;

public static class Program
{
    private const int UsageError = 2;

    public static async Task<int> Main(string[] args)
    {
        FakeSiloSettings settings;
        try
        {
            settings = FakeSiloSettings.FromEnvironment();
        }
        catch (FormatException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return UsageError;
        }
        var fakes = settings.CreateFactory();
        var command = SiloCommand.Configure(
            new RootCommand($"An ExperimentGrid silo whose slots train fake trainables ({settings}; set by {FakeSiloSettings.StepsPerEpochVariable}, " +
                            $"{FakeSiloSettings.StepMillisecondsVariable} and {FakeSiloSettings.NoiseVariable}): the real silo's flags, storage and faults, in seconds."),
            services => services.AddSingleton(new TrainableFactory(fakes.Create)));
        return await command.Parse(args).InvokeAsync();
    }
}
