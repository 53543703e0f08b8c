using System.CommandLine;
using ExperimentGrid.Client.Commands;

namespace ExperimentGrid.Client;

public static class Program
{
    public static Task<int> Main(string[] args) => BuildRoot().Parse(args).InvokeAsync();

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("ExperimentGrid: fine-tune and serve BERT-family encoders, and sweep their hyperparameters.");
        root.Subcommands.Add(TrainCommand.Build());
        root.Subcommands.Add(EvalCommand.Build());
        root.Subcommands.Add(PredictCommand.Build());
        root.Subcommands.Add(NerCommand.Build());
        root.Subcommands.Add(FillMaskCommand.Build());
        root.Subcommands.Add(EmbedCommand.Build());
        root.Subcommands.Add(ModelsCommand.Build());
        root.Subcommands.Add(SweepCommand.Build());
        root.Subcommands.Add(LeaderboardCommand.Build());
        root.Subcommands.Add(GridAdminCommands.Silo());
        root.Subcommands.Add(GridAdminCommands.Db());
        return root;
    }
}
