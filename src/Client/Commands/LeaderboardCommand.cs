using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Runtime.Hosting;
using Spectre.Console;

namespace ExperimentGrid.Client.Commands;

/// <summary>`grid leaderboard`: completed trials ranked by their sweep's objective.</summary>
internal static class LeaderboardCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Build()
    {
        var sweep = new Option<string>("--sweep") { Description = "Only this sweep's trials [default: every sweep's]" };
        var top = TopOption("How many trials.");
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var cluster = SweepCommand.ClusterOption($"The cluster's gateway, HOST:PORT [default: {GridConnection.DefaultCluster}]");
        var clusterId = SweepCommand.ClusterIdOption();
        var command = new Command("leaderboard", "The best completed trials, per sweep or across sweeps, with their hyperparameters.") { sweep, top, json, cluster, clusterId };
        var tls = ClusterTls.AddFlags(command, "client");
        command.SetAction((parse, cancellation) => CommandRunner.RunAsync(async _ =>
        {
            await using var grid = await GridConnection.ConnectAsync(parse.GetValue(cluster) ?? GridConnection.DefaultCluster, parse.GetValue(clusterId)!, tls(parse), cancellation);
            var entries = await grid.Grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).TopAsync(parse.GetValue(sweep), parse.GetValue(top));
            if (parse.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(entries.Select(e => new
                {
                    sweep = e.SweepId,
                    trial = e.TrialId,
                    metric = EvaluationMetrics.Name(e.Objective.Metric),
                    direction = e.Objective.Mode == ObjectiveMode.Max ? "maximize" : "minimize",
                    value = e.Value,
                    hyperparameters = e.Hyperparameters.ToDictionary(h => h.Field, h => h.Value),
                    metrics = e.Metrics.ToDictionary(m => EvaluationMetrics.Name(m.Metric), m => m.Value),
                    model = e.Model,
                }), Indented));
            else AnsiConsole.Write(Table(entries));
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// --top, checked as the command line is parsed: `grid sweep run` would otherwise train its whole sweep before
    /// the leaderboard refused the count.
    /// </summary>
    public static Option<int> TopOption(string description)
    {
        var top = new Option<int>("--top") { Description = description, DefaultValueFactory = _ => 10 };
        top.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1) result.AddError($"--top: must be at least 1, got {result.GetValueOrDefault<int>()}.");
        });
        return top;
    }

    public static Table Table(IReadOnlyList<LeaderboardEntry> entries)
    {
        var table = new Table().AddColumns("rank", "sweep", "trial", "hyperparameters", "objective", "value");
        var rank = 1;
        foreach (var e in entries)
            table.AddRow($"{rank++}", Markup.Escape(e.SweepId), Markup.Escape(e.TrialId),
                Markup.Escape(string.Join(" ", e.Hyperparameters.Select(h => $"{h.Field}={h.Value}"))),
                $"{EvaluationMetrics.Name(e.Objective.Metric)} ({e.Objective.Mode.ToString().ToLowerInvariant()})",
                e.Value.ToString("F4", CultureInfo.InvariantCulture));
        return table;
    }
}
