using System.CommandLine;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Console;

namespace ExperimentGrid.Client.Commands;

/// <summary>Runs a command body and turns the errors a user can fix into one clear line and exit code 2.</summary>
internal static class CommandRunner
{
    public const int UsageError = 2;

    public static Option<int?> ThreadsOption() => new("--threads") { Description = "CPU threads for TorchSharp. Default: all cores." };

    public static async Task<int> RunAsync(Func<ILoggerFactory, Task<int>> body, int? threads = null)
    {
        using var loggers = LoggerFactory.Create(builder =>
        {
            builder.SetMinimumLevel(LogLevel.Information);
            builder.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
                o.ColorBehavior = LoggerColorBehavior.Disabled;
            });
            // Logs go to stderr so that stdout carries only results (tables, --json) and pipes cleanly.
            builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });
        try
        {
            if (threads is { } n)
            {
                if (n <= 0) throw new TrialSpecException($"--threads: must be positive, got {n}.");
                TorchSharp.torch.set_num_threads(n);
            }
            return await body(loggers);
        }
        catch (Exception e) when (e is TrialSpecException or DatasetException or FileNotFoundException or DirectoryNotFoundException
                                      or InvalidDataException or TrainingDivergedException or ArgumentException or NotSupportedException
                                      or Core.Sweeps.SweepSpecException or IOException)
        {
            // ArgumentException appends "(Parameter 'x')", which names our code's parameter, not the user's input.
            var message = e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message;
            await Console.Error.WriteLineAsync($"error: {message}");
            return UsageError;
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("cancelled.");
            return 130;
        }
    }
}
