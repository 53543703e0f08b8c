using Spectre.Console;

namespace ExperimentGrid.Client.Tests;

/// <summary>Runs the grid command line in-process with stdout and stderr captured.</summary>
internal static class Cli
{
    public sealed record Result(int ExitCode, string Out, string Error);

    /// <summary>The tests' EXPERIMENTGRID_HOME, this process's from the first use of this class on.</summary>
    public static string Home { get; }

    static Cli()
    {
        // Keep test imports of the bundled model out of the user's own cache.
        Home = Path.Combine(AppContext.BaseDirectory, "grid-home");
        Environment.SetEnvironmentVariable("EXPERIMENTGRID_HOME", Home);
    }

    public static async Task<Result> RunAsync(params string[] args)
    {
        var (originalOut, originalError, originalConsole) = (Console.Out, Console.Error, AnsiConsole.Console);
        using var output = new StringWriter();
        using var error = new StringWriter();
        Console.SetOut(output);
        Console.SetError(error);
        // AnsiConsole keeps the Console.Out it first saw, which would be an earlier run's writer; give it this one, as
        // plain text (a pipe's view) and wide enough that tables do not wrap their cells.
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        AnsiConsole.Console.Profile.Width = 400;
        try
        {
            var exitCode = await Program.BuildRoot().Parse(args).InvokeAsync();
            return new Result(exitCode, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(originalOut);
            Console.SetError(originalError);
            AnsiConsole.Console = originalConsole;
        }
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "console";
}
