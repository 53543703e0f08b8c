using System.CommandLine;
using System.Globalization;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.Runtime.Slots;
using Spectre.Console;

namespace ExperimentGrid.Client.Commands;

/// <summary>`grid sweep run | list | status | cancel`.</summary>
internal static class SweepCommand
{
    public static Option<string> ClusterOption(string description) => new("--cluster") { Description = description };

    public static Option<string> ClusterIdOption() => new("--cluster-id") { Description = "The cluster's id [default: experimentgrid]", DefaultValueFactory = _ => "experimentgrid" };

    public static Command Build()
    {
        var command = new Command("sweep", "Run hyperparameter sweeps on the grid and look at them.");
        command.Subcommands.Add(Run());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Status());
        command.Subcommands.Add(Cancel());
        return command;
    }

    private static Command Run()
    {
        var spec = new Argument<string>("spec") { Description = "The sweep file (YAML or JSON)." };
        var cluster = ClusterOption("A running cluster's gateway, HOST:PORT; without it a silo starts in this process (embedded store, this machine's slots).");
        var clusterId = ClusterIdOption();
        var slots = new Option<string>("--slots") { Description = "With no --cluster: the in-process silo's slots, e.g. cpu:2 [default: one per GPU, else cpu:1]" };
        var state = new Option<string>("--state") { Description = "With no --cluster: the in-process silo's embedded store [default: as grid silo's]" };
        var top = LeaderboardCommand.TopOption("Rows of the final leaderboard.");
        var command = new Command("run", "Submit a sweep, show every trial's live progress, and end with its leaderboard.") { spec, cluster, clusterId, slots, state, top };
        var tls = ClusterTls.AddFlags(command, "client");
        command.SetAction((parse, cancellation) => CommandRunner.RunAsync(async _ =>
        {
            var path = parse.GetValue(spec)!;
            // Read here first: a file that is missing or not YAML is named before any silo starts. For the in-process
            // silo the whole spec is checked here too, against the roots that silo will use; a cluster checks it itself.
            var parsed = SweepSpec.Load(path);
            var address = parse.GetValue(cluster);
            var silo = InProcessSilo(parse.GetValue(slots), parse.GetValue(state));
            if (address is null) parsed.Expand(new SweepRoots(silo.DataRoot, silo.ModelRoots, silo.CheckpointDirectory));
            var name = parsed.Name;
            var submission = new SweepSubmission(path, await File.ReadAllTextAsync(path, cancellation));
            await using var grid = address is not null
                ? await GridConnection.ConnectAsync(address, parse.GetValue(clusterId)!, tls(parse), cancellation)
                : await GridConnection.StartSiloAsync(silo with { Tls = tls(parse) }, cancellation);
            var id = $"{(string.IsNullOrWhiteSpace(name) ? Path.GetFileNameWithoutExtension(path) : name)}-{DateTime.UtcNow:yyyyMMdd-HHmmss}";
            var sweep = grid.Sweep(id);
            await Submit(sweep, submission);
            AnsiConsole.MarkupLine($"sweep [bold]{Markup.Escape(id)}[/]");
            var end = await ShowProgressAsync(sweep, cancellation);
            AnsiConsole.Write(LeaderboardCommand.Table(await grid.Grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).RankAsync(id, parse.GetValue(top))));
            return end.Trials.Any(t => t.Status == TrialStatus.Failed) ? 1 : 0;
        }));
        return command;
    }

    private static Command List()
    {
        var cluster = ClusterOption($"The cluster's gateway, HOST:PORT [default: {GridConnection.DefaultCluster}]");
        var clusterId = ClusterIdOption();
        var command = new Command("list", "The cluster's sweeps and their trials by state.") { cluster, clusterId };
        var tls = ClusterTls.AddFlags(command, "client");
        command.SetAction((parse, cancellation) => CommandRunner.RunAsync(async _ =>
        {
            await using var grid = await GridConnection.ConnectAsync(parse.GetValue(cluster) ?? GridConnection.DefaultCluster, parse.GetValue(clusterId)!, tls(parse), cancellation);
            var table = new Table().AddColumns("sweep", "name", "status", "pending", "running", "completed", "failed", "cancelled", "submitted");
            foreach (var id in await grid.Grains.GetGrain<ISweepIndexGrain>(0).ListAsync())
            {
                var s = await grid.Sweep(id).GetAsync();
                table.AddRow(Markup.Escape(id), Markup.Escape(s.Name), s.Status.ToString(), $"{s.Count(TrialStatus.Pending)}", $"{s.Count(TrialStatus.Running)}",
                    $"{s.Count(TrialStatus.Completed)}", $"{s.Count(TrialStatus.Failed)}", $"{s.Count(TrialStatus.Cancelled)}", $"{s.SubmittedAt:u}");
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Status()
    {
        var id = new Argument<string>("id") { Description = "The sweep's id (grid sweep list)." };
        var cluster = ClusterOption($"The cluster's gateway, HOST:PORT [default: {GridConnection.DefaultCluster}]");
        var clusterId = ClusterIdOption();
        var command = new Command("status", "A sweep's trials: status, attempts, progress, result or error.") { id, cluster, clusterId };
        var tls = ClusterTls.AddFlags(command, "client");
        command.SetAction((parse, cancellation) => CommandRunner.RunAsync(async _ =>
        {
            await using var grid = await GridConnection.ConnectAsync(parse.GetValue(cluster) ?? GridConnection.DefaultCluster, parse.GetValue(clusterId)!, tls(parse), cancellation);
            var sweep = await Existing(grid, parse.GetValue(id)!);
            AnsiConsole.MarkupLine($"{Markup.Escape(sweep.SweepId)}: {sweep.Status}");
            AnsiConsole.Write(TrialTable(sweep));
            return 0;
        }));
        return command;
    }

    private static Command Cancel()
    {
        var id = new Argument<string>("id") { Description = "The sweep's id (grid sweep list)." };
        var cluster = ClusterOption($"The cluster's gateway, HOST:PORT [default: {GridConnection.DefaultCluster}]");
        var clusterId = ClusterIdOption();
        var command = new Command("cancel", "Cancel a sweep: waiting trials never start, running ones are dropped by their slots.") { id, cluster, clusterId };
        var tls = ClusterTls.AddFlags(command, "client");
        command.SetAction((parse, cancellation) => CommandRunner.RunAsync(async _ =>
        {
            await using var grid = await GridConnection.ConnectAsync(parse.GetValue(cluster) ?? GridConnection.DefaultCluster, parse.GetValue(clusterId)!, tls(parse), cancellation);
            var sweep = await Existing(grid, parse.GetValue(id)!);
            await grid.Sweep(sweep.SweepId).CancelAsync();
            AnsiConsole.MarkupLine($"{Markup.Escape(sweep.SweepId)}: cancelled");
            return 0;
        }));
        return command;
    }

    private static SiloOptions InProcessSilo(string? slots, string? state)
    {
        // Port 0 for HTTP: a second `grid sweep run` or a silo already on 8080 must not stop this one starting.
        var options = new SiloOptions { HttpPort = 0 };
        if (state is not null) options = options with { StateDirectory = Path.GetFullPath(state) };
        try
        {
            return slots is null ? options : options with { Slots = SiloSlots.Parse(slots) };
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"--slots: {e.Message}", e);
        }
    }

    private static async Task Submit(ISweepGrain sweep, SweepSubmission submission)
    {
        try
        {
            await sweep.SubmitAsync(submission);
        }
        catch (SweepRejectedException e)
        {
            throw new ArgumentException(e.Message, e);
        }
    }

    private static async Task<SweepSnapshot> Existing(GridConnection grid, string id)
    {
        var sweep = await grid.Sweep(id).GetAsync();
        return sweep.Status == SweepStatus.Unknown ? throw new ArgumentException($"no sweep '{id}' on this cluster (grid sweep list shows them).") : sweep;
    }

    private static async Task<SweepSnapshot> ShowProgressAsync(ISweepGrain sweep, CancellationToken cancellation)
    {
        var snapshot = await sweep.GetAsync();
        await AnsiConsole.Live(TrialTable(snapshot)).StartAsync(async live =>
        {
            while (snapshot.Status == SweepStatus.Running)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellation);
                snapshot = await sweep.GetAsync();
                live.UpdateTarget(TrialTable(snapshot));
            }
        });
        return snapshot;
    }

    /// <summary>Every trial the sweep has started, from the one snapshot the sweep grain gives.</summary>
    private static Table TrialTable(SweepSnapshot sweep)
    {
        var table = new Table().AddColumns("trial", "hyperparameters", "status", "attempts", "epoch", "step", "loss", "samples/s", sweep.Objective is { } objective ? EvaluationMetrics.Name(objective.Metric) : "objective", "error");
        foreach (var trial in sweep.Trials)
        {
            // A slot's heartbeats before the first optimizer step (loading the model) carry no progress yet.
            var p = trial.Progress is { TotalSteps: > 0 } progress ? progress : null;
            table.AddRow(
                Markup.Escape(trial.TrialId),
                Markup.Escape(string.Join(" ", trial.Hyperparameters.Select(h => $"{h.Field}={h.Value}"))),
                trial.Status.ToString(),
                $"{trial.Attempts}",
                p is null ? "" : $"{p.Epoch}/{p.Epochs}",
                p is null ? "" : $"{p.Step}/{p.TotalSteps}",
                p is null ? "" : p.Loss.ToString("F4", CultureInfo.InvariantCulture),
                p is null ? "" : p.SamplesPerSecond.ToString("F1", CultureInfo.InvariantCulture),
                trial.Objective?.ToString("F4", CultureInfo.InvariantCulture) ?? "",
                Markup.Escape(trial.Error ?? ""));
        }
        if (sweep.Trials.Count < sweep.SpaceSize && sweep.Status == SweepStatus.Running)
            table.Caption($"{sweep.Trials.Count} of {sweep.SpaceSize} configurations suggested so far");
        else if (sweep.EndReason is { } reason)
            table.Caption($"ended: {reason}");
        return table;
    }
}
