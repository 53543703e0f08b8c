using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ExperimentGrid.Contracts;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.Runtime.Slots;
using ExperimentGrid.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ExperimentGrid.Client.Tests;

/// <summary>
/// The sweep and leaderboard commands against a running cluster: a real silo in this process on the embedded store,
/// reached through its gateway with --cluster and --cluster-id as a user's CLI would.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed partial class ClusterCommandTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("experimentgrid-cluster-").FullName;
    private WebApplication? _silo;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_silo is not null)
        {
            await _silo.StopAsync();
            await _silo.DisposeAsync();
        }
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_sweep_run_on_the_cluster_ends_with_its_leaderboard_and_list_status_and_leaderboard_agree_on_it()
    {
        var cluster = await StartSiloAsync();
        var spec = Write("run.yaml", TinySpec("cluster-run", "[2.0e-5, 5.0e-5]", epochs: 1));

        var run = await Cli.RunAsync(["sweep", "run", spec, .. cluster]);

        Assert.True(run.ExitCode == 0, run.Error + run.Out);
        var id = FakeGrid.SweepId(run.Out);
        Assert.StartsWith("cluster-run-", id, StringComparison.Ordinal);
        var finalBoard = run.Out[run.Out.LastIndexOf("rank", StringComparison.Ordinal)..];
        Assert.Equal(["t001", "t002"], FakeGrid.Rows(finalBoard).Select(r => r[2]).Order());

        var list = await Cli.RunAsync(["sweep", "list", .. cluster]);
        Assert.True(list.ExitCode == 0, list.Error);
        var row = Assert.Single(FakeGrid.Rows(list.Out), r => r[0] == id);
        // sweep, name, status, pending, running, completed, failed, cancelled
        Assert.Equal(["cluster-run", "Finished", "0", "0", "2", "0", "0"], row[1..8]);

        var status = await Cli.RunAsync(["sweep", "status", id, .. cluster]);
        Assert.True(status.ExitCode == 0, status.Error);
        Assert.StartsWith($"{id}: Finished", status.Out, StringComparison.Ordinal);
        var trials = TrialRows(status.Out);
        Assert.Equal(["t001", "t002"], trials.Select(r => r[0]));
        Assert.All(trials, r => Assert.Equal("Completed", r[2]));
        Assert.Equal(["learning_rate=2.0e-5", "learning_rate=5.0e-5"], trials.Select(r => r[1]));

        var board = await Cli.RunAsync(["leaderboard", "--sweep", id, "--json", .. cluster]);
        Assert.True(board.ExitCode == 0, board.Error);
        var entries = JsonNode.Parse(board.Out)!.AsArray().Select(e => e!).ToList();
        Assert.Equal(2, entries.Count);
        Assert.All(entries, e => Assert.Equal(id, e["sweep"]!.GetValue<string>()));
        Assert.All(entries, e => Assert.Equal("loss", e["metric"]!.GetValue<string>()));
        Assert.All(entries, e => Assert.Equal("minimize", e["direction"]!.GetValue<string>()));
        var byTrial = entries.ToDictionary(e => e["trial"]!.GetValue<string>());
        Assert.Equal("2.0e-5", byTrial["t001"]["hyperparameters"]!["learning_rate"]!.GetValue<string>());
        Assert.Equal("5.0e-5", byTrial["t002"]["hyperparameters"]!["learning_rate"]!.GetValue<string>());
        var values = entries.Select(e => e["mean"]!.GetValue<double>()).ToList();
        Assert.All(values, v => Assert.True(double.IsFinite(v) && v > 0, $"loss {v}"));
        // No seeds: each configuration is one trial, its mean that trial's loss, with no interval.
        Assert.All(entries, e => Assert.Equal(1, e["n"]!.GetValue<int>()));
        Assert.All(entries, e => Assert.Equal(e["mean"]!.GetValue<double>(), Assert.Single(e["replicates"]!.AsArray())!["value"]!.GetValue<double>()));
        Assert.All(entries, e => Assert.Null(e["ci95_low"]));
        // Each trial's value is the loss its final evaluation measured, and the status table shows the same.
        Assert.Equal(trials.Select(r => r[8]),
            entries.OrderBy(e => e["trial"]!.GetValue<string>()).Select(e => e["mean"]!.GetValue<double>().ToString("F4", CultureInfo.InvariantCulture)));
        // Loss is minimised: the lower loss ranks first.
        Assert.Equal(values.Order(), values);

        var best = await Cli.RunAsync(["leaderboard", "--sweep", id, "--top", "1", "--json", .. cluster]);
        Assert.True(best.ExitCode == 0, best.Error);
        var top = Assert.Single(JsonNode.Parse(best.Out)!.AsArray())!;
        Assert.Equal(values.Min(), top["mean"]!.GetValue<double>());
        Assert.Equal(entries[0]["trial"]!.GetValue<string>(), top["trial"]!.GetValue<string>());
    }

    [Fact]
    public async Task Leaderboard_shows_each_configuration_once_with_the_mean_and_t_interval_of_its_seeds()
    {
        var cluster = await StartSiloAsync();
        var board = _silo!.Services.GetRequiredService<IGrainFactory>().GetGrain<ILeaderboardGrain>(LeaderboardKeys.All);
        var id = $"seeds-{Guid.NewGuid():N}";
        // Five seeds at 0.80 0.82 0.81 0.79 0.83: mean 0.81, s = 0.0158114, half-width 2.776445 * s / sqrt(5) = 0.0196323.
        double[] five = [0.80, 0.82, 0.81, 0.79, 0.83];
        for (var i = 0; i < five.Length; i++)
            await board.RecordAsync(LeaderboardEntries.Trial(id, $"t00{i + 1}", five[i], "learning_rate=1e-5", seed: i + 1, order: i));
        await board.RecordAsync(LeaderboardEntries.Trial(id, "t006", 0.85, "learning_rate=2e-5", seed: 1, order: 6));

        var json = await Cli.RunAsync(["leaderboard", "--sweep", id, "--json", .. cluster]);

        Assert.True(json.ExitCode == 0, json.Error);
        var rows = JsonNode.Parse(json.Out)!.AsArray().Select(r => r!).ToList();
        Assert.Equal(2, rows.Count);
        var (single, seeded) = (rows[0], rows[1]);
        Assert.Equal(["2e-5", "1e-5"], rows.Select(r => r["hyperparameters"]!["learning_rate"]!.GetValue<string>()));
        Assert.All(rows, r => Assert.Null(r["hyperparameters"]!["seed"]));
        Assert.Equal((1, 0.85), (single["n"]!.GetValue<int>(), single["mean"]!.GetValue<double>()));
        Assert.True(single.AsObject().ContainsKey("ci95_low") && single["ci95_low"] is null && single["ci95_high"] is null, single.ToJsonString());
        Assert.Equal(5, seeded["n"]!.GetValue<int>());
        Assert.Equal(("f1", "maximize"), (seeded["metric"]!.GetValue<string>(), seeded["direction"]!.GetValue<string>()));
        Assert.Equal(0.81, seeded["mean"]!.GetValue<double>(), 12);
        Assert.Equal(0.81 - 0.0196323, seeded["ci95_low"]!.GetValue<double>(), 6);
        Assert.Equal(0.81 + 0.0196323, seeded["ci95_high"]!.GetValue<double>(), 6);
        var objective = Assert.Single(seeded["objectives"]!.AsArray())!;
        Assert.Equal(seeded["ci95_high"]!.GetValue<double>(), objective["ci95_high"]!.GetValue<double>());
        var replicates = seeded["replicates"]!.AsArray().Select(r => r!).ToList();
        Assert.Equal(["t001", "t002", "t003", "t004", "t005"], replicates.Select(r => r["trial"]!.GetValue<string>()));
        Assert.Equal(["1", "2", "3", "4", "5"], replicates.Select(r => r["seed"]!.GetValue<string>()));
        Assert.Equal(five, replicates.Select(r => r["value"]!.GetValue<double>()));
        Assert.Equal(five, replicates.Select(r => r["values"]!["f1"]!.GetValue<double>()));
        Assert.Equal($"/models/{id}/t003", replicates[2]["model"]!.GetValue<string>());
        // The best seed's model: the one a user would take.
        Assert.Equal(($"/models/{id}/t005", "t005"), (seeded["model"]!.GetValue<string>(), seeded["trial"]!.GetValue<string>()));
        Assert.False(seeded.AsObject().ContainsKey("pareto_front"));

        var table = await Cli.RunAsync(["leaderboard", "--sweep", id, .. cluster]);

        Assert.True(table.ExitCode == 0, table.Error);
        // rank, sweep, best trial, hyperparameters, n, objective, value
        Assert.Equal([["1", id, "t006", "learning_rate=2e-5", "1", "f1 (max)", "0.8500"], ["2", id, "t005", "learning_rate=1e-5", "5", "f1 (max)", "0.8100 ± 0.0196"]],
            FakeGrid.Rows(table.Out).Skip(1));
        Assert.Contains("95% t-interval", table.Out);
        Assert.DoesNotContain("front", table.Out);
    }

    [Fact]
    public async Task Leaderboard_of_two_objectives_shows_each_and_marks_the_pareto_front()
    {
        var cluster = await StartSiloAsync();
        var board = _silo!.Services.GetRequiredService<IGrainFactory>().GetGrain<ILeaderboardGrain>(LeaderboardKeys.All);
        var id = $"front-{Guid.NewGuid():N}";
        // Means: 1e-5 (0.8, 100) over seeds 0.75/0.85 and 90/110; 2e-5 (0.7, 50); 3e-5 (0.6, 150), which both others beat.
        await board.RecordAsync(LeaderboardEntries.F1AndSeconds(id, "t001", 0.75, 90, "learning_rate=1e-5", seed: 1, order: 1));
        await board.RecordAsync(LeaderboardEntries.F1AndSeconds(id, "t002", 0.85, 110, "learning_rate=1e-5", seed: 2, order: 2));
        await board.RecordAsync(LeaderboardEntries.F1AndSeconds(id, "t003", 0.7, 50, "learning_rate=2e-5", order: 3));
        await board.RecordAsync(LeaderboardEntries.F1AndSeconds(id, "t004", 0.6, 150, "learning_rate=3e-5", order: 4));

        var json = await Cli.RunAsync(["leaderboard", "--sweep", id, "--json", .. cluster]);

        Assert.True(json.ExitCode == 0, json.Error);
        var rows = JsonNode.Parse(json.Out)!.AsArray().Select(r => r!).ToList();
        Assert.Equal(["1e-5", "2e-5", "3e-5"], rows.Select(r => r["hyperparameters"]!["learning_rate"]!.GetValue<string>()));
        Assert.Equal([true, true, false], rows.Select(r => r["pareto_front"]!.GetValue<bool>()));
        var objectives = rows[0]["objectives"]!.AsArray().Select(o => o!).ToList();
        Assert.Equal(["f1", "train_seconds"], objectives.Select(o => o["metric"]!.GetValue<string>()));
        Assert.Equal(["maximize", "minimize"], objectives.Select(o => o["direction"]!.GetValue<string>()));
        // Seconds 90 and 110: s = sqrt(200), half-width 12.7062 * sqrt(200) / sqrt(2) = 127.062.
        Assert.Equal(100, objectives[1]["mean"]!.GetValue<double>(), 9);
        Assert.Equal(100 - 127.062, objectives[1]["ci95_low"]!.GetValue<double>(), 3);
        Assert.Equal(0.8, rows[0]["mean"]!.GetValue<double>(), 12);
        var replicates = rows[0]["replicates"]!.AsArray().Select(r => r!).ToList();
        Assert.Equal([90.0, 110.0], replicates.Select(r => r["values"]!["train_seconds"]!.GetValue<double>()));
        // Every metric a trial reported, not only the objectives.
        Assert.Equal([(0.75, 90.0), (0.85, 110.0)], replicates.Select(r => (r["metrics"]!["f1"]!.GetValue<double>(), r["metrics"]!["train_seconds"]!.GetValue<double>())));
        Assert.Equal([0.75, 0.85], replicates.Select(r => r["value"]!.GetValue<double>()));

        var table = await Cli.RunAsync(["leaderboard", "--sweep", id, .. cluster]);

        Assert.True(table.ExitCode == 0, table.Error);
        var cells = FakeGrid.Rows(table.Out);
        Assert.Equal(["rank", "sweep", "best trial", "hyperparameters", "n", "objective", "value", "train_seconds (min)", "front"], cells[0]);
        // rank, best trial, n, value, train_seconds, front
        Assert.Equal([["1", "t002", "2", "0.8000 ± 0.6353", "100.0000 ± 127.0620", "*"], ["2", "t003", "1", "0.7000", "50.0000", "*"], ["3", "t004", "1", "0.6000", "150.0000", ""]],
            cells.Skip(1).Select(r => new[] { r[0], r[2], r[4], r[6], r[7], r[8] }));
        Assert.Contains("Pareto front", table.Out);
    }

    [Fact]
    public async Task Status_shows_the_trials_started_so_far_and_cancel_drops_the_running_one()
    {
        var cluster = await StartSiloAsync();
        var grains = _silo!.Services.GetRequiredService<IGrainFactory>();
        var id = $"cancel-{Guid.NewGuid():N}";
        var sweep = grains.GetGrain<ISweepGrain>(id);
        // One trial at a time, three epochs of four steps each: the first trains for a while, the others are not created yet.
        await sweep.SubmitAsync(new SweepSubmission("cancel.yaml", TinySpec("cancel", "[1.0e-5, 2.0e-5, 3.0e-5]", epochs: 3)));
        var first = grains.GetGrain<ITrialGrain>(TrialKeys.Format(id, "t001"));
        await FakeGrid.WaitUntilAsync(async () => (await first.GetAsync()).Progress is { Step: > 0 }, TimeSpan.FromMinutes(2));

        var running = await Cli.RunAsync(["sweep", "status", id, .. cluster]);
        Assert.True(running.ExitCode == 0, running.Error);
        Assert.StartsWith($"{id}: Running", running.Out, StringComparison.Ordinal);
        var rows = TrialRows(running.Out);
        // The two configurations not created yet show already, waiting.
        Assert.Equal([("t001", "learning_rate=1.0e-5", "Running"), ("t002", "learning_rate=2.0e-5", "Pending"), ("t003", "learning_rate=3.0e-5", "Pending")],
            rows.Select(r => (r[0], r[1], r[2])));
        Assert.Contains("1 of 3 configurations suggested so far; the next 2 shown", running.Out);
        // Epoch and step come from one progress report: steps 1-4 are epoch 1, 5-8 epoch 2, 9-12 epoch 3.
        var step = StepOfTwelve().Match(rows[0][5]);
        Assert.True(step.Success, $"step '{rows[0][5]}'");
        Assert.Equal($"{(int.Parse(step.Groups[1].Value, CultureInfo.InvariantCulture) + 3) / 4}/3", rows[0][4]);

        var cancel = await Cli.RunAsync(["sweep", "cancel", id, .. cluster]);
        Assert.True(cancel.ExitCode == 0, cancel.Error);
        Assert.Contains($"{id}: cancelled", cancel.Out);
        var slots = _silo.Services.GetRequiredService<SlotActivity>();
        await FakeGrid.WaitUntilAsync(() => Task.FromResult(slots.Running.Count == 0), TimeSpan.FromSeconds(30));

        var cancelled = await Cli.RunAsync(["sweep", "status", id, .. cluster]);
        Assert.True(cancelled.ExitCode == 0, cancelled.Error);
        Assert.StartsWith($"{id}: Cancelled", cancelled.Out, StringComparison.Ordinal);
        rows = TrialRows(cancelled.Out);
        // The first trial started once; the others never existed.
        var only = Assert.Single(rows);
        Assert.Equal(("t001", "Cancelled", "1"), (only[0], only[2], only[3]));
        Assert.Contains("ended: cancelled by the user", cancelled.Out);

        var list = await Cli.RunAsync(["sweep", "list", .. cluster]);
        Assert.True(list.ExitCode == 0, list.Error);
        var row = Assert.Single(FakeGrid.Rows(list.Out), r => r[0] == id);
        Assert.Equal(["Cancelled", "0", "0", "0", "0", "1"], row[2..8]);
    }

    [Fact]
    public async Task A_sweep_the_cluster_does_not_have_is_named()
    {
        var cluster = await StartSiloAsync();

        foreach (var command in new[] { "status", "cancel" })
        {
            var result = await Cli.RunAsync(["sweep", command, "no-such-sweep", .. cluster]);

            Assert.Equal(2, result.ExitCode);
            Assert.StartsWith("error: no sweep 'no-such-sweep' on this cluster", result.Error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_cluster_address_where_no_silo_listens_fails_within_seconds_naming_cluster_and_the_address()
    {
        var address = $"127.0.0.1:{GridSilo.FreePort()}";
        var clock = Stopwatch.StartNew();

        var result = await Cli.RunAsync("sweep", "list", "--cluster", address, "--cluster-id", "nobody");

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"error: --cluster: no silo of cluster 'nobody' (--cluster-id) answers at {address}", result.Error, StringComparison.Ordinal);
        // One line, and nothing on stdout: no log of Orleans' connection attempts in front of it or among the results.
        Assert.Single(result.Error.Trim().Split('\n'));
        Assert.Equal("", result.Out);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_cluster_id_other_than_the_silos_is_refused_naming_it()
    {
        var cluster = await StartSiloAsync();
        var clock = Stopwatch.StartNew();

        var result = await Cli.RunAsync("sweep", "list", cluster[0], cluster[1], "--cluster-id", "some-other-cluster");

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"error: --cluster: no silo of cluster 'some-other-cluster' (--cluster-id) answers at {cluster[1]}", result.Error, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_cluster_with_TLS_serves_the_CLI_with_a_certificate_of_its_CA_and_refuses_it_without()
    {
        var certificates = TestCertificates.Write(Directory.CreateDirectory(Path.Combine(_directory, "tls")).FullName);
        var cluster = await StartSiloAsync(new ClusterTls(certificates.SiloPem, certificates.AuthorityPem, certificates.SiloKeyPem));

        var withCertificate = await Cli.RunAsync(["sweep", "list", .. cluster, "--tls-certificate", certificates.ClientPfx, "--tls-ca", certificates.AuthorityPem]);
        var without = await Cli.RunAsync(["sweep", "list", .. cluster]);

        Assert.True(withCertificate.ExitCode == 0, withCertificate.Error);
        Assert.Contains("sweep", withCertificate.Out, StringComparison.Ordinal);
        Assert.Equal(2, without.ExitCode);
        Assert.StartsWith($"error: --cluster: no silo of cluster '{cluster[3]}' (--cluster-id) answers at {cluster[1]}", without.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_TLS_certificate_file_that_is_missing_is_named_before_anything_connects()
    {
        var missing = Path.Combine(_directory, "missing.pfx");

        var result = await Cli.RunAsync("leaderboard", "--cluster", $"127.0.0.1:{GridSilo.FreePort()}", "--tls-certificate", missing, "--tls-ca", missing);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"error: --tls-ca: {missing}: cannot read the file", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not-an-address", "--cluster: 'not-an-address' is not HOST:PORT")]
    [InlineData("no-such-host.invalid:30000", "--cluster: cannot resolve 'no-such-host.invalid'")]
    public async Task A_cluster_address_that_is_not_a_gateway_address_is_named(string address, string expected)
    {
        var result = await Cli.RunAsync("leaderboard", "--cluster", address);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"error: {expected}", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Top_below_one_is_refused_before_anything_connects_or_runs()
    {
        var spec = Write("top.yaml", TinySpec("top", "[2.0e-5]", epochs: 1));
        // No silo listens here: a refusal must come from the flag, before any connection is tried.
        var cluster = $"127.0.0.1:{GridSilo.FreePort()}";

        var leaderboard = await Cli.RunAsync("leaderboard", "--top", "0", "--cluster", cluster);
        var run = await Cli.RunAsync("sweep", "run", spec, "--top", "0", "--cluster", cluster);

        foreach (var result in new[] { leaderboard, run })
        {
            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains("--top: must be at least 1, got 0.", result.Error);
            Assert.DoesNotContain("--cluster", result.Error);
        }
    }

    /// <summary>Starts a one-silo cluster of its own and returns the flags that reach it.</summary>
    private async Task<string[]> StartSiloAsync(ClusterTls? tls = null)
    {
        var id = $"cli-test-{Guid.NewGuid():N}";
        var options = new SiloOptions
        {
            StateDirectory = Path.Combine(_directory, "state"),
            CheckpointDirectory = Path.Combine(_directory, "checkpoints"),
            // The silo's slot imports the bundled model under the tests' home (Cli.Home sets it), not the user's cache.
            ModelRoots = [Path.Combine(Cli.Home, "models")],
            Slots = SiloSlots.Parse("cpu:1"),
            SiloPort = GridSilo.FreePort(),
            GatewayPort = GridSilo.FreePort(),
            HttpPort = 0,
            ClusterId = id,
            ServiceId = id,
            Tls = tls,
        };
        var builder = GridSilo.CreateBuilder(options);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        _silo = GridSilo.Build(builder);
        await _silo.StartAsync();
        return ["--cluster", $"127.0.0.1:{options.GatewayPort}", "--cluster-id", id];
    }

    /// <summary>Tiny trials (the size of SweepCommandTests' in-process sweep), released one at a time, ranked by validation loss.</summary>
    private static string TinySpec(string name, string learningRates, int epochs) => $"""
        name: {name}
        trial:
          task: text-classification
          model: minilm
          dataset: rotten_tomatoes
          train_limit: 32
          eval_limit: 16
          max_length: 32
          batch_size: 8
          epochs: {epochs}
          test_split: none
        grid:
          learning_rate: {learningRates}
        objective:
          metric: loss
          mode: min
        max_concurrent_trials: 1
        """;

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>A status table's trial rows, each as its trimmed cells.</summary>
    private static List<string[]> TrialRows(string status) => [.. FakeGrid.Rows(status).Where(r => TrialIdPattern().IsMatch(r[0]))];

    [GeneratedRegex(@"^t\d{3}$")]
    private static partial Regex TrialIdPattern();

    [GeneratedRegex(@"^([1-9]|1[0-2])/12$")]
    private static partial Regex StepOfTwelve();
}
