using System.CommandLine;
using ExperimentGrid.Runtime.Hosting;

namespace ExperimentGrid.Silo;

public static class Program
{
    public static Task<int> Main(string[] args) =>
        SiloCommand.Configure(new RootCommand("An ExperimentGrid silo: runs sweeps' trials on its slots and serves /metrics.")).Parse(args).InvokeAsync();
}
