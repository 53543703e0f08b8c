using System.CommandLine;
using System.Globalization;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.Runtime.Slots;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace ExperimentGrid.Client.Commands;

/// <summary>`grid sweep run | watch | list | status | cancel`.</summary>
internal static class SweepCommand
{
    public static Option<string> ClusterOption(string description) => new("--cluster") { Description = description };

    public static Option<string> ClusterIdOption() => new("--cluster-id") { Description = "The cluster's id", DefaultValueFactory = _ => "experimentgrid" };

    /// <summary>--cluster of the commands that only read: without it they read this machine's sweeps (<see cref="GridConnection.QueryAsync"/>).</summary>
    public static Option<string> QueryClusterOption() => ClusterOption(
        $"The cluster's gateway, HOST:PORT [default: the silo at {GridConnection.DefaultCluster}, else the embedded store grid sweep run leaves]");

    /// <summary>--state of the commands that only read: the embedded store to read when no --cluster is given.</summary>
    public static Option<string> StateOption() => new("--state") { Description = "With no --cluster: the embedded store to read [default: the one grid sweep run uses]" };

    public static Command Build()
    {
        var command = new Command("sweep", "Run hyperparameter sweeps on the grid and look at them.");
        command.Subcommands.Add(Run());
        command.Subcommands.Add(Watch());
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
        var detach = new Option<bool>("--detach") { Description = "With --cluster: submit the sweep, print its id and return; grid sweep watch ID follows it." };
        var verbose = new Option<bool>("--verbose") { Description = "With no --cluster: show the in-process silo's logs from information up [default: errors only]" };
        var command = new Command("run", "Submit a sweep, show every trial's live progress, and end with its leaderboard.") { spec, cluster, clusterId, slots, state, top, detach, verbose };
        var tls = ClusterTls.AddFlags(command, "client");
        command.SetAction((parse, cancellation) => CommandRunner.RunAsync(async _ =>
        {
            var path = parse.GetValue(spec)!;
            var address = parse.GetValue(cluster);
            if (parse.GetValue(detach) && address is null)
            {
                throw new ArgumentException("--detach needs --cluster: without it the sweep's silo lives in this command and would stop with it; " +
                                            "start one with grid silo and pass --cluster 127.0.0.1:30000.");
            }
            // Read here first: a file that is missing or not YAML is named before any silo starts. For the in-process
            // silo the whole spec is checked here too, against the roots that silo will use; a cluster checks it itself.
            var parsed = SweepSpec.Load(path);
            var silo = InProcessSilo(parse.GetValue(slots), parse.GetValue(state));
            if (address is null) parsed.Expand(new SweepRoots(silo.DataRoot, silo.ModelRoots, silo.CheckpointDirectory));
            var name = parsed.Name;
            var submission = new SweepSubmission(path, await File.ReadAllTextAsync(path, cancellation));
            await using var grid = address is not null
                ? await GridConnection.ConnectAsync(address, parse.GetValue(clusterId)!, tls(parse), cancellation)
                : await GridConnection.StartSiloAsync(silo with { Tls = tls(parse) }, parse.GetValue(verbose), cancellation);
            var id = $"{(string.IsNullOrWhiteSpace(name) ? Path.GetFileNameWithoutExtension(path) : name)}-{DateTime.UtcNow:yyyyMMdd-HHmmss}";
            await Submit(grid.Sweep(id), submission);
            AnsiConsole.MarkupLine($"sweep [bold]{Markup.Escape(id)}[/]");
            if (grid.Dashboard is { } dashboard) AnsiConsole.MarkupLine(Markup.Escape($"dashboard: {new Uri(dashboard, $"sweeps/{Uri.EscapeDataString(id)}")} (while this command runs)"));
            if (parse.GetValue(detach))
            {
                AnsiConsole.MarkupLine(Markup.Escape($"follow it with: grid sweep watch {id} --cluster {address}"));
                return 0;
            }
            return await FollowAsync(grid, id, parse.GetValue(top), cancellation);
        }));
        return command;
    }

    private static Command Watch()
    {
        var id = new Argument<string>("id") { Description = "The sweep's id (grid sweep list)." };
        var cluster = ClusterOption($"The cluster's gateway, HOST:PORT [default: {GridConnection.DefaultCluster}]");
        var clusterId = ClusterIdOption();
        var top = LeaderboardCommand.TopOption("Rows of the final leaderboard.");
        var command = new Command("watch", "Follow a sweep on a cluster (grid sweep run --detach): its live progress until it ends, then its leaderboard.") { id, cluster, clusterId, top };
        var tls = ClusterTls.AddFlags(command, "client");
        command.SetAction((parse, cancellation) => CommandRunner.RunAsync(async _ =>
        {
            await using var grid = await GridConnection.ConnectAsync(parse.GetValue(cluster) ?? GridConnection.DefaultCluster, parse.GetValue(clusterId)!, tls(parse), cancellation);
            var sweep = await Existing(grid, parse.GetValue(id)!);
            AnsiConsole.MarkupLine($"sweep [bold]{Markup.Escape(sweep.SweepId)}[/]");
            return await FollowAsync(grid, sweep.SweepId, parse.GetValue(top), cancellation);
        }));
        return command;
    }

    private static Command List()
    {
        var cluster = QueryClusterOption();
        var clusterId = ClusterIdOption();
        var state = StateOption();
        var command = new Command("list", "The sweeps and their trials by state.") { cluster, clusterId, state };
        var tls = ClusterTls.AddFlags(command, "client");
        command.SetAction((parse, cancellation) => CommandRunner.RunAsync(async _ =>
        {
            await using var grid = await GridConnection.QueryAsync(parse.GetValue(cluster), parse.GetValue(state), parse.GetValue(clusterId)!, tls(parse), cancellation);
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
        var cluster = QueryClusterOption();
        var clusterId = ClusterIdOption();
        var state = StateOption();
        var command = new Command("status", "A sweep's trials: status, attempts, progress, ETA, result; the errors of failed ones below.") { id, cluster, clusterId, state };
        var tls = ClusterTls.AddFlags(command, "client");
        command.SetAction((parse, cancellation) => CommandRunner.RunAsync(async _ =>
        {
            await using var grid = await GridConnection.QueryAsync(parse.GetValue(cluster), parse.GetValue(state), parse.GetValue(clusterId)!, tls(parse), cancellation);
            var sweep = await Existing(grid, parse.GetValue(id)!);
            AnsiConsole.MarkupLine($"{Markup.Escape(sweep.SweepId)}: {sweep.Status}");
            AnsiConsole.Write(View(sweep));
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

    /// <summary>
    /// The live view until the sweep ends, then its leaderboard and where its best model is; 1 when a trial failed.
    /// `grid sweep run` and `grid sweep watch` end the same way.
    /// </summary>
    private static async Task<int> FollowAsync(GridConnection grid, string id, int top, CancellationToken cancellation)
    {
        var sweep = grid.Sweep(id);
        var snapshot = await sweep.GetAsync();
        var poll = TimeSpan.FromMilliseconds(500);
        if (AnsiConsole.Profile.Capabilities is { Ansi: true, Interactive: true })
        {
            await AnsiConsole.Live(View(snapshot)).StartAsync(async live =>
            {
                while (snapshot.Status == SweepStatus.Running)
                {
                    await Task.Delay(poll, cancellation);
                    snapshot = await sweep.GetAsync();
                    live.UpdateTarget(View(snapshot));
                }
            });
        }
        else
        {
            // A pipe or a log file, where a live view cannot redraw and would append the whole table at every step of
            // every trial: the table is written when a trial's status changes, and at the end.
            var shown = "";
            while (true)
            {
                var statuses = $"{snapshot.Status} {string.Join(" ", snapshot.Trials.Select(t => $"{t.TrialId}={t.Status}"))}";
                if (statuses != shown) AnsiConsole.Write(View(snapshot));
                shown = statuses;
                if (snapshot.Status != SweepStatus.Running) break;
                await Task.Delay(poll, cancellation);
                snapshot = await sweep.GetAsync();
            }
        }
        var rows = await grid.Grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).RankAsync(id, top);
        AnsiConsole.Write(LeaderboardCommand.Table(rows));
        if (rows.Count > 0) await ShowBestModelAsync(grid, rows[0]);
        return snapshot.Trials.Any(t => t.Status == TrialStatus.Failed) ? 1 : 0;
    }

    /// <summary>The best configuration's model directory and the command that serves it, for the task its trial trained.</summary>
    private static async Task ShowBestModelAsync(GridConnection grid, LeaderboardRow best)
    {
        var trial = best.Best.TrialId;
        if (best.Model is not { } model)
        {
            AnsiConsole.MarkupLine(Markup.Escape($"best: {trial}; its model was not kept."));
            return;
        }
        var definition = (await grid.Grains.GetGrain<ITrialGrain>(TrialKeys.Format(best.SweepId, trial)).GetAsync()).Definition;
        AnsiConsole.MarkupLine(Markup.Escape($"best model ({trial}): {model}"));
        AnsiConsole.MarkupLine(Markup.Escape($"serve it: {ServeCommand(definition?.Spec.Task ?? TaskKind.TextClassification, model)}"));
    }

    /// <summary>The grid command that runs a trained model of <paramref name="task"/> on a text.</summary>
    internal static string ServeCommand(TaskKind task, string model)
    {
        var directory = model.Contains(' ', StringComparison.Ordinal) ? $"\"{model}\"" : model;
        return task switch
        {
            TaskKind.TokenClassification => $"grid ner --model {directory} \"Ada Lovelace was born in London.\"",
            TaskKind.MaskedLm => $"grid fill-mask --model {directory} \"Paris is the [MASK] of France.\"",
            _ => $"grid predict --model {directory} \"a text to classify\"",
        };
    }

    /// <summary>The trial table, and below it each failed trial's error in full: a table column would wrap it a word a line.</summary>
    private static IRenderable View(SweepSnapshot sweep)
    {
        var errors = sweep.Trials.Where(t => t.Error is not null).Select(t => new Text($"{t.TrialId}: {t.Error}")).ToList();
        return errors.Count == 0 ? TrialTable(sweep) : new Rows(errors.Prepend<IRenderable>(TrialTable(sweep)));
    }

    /// <summary>Every trial the sweep has started and the next it will, from the one snapshot the sweep grain gives.</summary>
    private static Table TrialTable(SweepSnapshot sweep)
    {
        var table = new Table().AddColumns("trial", "hyperparameters", "status", "attempts", "epoch", "step", "loss", "samples/s",
            sweep.Objective is { } objective ? EvaluationMetrics.Name(objective.Metric) : "objective", "ETA");
        // The upcoming trials are not created yet but certain to come: their configurations show now, as Pending.
        var upcoming = sweep.Upcoming ?? [];
        foreach (var trial in sweep.Trials.Concat(upcoming))
        {
            // A slot's heartbeats before the first optimizer step (loading the model) carry no progress yet.
            var p = trial.Progress is { TotalSteps: > 0 } progress ? progress : null;
            var running = trial.Status == TrialStatus.Running;
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
                running && p?.EstimatedRemaining() is { } left ? Duration(left) : "");
        }
        List<string> caption = [];
        if (sweep.Trials.Count < sweep.SpaceSize && sweep.Status == SweepStatus.Running)
            caption.Add($"{sweep.Trials.Count} of {sweep.SpaceSize} configurations suggested so far" + (upcoming.Count > 0 ? $"; the next {upcoming.Count} shown" : ""));
        else if (sweep.EndReason is { } reason)
            caption.Add($"ended: {reason}");
        if (sweep.Trials.Any(t => t.Status == TrialStatus.Running))
        {
            caption.Add(sweep.EstimatedRemaining() is { } eta
                ? $"sweep ETA about {Duration(eta)}, from the running trials' pace: each trial still to run taken as long as theirs, " +
                  "as many at a time as run now; evaluations not counted"
                : "sweep ETA: once a running trial has timed a step");
        }
        return caption.Count == 0 ? table : table.Caption(Markup.Escape(string.Join("\n", caption)));
    }

    /// <summary>45s, 12m05s, 3h07m.</summary>
    internal static string Duration(TimeSpan span) => span.TotalSeconds switch
    {
        < 60 => $"{Math.Ceiling(span.TotalSeconds):F0}s",
        < 3600 => $"{(int)span.TotalMinutes}m{span.Seconds:D2}s",
        _ => $"{(int)span.TotalHours}h{span.Minutes:D2}m",
    };
}
