using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Grains;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.Runtime.Slots;
using ExperimentGrid.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// A silo of fakes with two sweeps for the dashboard to show: "dash-tradeoff" (3 learning rates × 1 or 2 epochs × 2
/// seeds, f1 against train_seconds) run to its end, and "dash-live", whose one trial is held at step 150 of 200 while
/// the tests look, so that it runs with progress and an ETA.
/// </summary>
public sealed class DashboardFixture : IAsyncLifetime
{
    public const string Tradeoff = "dash-tradeoff";
    public const string Live = "dash-live";
    public const int StepsPerEpoch = 100;
    public const int HeldAtStep = 150;

    private const string TradeoffSpec = """
        name: dash-tradeoff
        trial: { model: minilm, dataset: rotten_tomatoes, test_split: none, seed: 10 }
        grid:
          learning_rate: [3.0e-5, 3.0e-4, 3.0e-3]
          epochs: [1, 2]
        replicates: 2
        objectives:
          - { metric: f1 }
          - { metric: train_seconds }
        checkpoint_every: 0
        retries: 0
        """;

    /// <summary>The live sweep's learning rate, which no trial of the other has: the fake holds the trial that has it.</summary>
    private const double LiveLearningRate = 1.0e-4;

    private const string LiveSpec = """
        name: dash-live
        trial: { model: minilm, dataset: rotten_tomatoes, test_split: none, epochs: 2, learning_rate: 1.0e-4 }
        grid:
          weight_decay: [0.01]
        objective: { metric: f1 }
        checkpoint_every: 0
        retries: 0
        """;

    private readonly TemporaryDirectory _directory = new();
    private readonly ManualResetEventSlim _release = new();
    private readonly ManualResetEventSlim _held = new();
    private WebApplication? _silo;

    public IGrainFactory Grains { get; private set; } = null!;
    public Uri Address { get; private set; } = null!;
    public SweepSnapshot TradeoffEnd { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var fakes = new FakeTrainableFactory { StepsPerEpoch = StepsPerEpoch, StepTime = _ => TimeSpan.FromMilliseconds(2), BeforeStep = Hold };
        _silo = await Silos.StartAsync(Silos.Training(_directory.Path) with { Slots = SiloSlots.Parse("cpu:2") }, services =>
        {
            services.AddSingleton(new TrainableFactory(fakes.Create));
            services.PostConfigure<GridOptions>(grid => grid.HeartbeatInterval = TimeSpan.FromMilliseconds(10));
        });
        Grains = _silo.Services.GetRequiredService<IGrainFactory>();
        Address = _silo.HttpAddress();
        var tradeoff = Grains.GetGrain<ISweepGrain>(Tradeoff);
        await tradeoff.SubmitAsync(new SweepSubmission("tradeoff.yaml", TradeoffSpec));
        TradeoffEnd = await GridWorld.WaitForEndAsync(tradeoff, TimeSpan.FromMinutes(3), grains: Grains);
        await Grains.GetGrain<ISweepGrain>(Live).SubmitAsync(new SweepSubmission("live.yaml", LiveSpec));
        if (!_held.Wait(TimeSpan.FromMinutes(1))) throw new TimeoutException($"the {Live} trial never reached step {HeldAtStep}");
        // Until its grain has a heartbeat from the held step, the page could show it without progress.
        var trial = Grains.GetGrain<ITrialGrain>(TrialKeys.Format(Live, (await Grains.GetGrain<ISweepGrain>(Live).GetAsync()).Trials.Single().TrialId));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!((await trial.GetAsync()).Progress?.Step >= HeldAtStep - 1) && DateTime.UtcNow < deadline) await Task.Delay(20);
    }

    /// <summary>Lets the live sweep's trial go on past step <see cref="HeldAtStep"/> to its end.</summary>
    public void Release() => _release.Set();

    public async Task DisposeAsync()
    {
        _release.Set();
        if (_silo is not null)
        {
            await _silo.StopAsync();
            await _silo.DisposeAsync();
        }
        _directory.Dispose();
        _release.Dispose();
        _held.Dispose();
    }

    private void Hold(FakeStep step)
    {
        if (step.Spec.LearningRate != LiveLearningRate || step.Step != HeldAtStep) return;
        _held.Set();
        while (!_release.IsSet && !step.Cancellation.IsCancellationRequested) _release.Wait(50);
    }
}

/// <summary>
/// The dashboard, served by the silo at / and read in a real headless Chromium (Debian's chromium, driven by
/// puppeteer-core through tests/dashboard/check.mjs); the screenshots stay in the test's output directory.
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class DashboardTests(DashboardFixture fixture, ITestOutputHelper output) : IClassFixture<DashboardFixture>
{
    [ChromiumFact]
    public async Task The_sweep_pages_load_without_console_errors_list_every_trial_and_draw_every_chart()
    {
        var screenshots = Path.Combine(AppContext.BaseDirectory, "dashboard-screenshots");
        Directory.CreateDirectory(screenshots);
        var selected = fixture.TradeoffEnd.Trials[^1].TrialId;

        var report = await CheckAsync(screenshots, selected, DashboardFixture.Tradeoff, DashboardFixture.Live);

        Assert.Empty(report["console_errors"]!.AsArray());
        Assert.Empty(report["page_errors"]!.AsArray());
        Assert.Empty(report["failed_requests"]!.AsArray());
        Assert.Empty(report["load_errors"]!.AsArray());
        Assert.Equal([new Uri(fixture.Address, "/").GetLeftPart(UriPartial.Authority)], report["origins"]!.AsArray().Select(o => o!.GetValue<string>()));
        Assert.Equal([DashboardFixture.Tradeoff, DashboardFixture.Live], Strings(report["list"]!["sweeps"]));

        var sweeps = report["sweeps"]!.AsArray().ToDictionary(s => s!["id"]!.GetValue<string>(), s => s!);
        var tradeoff = sweeps[DashboardFixture.Tradeoff];
        Assert.Equal(fixture.TradeoffEnd.Trials.Select(t => t.TrialId), tradeoff["trials"]!.AsArray().Select(t => t!["id"]!.GetValue<string>()));
        Assert.All(tradeoff["trials"]!.AsArray(), t => Assert.Equal("completed", t!["status"]!.GetValue<string>()));
        // 3 learning rates × 2 epoch counts: six configurations, each the mean of 2 seeds.
        Assert.Equal(6, tradeoff["leaderboard"]!.AsArray().Count);
        Assert.StartsWith($"Trial {selected}", tradeoff["details"]!.GetValue<string>());
        // Every chart the sweep calls for, each with its data drawn: curves of all 12 trials, one line each in the
        // parallel coordinates, a slice per hyperparameter, the six configurations on the Pareto plot, and the
        // selected trial's own curve.
        var trials = fixture.TradeoffEnd.Trials.Count;
        AssertCharts(tradeoff, new Dictionary<string, int>
        {
            ["loss"] = trials,
            ["epochs"] = trials,
            ["parallel"] = trials,
            ["pareto"] = 6,
            ["slice:epochs"] = trials,
            ["slice:learning_rate"] = trials,
            // The replicates' seed is a hyperparameter of each trial: its slice shows the spread over seeds.
            ["slice:seed"] = trials,
            ["trial"] = 1,
        });
        // train_seconds is 0.2 for every 1-epoch configuration and 0.4 for every 2-epoch one, so the front is the best
        // f1 of each: two configurations, the other four dominated.
        var pareto = tradeoff["charts"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "pareto")!["series"]!.AsArray()
            .ToDictionary(s => s!["name"]!.GetValue<string>(), s => s!["points"]!.GetValue<int>());
        Assert.Equal(new Dictionary<string, int> { ["Pareto front"] = 2, ["dominated"] = 4 }, pareto);

        var live = sweeps[DashboardFixture.Live];
        var running = Assert.Single(live["trials"]!.AsArray())!;
        Assert.Equal("running", running["status"]!.GetValue<string>());
        // Held at step 150 of 2 × 100: the row shows 75% (or 74%, a heartbeat short) and an ETA.
        Assert.Matches(@"7[45]% · epoch 2/2", running["text"]!.GetValue<string>());
        Assert.Matches(@"^\d+(h\d\dm|m\d\ds|s)$", running["eta"]!.GetValue<string>());
        Assert.StartsWith("ETA", live["eta"]!.GetValue<string>());
        // No trial has completed: the loss curves and the running trial's own are all there is to draw.
        AssertCharts(live, new Dictionary<string, int> { ["loss"] = 1, ["epochs"] = 1, ["parallel"] = 0, ["slice:weight_decay"] = 0, ["trial"] = 1 });

        // Released, the trial ends, and the open page shows it by polling, not by a reload.
        Assert.Equal(
            (true, "completed", false),
            (report["live"]!["completed"]!.GetValue<bool>(), report["live"]!["status"]?.GetValue<string>(), report["live"]!["reloaded"]!.GetValue<bool>()));
    }

    [Fact]
    public async Task The_page_and_its_assets_are_served_by_the_silo_with_echarts_as_npm_installed_it()
    {
        using var http = new HttpClient { BaseAddress = fixture.Address };

        foreach (var page in new[] { "/", $"/sweeps/{DashboardFixture.Tradeoff}" })
        {
            using var response = await http.GetAsync(page);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
            var html = await response.Content.ReadAsStringAsync();
            Assert.Equal(["/assets/echarts.min.js", "/assets/dashboard.js"], System.Text.RegularExpressions.Regex.Matches(html, "<script src=\"([^\"]+)\"").Select(m => m.Groups[1].Value));
        }
        foreach (var (asset, type) in new[] { ("dashboard.js", "text/javascript"), ("dashboard.css", "text/css"), ("echarts.min.js", "text/javascript") })
        {
            using var response = await http.GetAsync($"/assets/{asset}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(type, response.Content.Headers.ContentType?.MediaType);
        }
        var npm = await File.ReadAllBytesAsync(Repository.Path("src", "Runtime", "Dashboard", "node_modules", "echarts", "dist", "echarts.min.js"));
        Assert.Equal(npm, await http.GetByteArrayAsync("/assets/echarts.min.js"));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/assets/no-such-file.js")).StatusCode);
    }

    [Fact]
    public async Task A_silo_run_with_no_dashboard_serves_the_api_and_no_page()
    {
        using var directory = new TemporaryDirectory();
        var httpPort = GridSilo.FreePort();
        using var stop = new CancellationTokenSource();
        var command = SiloCommand.Configure(new RootCommand()).Parse([
            "--no-dashboard", "--http-port", $"{httpPort}", "--silo-port", $"{GridSilo.FreePort()}", "--gateway-port", $"{GridSilo.FreePort()}",
            "--state", Path.Combine(directory.Path, "state"), "--checkpoints", Path.Combine(directory.Path, "checkpoints"),
            "--cache", Path.Combine(directory.Path, "cache"), "--cluster-id", $"test-{Guid.NewGuid():N}", "--slots", "cpu:1",
        ]);
        Assert.Empty(command.Errors);
        var silo = command.InvokeAsync(cancellationToken: stop.Token);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/") };
        try
        {
            await WaitForHealthAsync(http, silo);

            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/sweeps")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/sweeps/any")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/assets/dashboard.js")).StatusCode);
        }
        finally
        {
            await stop.CancelAsync();
            Assert.Equal(0, await silo);
        }
    }

    private static async Task WaitForHealthAsync(HttpClient http, Task<int> silo)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (DateTime.UtcNow < deadline)
        {
            if (silo.IsCompleted) throw new InvalidOperationException($"the silo ended with exit code {await silo} before it was healthy");
            try
            {
                if ((await http.GetAsync("/healthz")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("the silo was not healthy within a minute");
    }

    /// <summary>
    /// Each chart named in <paramref name="expected"/>, and no other, has an ECharts instance on a canvas with pixels
    /// drawn in colour, and holds the number of data points given in its largest series (0: a chart drawn with no data
    /// yet, which still must not break the page).
    /// </summary>
    private static void AssertCharts(JsonNode sweep, Dictionary<string, int> expected)
    {
        var charts = sweep["charts"]!.AsArray().ToDictionary(c => c!["name"]!.GetValue<string>(), c => c!);
        Assert.Equal(expected.Keys.Order(), charts.Keys.Order());
        foreach (var (name, points) in expected)
        {
            var chart = charts[name];
            Assert.True(chart["instance"]!.GetValue<bool>(), $"{name}: no ECharts instance");
            Assert.True(chart["width"]!.GetValue<int>() > 0 && chart["height"]!.GetValue<int>() > 0, $"{name}: an empty canvas");
            var series = chart["series"]!.AsArray().Select(s => s!["points"]!.GetValue<int>()).ToList();
            if (name is "loss" or "epochs" or "trial")
                Assert.True(series.Count >= points && series.All(p => p > 0), $"{name}: series of {string.Join(", ", series)} points, want {points} or more series, none empty");
            else
                Assert.True((series.Count == 0 ? 0 : series.Sum()) == points, $"{name}: {series.Sum()} points drawn, want {points}");
            if (points > 0) Assert.True(chart["coloured_pixels"]!.GetValue<int>() > 100, $"{name}: {chart["coloured_pixels"]} pixels in colour; nothing drawn");
        }
    }

    /// <summary>Runs check.mjs over <paramref name="sweeps"/>; the live sweep goes last, as the script lets it finish after the others.</summary>
    private async Task<JsonNode> CheckAsync(string screenshots, string select, params string[] sweeps)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = Repository.Path("tests", "dashboard"),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var live = (await fixture.Grains.GetGrain<ISweepGrain>(DashboardFixture.Live).GetAsync()).Trials.Single().TrialId;
        foreach (var argument in (string[])["check.mjs", "--chromium", TestChromium.Binary, "--url", fixture.Address.ToString(), "--out", screenshots, "--select", select, "--live", live])
            start.ArgumentList.Add(argument);
        foreach (var sweep in sweeps)
        {
            start.ArgumentList.Add("--sweep");
            start.ArgumentList.Add(sweep);
        }
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        // The script says "release" once it has looked at the held trial; the JSON report is its last line.
        var stdout = "";
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line == "release") fixture.Release();
            else stdout = line;
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        var stderr = await error;
        if (stderr.Length > 0) output.WriteLine(stderr);
        Assert.True(process.ExitCode == 0, $"check.mjs exited with {process.ExitCode}: {stderr}");
        var report = JsonNode.Parse(stdout)!;
        output.WriteLine($"screenshot: {report["list"]!["screenshot"]}");
        foreach (var sweep in report["sweeps"]!.AsArray()) output.WriteLine($"screenshot: {sweep!["screenshot"]}");
        return report;
    }

    private static List<string> Strings(JsonNode? array) => [.. array!.AsArray().Select(s => s!.GetValue<string>())];
}

/// <summary>The Chromium the dashboard test drives: EXPERIMENTGRID_TEST_CHROMIUM, else `chromium` on PATH (Debian's package).</summary>
internal static class TestChromium
{
    public const string Variable = "EXPERIMENTGRID_TEST_CHROMIUM";

    public static string? Configured { get; } = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : TestPrometheus.OnPath("chromium");

    public static string Binary => Configured
        ?? throw new InvalidOperationException($"{Variable} is not set and no chromium is on PATH. Under CI the dashboard test must run: .ci/run installs Debian's chromium.");
}

/// <summary>
/// A test that needs <see cref="TestChromium"/>: skipped with the reason on a developer machine without it, run (and
/// failed) under CI=true, so that a CI run without a browser cannot pass unnoticed.
/// </summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (TestChromium.Configured is null && !TestPostgres.UnderCi)
            Skip = $"Chromium is not installed ({TestChromium.Variable} is not set and no chromium is on PATH; `apt-get install chromium`, or .ci/run). Under CI=true this test fails instead of skipping.";
    }
}
