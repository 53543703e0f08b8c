using System.CommandLine;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.Runtime.Storage;

namespace ExperimentGrid.Client.Commands;

/// <summary>`grid silo` (the silo host's own command) and `grid db init`.</summary>
internal static class GridAdminCommands
{
    public static Command Silo() => SiloCommand.Configure(new Command("silo", "Run a silo: trains sweeps' trials on its slots and serves /metrics (as dotnet run --project src/Silo)."));

    public static Command Db()
    {
        var postgres = new Option<string>("--postgres") { Description = "PostgreSQL connection string.", Required = true };
        var init = new Command("init", "Create or update the grid's schema (deploy/sql) in a PostgreSQL database; safe to run again.") { postgres };
        init.SetAction(async (parse, cancellation) =>
        {
            try
            {
                await GridDatabase.InitializeAsync(parse.GetValue(postgres)!, cancellationToken: cancellation);
                Console.WriteLine($"schema applied to {GridDatabase.Describe(parse.GetValue(postgres)!)}");
                return 0;
            }
            catch (GridDatabaseException e)
            {
                await Console.Error.WriteLineAsync($"error: --postgres: {e.Message}");
                return CommandRunner.UsageError;
            }
        });
        var command = new Command("db", "The grid's PostgreSQL database.");
        command.Subcommands.Add(init);
        return command;
    }
}
