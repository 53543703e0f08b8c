using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using ExperimentGrid.Grains;
using ExperimentGrid.Grains.Sweeps;
using ExperimentGrid.Grains.Trials;
using ExperimentGrid.Runtime;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.Runtime.Slots;
using ExperimentGrid.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// Two sweeps run to their end on a silo of noiseless fakes: "api-tradeoff" (2 learning rates × 1 or 2 epochs × 2
/// seeds, f1 against train_seconds) and "api-single" (one trial). The silo stays up for the tests to read it back.
/// </summary>
public sealed class GridApiFixture : IAsyncLifetime
{
    public const string Tradeoff = "api-tradeoff";
    public const string Single = "api-single";

    /// <summary>A thousand steps of a millisecond, and a heartbeat each millisecond: more loss points than a curve keeps.</summary>
    public const int StepsPerEpoch = 1000;

    public const string TradeoffSpec = """
        name: api-tradeoff
        trial: { model: minilm, dataset: rotten_tomatoes, test_split: none, seed: 10 }
        grid:
          learning_rate: [3.0e-5, 1.0e-3]
          epochs: [1, 2]
        replicates: 2
        objectives:
          - { metric: f1 }
          - { metric: train_seconds }
        checkpoint_every: 0
        retries: 0
        """;

    public const string SingleSpec = """
        name: api-single
        trial: { model: minilm, dataset: rotten_tomatoes, test_split: none, epochs: 1, learning_rate: 2.0e-5 }
        grid:
          weight_decay: [0.01]
        objective: { metric: f1 }
        checkpoint_every: 0
        retries: 0
        """;

    /// <summary>The single sweep's, which no trial of the other has.</summary>
    public const double SingleLearningRate = 2.0e-5;

    private readonly TemporaryDirectory _directory = new();
    private readonly ConcurrentDictionary<string, ITrialGrain> _trials = new();
    private WebApplication? _silo;

    public GridApiFixture() => Fakes = new FakeTrainableFactory
    {
        Noise = 0,
        StepsPerEpoch = StepsPerEpoch,
        StepTime = _ => TimeSpan.FromMilliseconds(1),
        BeforeStep = WaitForHeartbeats,
    };

    public FakeTrainableFactory Fakes { get; }
    public IGrainFactory Grains { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public SweepSnapshot TradeoffEnd { get; private set; } = null!;
    public SweepSnapshot SingleEnd { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _silo = await Silos.StartAsync(Silos.Training(_directory.Path) with { Slots = SiloSlots.Parse("cpu:2") }, services =>
        {
            services.AddSingleton(new TrainableFactory(Fakes.Create));
            services.PostConfigure<GridOptions>(grid => grid.HeartbeatInterval = TimeSpan.FromMilliseconds(1));
        });
        Grains = _silo.Services.GetRequiredService<IGrainFactory>();
        Http = new HttpClient { BaseAddress = _silo.HttpAddress() };
        var tradeoff = Grains.GetGrain<ISweepGrain>(Tradeoff);
        await tradeoff.SubmitAsync(new SweepSubmission("tradeoff.yaml", TradeoffSpec));
        var single = Grains.GetGrain<ISweepGrain>(Single);
        await single.SubmitAsync(new SweepSubmission("single.yaml", SingleSpec));
        TradeoffEnd = await GridWorld.WaitForEndAsync(tradeoff, TimeSpan.FromMinutes(3), grains: Grains);
        SingleEnd = await GridWorld.WaitForEndAsync(single, TimeSpan.FromMinutes(3), grains: Grains);
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_silo is not null)
        {
            await _silo.StopAsync();
            await _silo.DisposeAsync();
        }
        _directory.Dispose();
    }

    /// <summary>
    /// Holds each trial before its second step until a heartbeat has carried its first to the trial grain, so that the
    /// curve's first point is known: step 1. The single sweep's trial is held before every step, so that its grain sees
    /// each of its 1000 steps and its curve is the down-sampling of steps 1 to 1000, which LossCurveTests works by hand.
    /// </summary>
    private void WaitForHeartbeats(FakeStep step)
    {
        var everyStep = step.Spec.LearningRate == SingleLearningRate;
        if (step.Step == 1 || (step.Step != 2 && !everyStep)) return;
        var trial = _trials.GetOrAdd(SpecKey(step.Spec), _ => FindTrial(step.Spec));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline && !step.Cancellation.IsCancellationRequested
            && !(trial.GetAsync().GetAwaiter().GetResult().Progress?.Step >= step.Step - 1))
            Thread.Sleep(1);
    }

    /// <summary>The grain of the trial training <paramref name="spec"/>: the trial is running, so it is released.</summary>
    private ITrialGrain FindTrial(TrialSpec spec)
    {
        foreach (var sweep in new[] { Tradeoff, Single })
        foreach (var trial in Grains.GetGrain<ISweepGrain>(sweep).GetAsync().GetAwaiter().GetResult().Trials)
        {
            var grain = Grains.GetGrain<ITrialGrain>(TrialKeys.Format(sweep, trial.TrialId));
            if (grain.GetAsync().GetAwaiter().GetResult().Definition is { } definition && SpecKey(definition.Spec) == SpecKey(spec)) return grain;
        }
        throw new InvalidOperationException($"no trial trains learning rate {spec.LearningRate}, {spec.Epochs} epochs, seed {spec.Seed}");
    }

    // A slot sets the device it runs on.
    private static string SpecKey(TrialSpec spec) => TrialRunner.ToJson(spec with { Device = "auto" });
}

/// <summary>
/// The silo's JSON API read back against the grains' own snapshots and against what the fakes are known to report
/// (FakeObjective: without noise, f1 after epoch e is Quality·(1 − 0.5^e), and the loss after step t is
/// 1 − Quality·(1 − 0.5^(t/S)), of which heartbeats carry the running mean over the epoch).
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class GridApiTests(GridApiFixture fixture) : IClassFixture<GridApiFixture>
{
    private const int Steps = GridApiFixture.StepsPerEpoch;

    [Fact]
    public async Task The_sweeps_are_listed_in_submission_order_with_their_trials_counted_by_status_a_page_at_a_time()
    {
        var (status, body) = await GetAsync("api/sweeps");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal((2, 0, 100), (body["total"]!.GetValue<int>(), body["offset"]!.GetValue<int>(), body["limit"]!.GetValue<int>()));
        var sweeps = body["sweeps"]!.AsArray().Select(s => s!).ToList();
        Assert.Equal([GridApiFixture.Tradeoff, GridApiFixture.Single], sweeps.Select(s => s["id"]!.GetValue<string>()));
        var tradeoff = sweeps[0];
        Assert.Equal((GridApiFixture.Tradeoff, "finished", SweepGrain.Exhausted), (tradeoff["name"]!.GetValue<string>(), tradeoff["status"]!.GetValue<string>(), tradeoff["end_reason"]!.GetValue<string>()));
        Assert.Equal(fixture.TradeoffEnd.SubmittedAt, tradeoff["submitted_at"]!.GetValue<DateTimeOffset>());
        // 2 learning rates × 2 epoch counts × 2 seeds, all completed.
        Assert.Equal(new Dictionary<string, int> { ["pending"] = 0, ["running"] = 0, ["completed"] = 8, ["failed"] = 0, ["cancelled"] = 0 },
            tradeoff["trial_counts"]!.AsObject().ToDictionary(c => c.Key, c => c.Value!.GetValue<int>()));
        Assert.Equal(1, sweeps[1]["trial_counts"]!["completed"]!.GetValue<int>());

        var (_, second) = await GetAsync("api/sweeps?offset=1&limit=1");
        Assert.Equal(2, second["total"]!.GetValue<int>());
        Assert.Equal(GridApiFixture.Single, Assert.Single(second["sweeps"]!.AsArray())!["id"]!.GetValue<string>());
        var (_, beyond) = await GetAsync("api/sweeps?offset=2");
        Assert.Empty(beyond["sweeps"]!.AsArray());
    }

    [Fact]
    public async Task A_sweep_shows_its_spec_and_every_trial_as_its_grain_holds_it()
    {
        var (status, body) = await GetAsync($"api/sweeps/{GridApiFixture.Tradeoff}");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal((GridApiFixture.TradeoffSpec, "tradeoff.yaml"), (body["spec"]!.GetValue<string>(), body["source"]!.GetValue<string>()));
        Assert.Equal([("f1", "maximize"), ("train_seconds", "minimize")],
            body["objectives"]!.AsArray().Select(o => (o!["metric"]!.GetValue<string>(), o["direction"]!.GetValue<string>())));
        var trials = body["trials"]!.AsArray().Select(t => t!).ToList();
        Assert.Equal(fixture.TradeoffEnd.Trials.Select(t => t.TrialId), trials.Select(t => t["id"]!.GetValue<string>()));
        foreach (var (view, json) in fixture.TradeoffEnd.Trials.Zip(trials))
        {
            var grain = await fixture.Grains.GetGrain<ITrialGrain>(TrialKeys.Format(GridApiFixture.Tradeoff, view.TrialId)).GetAsync();
            var spec = grain.Definition!.Spec;
            Assert.Equal("completed", json["status"]!.GetValue<string>());
            Assert.Equal(view.Hyperparameters.ToDictionary(h => h.Field, h => h.Value), json["hyperparameters"]!.AsObject().ToDictionary(h => h.Key, h => h.Value!.GetValue<string>()));
            Assert.Equal((1, 1), (json["attempts"]!.GetValue<int>(), grain.Attempts));
            Assert.Null(json["silo"]);
            Assert.Null(json["progress"]);
            Assert.Null(json["error"]);
            var metrics = json["metrics"]!.AsObject().ToDictionary(m => m.Key, m => m.Value!.GetValue<double>());
            Assert.Equal(grain.Outcome!.Metrics.Count, metrics.Count);
            Assert.Equal(FakeObjective.F1(spec, spec.Epochs), metrics["f1"], 12);
            // Nominal time: a thousand steps of a millisecond an epoch.
            Assert.Equal(spec.Epochs * Steps * 0.001, metrics["train_seconds"], 9);
            Assert.Equal(FakeObjective.F1(spec, spec.Epochs), json["objective"]!.GetValue<double>(), 12);
            var model = json["model"]!.GetValue<string>();
            Assert.Equal(grain.Outcome.Model, model);
            Assert.True(File.Exists(Path.Combine(model, FakeTrainable.ModelFile)), model);
        }
    }

    [Fact]
    public async Task A_trials_curve_holds_each_epochs_metrics_and_at_most_500_loss_points_from_its_first_step_to_its_last()
    {
        foreach (var view in fixture.TradeoffEnd.Trials)
        {
            var grain = fixture.Grains.GetGrain<ITrialGrain>(TrialKeys.Format(GridApiFixture.Tradeoff, view.TrialId));
            var spec = (await grain.GetAsync()).Definition!.Spec;
            var (status, body) = await GetAsync($"api/sweeps/{GridApiFixture.Tradeoff}/trials/{view.TrialId}/curve");

            Assert.Equal(HttpStatusCode.OK, status);
            var epochs = body["epochs"]!.AsArray().Select(e => e!).ToList();
            Assert.Equal(Enumerable.Range(1, spec.Epochs), epochs.Select(e => e["epoch"]!.GetValue<int>()));
            foreach (var epoch in epochs)
            {
                var e = epoch["epoch"]!.GetValue<int>();
                Assert.Equal(e * Steps, epoch["step"]!.GetValue<int>());
                Assert.Equal(FakeObjective.F1(spec, e), epoch["metrics"]!["f1"]!.GetValue<double>(), 12);
                Assert.Equal(1 - FakeObjective.F1(spec, e), epoch["metrics"]!["loss"]!.GetValue<double>(), 12);
                Assert.Equal(RunningMeanLoss(spec, e * Steps), epoch["train_loss"]!.GetValue<double>(), 12);
            }

            var loss = body["loss"]!.AsArray().Select(p => (Step: p!["step"]!.GetValue<int>(), Loss: p["loss"]!.GetValue<double>())).ToList();
            Assert.InRange(loss.Count, 2, LossCurve.DefaultCapacity);
            Assert.Equal(1, loss[0].Step);
            Assert.Equal(spec.Epochs * Steps, loss[^1].Step);
            Assert.True(loss.Zip(loss.Skip(1)).All(p => p.First.Step < p.Second.Step), "steps not increasing");
            Assert.All(loss, p => Assert.Equal(RunningMeanLoss(spec, p.Step), p.Loss, 12));
            Assert.Equal((await grain.GetCurveAsync()).Loss.Select(p => (p.Step, p.Loss)), loss);
        }
    }

    [Fact]
    public async Task A_trial_whose_grain_saw_all_1000_steps_keeps_250_of_them_evenly_and_its_last()
    {
        var trial = Assert.Single(fixture.SingleEnd.Trials).TrialId;

        var (status, body) = await GetAsync($"api/sweeps/{GridApiFixture.Single}/trials/{trial}/curve");

        Assert.Equal(HttpStatusCode.OK, status);
        // Steps 1 to 500 fill the 500 places: the odd steps stay, stride 2, and 1 + 2k goes on to 999, which fills them
        // again: 1 + 4k stays to 997, stride 4. 1000 is 3 steps past 997: the latest.
        Assert.Equal([.. Enumerable.Range(0, 250).Select(k => 1 + 4 * k), 1000], body["loss"]!.AsArray().Select(p => p!["step"]!.GetValue<int>()));
    }

    [Fact]
    public async Task The_leaderboard_is_the_clis_json_with_replicate_means_intervals_and_the_pareto_front()
    {
        var (status, body) = await GetAsync($"api/leaderboard?sweep={GridApiFixture.Tradeoff}");

        Assert.Equal(HttpStatusCode.OK, status);
        var ranked = await fixture.Grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).RankAsync(GridApiFixture.Tradeoff, GridApi.DefaultTop);
        Assert.True(JsonNode.DeepEquals(GridJson.Leaderboard(ranked), body), body.ToJsonString());
        var rows = body.AsArray().Select(r => r!).ToList();
        Assert.Equal(4, rows.Count);
        foreach (var row in rows)
        {
            var epochs = int.Parse(row["hyperparameters"]!["epochs"]!.GetValue<string>(), CultureInfo.InvariantCulture);
            var spec = fixture.Fakes.Created.First(f => f.Spec.Epochs == epochs
                && f.Spec.LearningRate == double.Parse(row["hyperparameters"]!["learning_rate"]!.GetValue<string>(), CultureInfo.InvariantCulture)).Spec;
            Assert.Equal(2, row["n"]!.GetValue<int>());
            // Without noise both seeds score alike: the interval closes on the mean.
            Assert.Equal(FakeObjective.F1(spec, epochs), row["mean"]!.GetValue<double>(), 12);
            Assert.Equal(row["mean"]!.GetValue<double>(), row["ci95_low"]!.GetValue<double>(), 12);
            Assert.Equal(row["mean"]!.GetValue<double>(), row["ci95_high"]!.GetValue<double>(), 12);
            Assert.Equal(epochs * Steps * 0.001, row["objectives"]![1]!["mean"]!.GetValue<double>(), 9);
            // 3e-5 beats 1e-3 at equal time; 3e-5 for 1 and 2 epochs trade f1 against time.
            Assert.Equal(spec.LearningRate == 3e-5, row["pareto_front"]!.GetValue<bool>());
        }

        var (_, best) = await GetAsync($"api/leaderboard?sweep={GridApiFixture.Tradeoff}&top=1");
        Assert.True(JsonNode.DeepEquals(rows[0], Assert.Single(best.AsArray())));
        var (_, everySweep) = await GetAsync("api/leaderboard?top=100");
        Assert.Equal(5, everySweep.AsArray().Count);
    }

    [Theory]
    [InlineData("api/sweeps/no-such-sweep", "no-such-sweep")]
    [InlineData("api/sweeps/no-such-sweep/trials/t001-r1/curve", "no-such-sweep")]
    [InlineData("api/sweeps/api-tradeoff/trials/t999/curve", "t999")]
    [InlineData("api/leaderboard?sweep=no-such-sweep", "no-such-sweep")]
    public async Task A_missing_sweep_or_trial_is_a_404_naming_it(string path, string missing)
    {
        var (status, body) = await GetAsync(path);

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains($"'{missing}'", body["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("api/sweeps?offset=-1", "offset")]
    [InlineData("api/sweeps?offset=one", "offset")]
    [InlineData("api/sweeps?limit=0", "limit")]
    [InlineData("api/sweeps?limit=1001", "limit")]
    [InlineData("api/sweeps?limit=1&limit=2", "limit")]
    [InlineData("api/leaderboard?top=0", "top")]
    [InlineData("api/leaderboard?sweep=a&sweep=b", "sweep")]
    public async Task A_bad_query_parameter_is_a_400_naming_it(string path, string parameter)
    {
        var (status, body) = await GetAsync(path);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(parameter, body["parameter"]!.GetValue<string>());
        Assert.StartsWith($"{parameter}: ", body["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    /// <summary>The running mean over its epoch of the fake's training loss, at global step <paramref name="step"/>, summed in the fake's order.</summary>
    private static double RunningMeanLoss(TrialSpec spec, int step)
    {
        var first = (step - 1) / Steps * Steps + 1;
        var sum = 0.0;
        for (var t = first; t <= step; t++) sum += 1 - FakeObjective.Quality(spec) * (1 - Math.Pow(0.5, (double)t / Steps));
        return sum / (step - first + 1);
    }

    private async Task<(HttpStatusCode Status, JsonNode Body)> GetAsync(string path)
    {
        using var response = await fixture.Http.GetAsync(new Uri(path, UriKind.Relative));
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }
}
