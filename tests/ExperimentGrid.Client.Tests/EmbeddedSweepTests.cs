using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ExperimentGrid.Contracts;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Client.Tests;

/// <summary>
/// `grid sweep run` without --cluster, as a new user runs it: a silo in the command, on the default embedded store of
/// its EXPERIMENTGRID_HOME, training fakes; then `grid leaderboard` and `grid sweep list|status`, also without
/// --cluster, reading what it left.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed partial class EmbeddedSweepTests
{
    private const string LongError =
        "the trial's data loader met a record it cannot read at train.jsonl line 17: the field 'label' holds 'positive', which is not one of " +
        "the label names neg, pos that the spec declares; fix the record or add the name to label_names, and run the sweep again";

    [Fact]
    public async Task A_run_shows_no_runtime_warnings_prints_errors_in_full_names_the_best_model_and_the_queries_read_its_store()
    {
        await using var grid = new FakeGrid(new FakeTrainableFactory
        {
            Noise = 0,
            StepTime = _ => TimeSpan.FromMilliseconds(20),
            Faults = [FakeFault.Throws(spec => spec.LearningRate > 7e-5, step: 3, LongError)],
        });
        var spec = grid.WriteSpec("embedded.yaml", FakeGrid.Spec("embedded", "[2.0e-5, 5.0e-5, 8.0e-5]"));

        var run = await Cli.RunAsync("sweep", "run", spec, "--slots", "cpu:2");

        // A failed trial makes the exit code 1.
        Assert.True(run.ExitCode == 1, run.Error + run.Out);
        // No runtime log below error: Orleans' server GC advice and the failed trial's warning among them.
        Assert.DoesNotContain((run.Out + run.Error).Split('\n'), line => line.StartsWith("warn:", StringComparison.Ordinal) || line.StartsWith("info:", StringComparison.Ordinal));
        var id = FakeGrid.SweepId(run.Out);
        // The in-process silo's sweep dashboard, on the port the OS gave its HTTP endpoint.
        Assert.Matches($@"\ndashboard: http://127\.0\.0\.1:[1-9][0-9]*/sweeps/{System.Text.RegularExpressions.Regex.Escape(id)} \(while this command runs\)\n", run.Out.ReplaceLineEndings("\n"));
        Assert.Equal(["trial", "hyperparameters", "status", "attempts", "epoch", "step", "loss", "samples/s", "f1", "ETA"], FakeGrid.Rows(run.Out)[0]);
        Assert.Contains($"\nt003: {LongError}\n", run.Out.ReplaceLineEndings("\n"));
        // With no noise, F1 after 2 epochs is 0.75 (0.9 - 0.1 log10(lr / 3e-5)^2): 2e-5 beats 5e-5.
        var best = BestModel().Match(run.Out);
        Assert.True(best.Success, run.Out);
        Assert.Equal("t001", best.Groups[1].Value);
        var model = best.Groups[2].Value;
        Assert.StartsWith(Path.Combine(grid.Home, "checkpoints", id, "t001") + Path.DirectorySeparatorChar, model, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(model, FakeTrainable.ModelFile)), model);
        Assert.Contains($"serve it: grid predict --model {model} \"", run.Out);

        // The silo of the run is gone; these read its store through one of their own.
        var board = await Cli.RunAsync("leaderboard", "--sweep", id, "--json");
        Assert.True(board.ExitCode == 0, board.Error);
        var entries = JsonNode.Parse(board.Out)!.AsArray().Select(e => e!).ToList();
        Assert.Equal(["t001", "t002"], entries.Select(e => e["trial"]!.GetValue<string>()));
        Assert.Equal(0.75 * (0.9 - 0.1 * Math.Pow(Math.Log10(2.0 / 3), 2)), entries[0]["mean"]!.GetValue<double>(), 9);
        Assert.Equal(0.75 * (0.9 - 0.1 * Math.Pow(Math.Log10(5.0 / 3), 2)), entries[1]["mean"]!.GetValue<double>(), 9);
        Assert.Equal(model, entries[0]["model"]!.GetValue<string>());

        var list = await Cli.RunAsync("sweep", "list");
        Assert.True(list.ExitCode == 0, list.Error);
        var row = Assert.Single(FakeGrid.Rows(list.Out), r => r[0] == id);
        // sweep, name, status, pending, running, completed, failed, cancelled
        Assert.Equal([id, "embedded", "Finished", "0", "0", "2", "1", "0"], row[..8]);

        var status = await Cli.RunAsync("sweep", "status", id);
        Assert.True(status.ExitCode == 0, status.Error);
        Assert.StartsWith($"{id}: Finished", status.Out, StringComparison.Ordinal);
        var trials = FakeGrid.Rows(status.Out).Skip(1).ToList();
        Assert.Equal([("t001", "learning_rate=2.0e-5", "Completed"), ("t002", "learning_rate=5.0e-5", "Completed"), ("t003", "learning_rate=8.0e-5", "Failed")],
            trials.Select(r => (r[0], r[1], r[2])));
        Assert.DoesNotContain("error", FakeGrid.Rows(status.Out)[0]);
        Assert.Contains($"\nt003: {LongError}\n", status.Out.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Verbose_shows_the_runtime_s_information_logs()
    {
        await using var grid = new FakeGrid(new FakeTrainableFactory());
        var spec = grid.WriteSpec("verbose.yaml", FakeGrid.Spec("verbose", "[3.0e-5]", epochs: 1));

        var run = await Cli.RunAsync("sweep", "run", spec, "--slots", "cpu:1", "--verbose");

        Assert.True(run.ExitCode == 0, run.Error + run.Out);
        Assert.Contains((run.Out + run.Error).Split('\n'), line => line.StartsWith("info:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_store_with_an_unfinished_sweep_is_read_without_resuming_its_trials()
    {
        await using var grid = new FakeGrid(new FakeTrainableFactory { StepTime = _ => TimeSpan.FromMilliseconds(100) });
        var state = Path.Combine(grid.Home, "left");
        var (silo, _) = await grid.StartSiloAsync(state);
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        const string id = "left-behind";
        await grains.GetGrain<ISweepGrain>(id).SubmitAsync(new SweepSubmission("left.yaml", FakeGrid.Spec("left", "[2.0e-5, 5.0e-5]", epochs: 3, maxConcurrent: 1)));
        var first = grains.GetGrain<ITrialGrain>(TrialKeys.Format(id, "t001"));
        await FakeGrid.WaitUntilAsync(async () => (await first.GetAsync()).Progress is { Step: > 0 }, TimeSpan.FromMinutes(1));
        // Stopped mid-trial, as a user's Ctrl+C stops grid sweep run: the trial goes back to the queue.
        await grid.StopSiloAsync(silo);
        var made = grid.Fakes.Created.Count;

        var status = await Cli.RunAsync("sweep", "status", id, "--state", state);
        var again = await Cli.RunAsync("sweep", "status", id, "--state", state);

        Assert.True(status.ExitCode == 0, status.Error);
        Assert.StartsWith($"{id}: Running", status.Out, StringComparison.Ordinal);
        // The silo the queries start has no slots: nothing trained, and the trial still waits with the one attempt it had.
        Assert.Equal(made, grid.Fakes.Created.Count);
        foreach (var result in new[] { status, again })
        {
            var rows = FakeGrid.Rows(result.Out).Skip(1).ToList();
            // t002 is not created yet (one trial at a time), and its configuration shows already.
            Assert.Equal([("t001", "learning_rate=2.0e-5", "Pending", "1"), ("t002", "learning_rate=5.0e-5", "Pending", "0")], rows.Select(r => (r[0], r[1], r[2], r[3])));
        }
    }

    [Fact]
    public async Task A_silo_at_the_default_gateway_answers_the_queries_even_when_it_holds_the_store_they_would_read()
    {
        await using var grid = new FakeGrid(new FakeTrainableFactory());
        // A `grid silo` (or a running `grid sweep run`) on the default store, at the default gateway.
        var (silo, _) = await grid.StartSiloAsync(grid.DefaultState, asGridSilo: true);
        const string id = "on-the-silo";
        var sweep = silo.Services.GetRequiredService<IGrainFactory>().GetGrain<ISweepGrain>(id);
        await sweep.SubmitAsync(new SweepSubmission("on.yaml", FakeGrid.Spec("on", "[2.0e-5]", epochs: 1)));
        await FakeGrid.WaitUntilAsync(async () => (await sweep.GetAsync()).Status == SweepStatus.Finished, TimeSpan.FromMinutes(1));

        var list = await Cli.RunAsync("sweep", "list");
        var held = await Cli.RunAsync("sweep", "list", "--state", grid.DefaultState);

        foreach (var result in new[] { list, held })
        {
            Assert.True(result.ExitCode == 0, result.Error);
            Assert.Equal([id, "on", "Finished", "0", "0", "1", "0", "0"], Assert.Single(FakeGrid.Rows(result.Out), r => r[0] == id)[..8]);
        }
    }

    [Fact]
    public async Task A_store_a_silo_holds_is_named_with_what_to_do_when_that_silo_is_not_at_the_default_gateway()
    {
        await using var grid = new FakeGrid(new FakeTrainableFactory());
        var state = Path.Combine(grid.Home, "held");
        await grid.StartSiloAsync(state);

        var result = await Cli.RunAsync("sweep", "list", "--state", state);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: {state}: the embedded store is in use by a silo that does not answer at 127.0.0.1:30000; give that silo's gateway with --cluster.",
            result.Error.Trim());
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task A_state_directory_with_no_store_is_named()
    {
        await using var grid = new FakeGrid(new FakeTrainableFactory());
        var missing = Path.Combine(grid.Home, "never-ran");

        var result = await Cli.RunAsync("leaderboard", "--state", missing);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: --state: {missing}: no embedded store there (grid sweep run --state makes one).", result.Error.Trim());
        Assert.False(Directory.Exists(missing));
    }

    [Fact]
    public async Task Detach_without_a_cluster_is_refused_saying_why_before_anything_starts()
    {
        await using var grid = new FakeGrid(new FakeTrainableFactory());
        var spec = grid.WriteSpec("detach.yaml", FakeGrid.Spec("detach", "[3.0e-5]", epochs: 1));

        var result = await Cli.RunAsync("sweep", "run", spec, "--detach");

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Error.Trim().Split('\n'));
        Assert.StartsWith("error: --detach needs --cluster: without it the sweep's silo lives in this command and would stop with it", line, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
        Assert.Empty(grid.Fakes.Created);
        Assert.False(Directory.Exists(grid.DefaultState));
    }

    [GeneratedRegex(@"^best model \((t\d{3})\): (\S+)$", RegexOptions.Multiline)]
    private static partial Regex BestModel();
}
