using System.CommandLine;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

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
            services =>
            {
                services.AddSingleton(new TrainableFactory(fakes.Create));
                // Where a trial's overhead goes, for the grid benchmark: grain calls by method, and Orleans' own storage timings.
                services.AddSingleton<IOutgoingGrainCallFilter, CallTimings>();
                services.ConfigureOpenTelemetryMeterProvider(metrics => metrics.AddMeter(CallTimings.MeterName, "Microsoft.Orleans"));
            });
        return await command.Parse(args).InvokeAsync();
    }
}
