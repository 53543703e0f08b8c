namespace ExperimentGrid.Client.Tests;

/// <summary>Runs the grid command line in-process with stdout and stderr captured.</summary>
internal static class Cli
{
    public sealed record Result(int ExitCode, string Out, string Error);

    static Cli()
    {
        // Keep test imports of the bundled model out of the user's own cache.
        Environment.SetEnvironmentVariable("EXPERIMENTGRID_HOME", Path.Combine(AppContext.BaseDirectory, "grid-home"));
    }

    public static async Task<Result> RunAsync(params string[] args)
    {
        var (originalOut, originalError) = (Console.Out, Console.Error);
        using var output = new StringWriter();
        using var error = new StringWriter();
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            var exitCode = await Program.BuildRoot().Parse(args).InvokeAsync();
            return new Result(exitCode, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(originalOut);
            Console.SetError(originalError);
        }
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "console";
}
