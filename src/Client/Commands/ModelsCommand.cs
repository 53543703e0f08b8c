using System.CommandLine;
using ExperimentGrid.Core.Import;
using Spectre.Console;

namespace ExperimentGrid.Client.Commands;

internal static class ModelsCommand
{
    public static Command Build()
    {
        var command = new Command("models", "List the bundled offline models and where their imported copies are cached.");
        command.SetAction(_ =>
        {
            var table = new Table().AddColumns("name", "model", "cached at");
            foreach (var m in BundledModels.All)
            {
                var directory = Path.Combine(BundledModels.CacheRoot, m.Name);
                table.AddRow(m.Name, Markup.Escape(m.Description), Markup.Escape(Directory.Exists(directory) ? directory : "(imported on first use)"));
            }
            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }
}
