using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Runtime;
using ExperimentGrid.Runtime.Hosting;
using Spectre.Console;

namespace ExperimentGrid.Client.Commands;

/// <summary>
/// `grid leaderboard`: configurations ranked by the mean of their replicates (trials that differ only in seed), with
/// a 95% t-interval, n and, where a sweep has several objectives, its Pareto front. The order is LeaderboardRow.Rank's.
/// </summary>
internal static class LeaderboardCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Build()
    {
        var sweep = new Option<string>("--sweep") { Description = "Only this sweep's configurations [default: every sweep's]" };
        var top = TopOption("How many configurations.");
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var cluster = SweepCommand.QueryClusterOption();
        var clusterId = SweepCommand.ClusterIdOption();
        var state = SweepCommand.StateOption();
        var command = new Command("leaderboard",
            "The best configurations, per sweep or across sweeps: each one's mean over its seeds ± a 95% t-interval, n, and its sweep's Pareto front.")
            { sweep, top, json, cluster, clusterId, state };
        var tls = ClusterTls.AddFlags(command, "client");
        command.SetAction((parse, cancellation) => CommandRunner.RunAsync(async _ =>
        {
            await using var grid = await GridConnection.QueryAsync(parse.GetValue(cluster), parse.GetValue(state), parse.GetValue(clusterId)!, tls(parse), cancellation);
            var rows = await grid.Grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).RankAsync(parse.GetValue(sweep), parse.GetValue(top));
            if (parse.GetValue(json)) Console.WriteLine(GridJson.Leaderboard(rows).ToJsonString(Indented));
            else AnsiConsole.Write(Table(rows));
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

    private static string Name(SweepObjective objective) => EvaluationMetrics.Name(objective.Metric);

    private static string Heading(SweepObjective objective) => $"{Name(objective)} ({objective.Mode.ToString().ToLowerInvariant()})";

    /// <summary>
    /// The rows as a table: the primary objective in "objective" and "value"; any further objectives each in a column
    /// of their own; "front" marks the Pareto fronts where a sweep has several objectives.
    /// </summary>
    public static Table Table(IReadOnlyList<LeaderboardRow> rows)
    {
        var extra = rows.SelectMany(r => r.Objectives.Skip(1)).Distinct().ToList();
        var front = rows.Any(r => r.ParetoRank is not null);
        var table = new Table().AddColumns(["rank", "sweep", "best trial", "hyperparameters", "n", "objective", "value", .. extra.Select(Heading), .. front ? ["front"] : Array.Empty<string>()]);
        var rank = 1;
        foreach (var row in rows)
        {
            var intervals = row.Intervals;
            List<string> cells =
            [
                $"{rank++}", Markup.Escape(row.SweepId), Markup.Escape(row.Best.TrialId),
                Markup.Escape(string.Join(" ", row.Hyperparameters.Select(h => $"{h.Field}={h.Value}"))),
                $"{row.N}", Heading(row.Objective), Shown(intervals[0]),
                .. extra.Select(o => row.Objectives.Skip(1).ToList().IndexOf(o) is var i and >= 0 ? Shown(intervals[i + 1]) : ""),
            ];
            if (front) cells.Add(row.OnParetoFront ? "*" : "");
            table.AddRow([.. cells]);
        }
        var caption = "value: mean over the n replicates (seeds) ± half-width of its 95% t-interval; one replicate shows its value alone.";
        if (front) caption += " *: on its sweep's Pareto front, where no configuration of the sweep is as good on every objective and better on one.";
        return table.Caption(Markup.Escape(caption));
    }

    /// <summary>0.8123 ± 0.0071; a single replicate's value alone. Large values (seconds, parameter counts) drop the decimals.</summary>
    internal static string Shown(MeanInterval interval)
    {
        var format = Math.Abs(interval.Mean) >= 1000 ? "F0" : "F4";
        var mean = interval.Mean.ToString(format, CultureInfo.InvariantCulture);
        return interval.HalfWidth is { } halfWidth ? $"{mean} ± {halfWidth.ToString(format, CultureInfo.InvariantCulture)}" : mean;
    }
}
