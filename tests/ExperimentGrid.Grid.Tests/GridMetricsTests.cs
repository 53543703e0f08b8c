using System.Diagnostics.Metrics;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Runtime;
using ExperimentGrid.Runtime.Slots;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace ExperimentGrid.Grid.Tests;

[Collection(SiloCollection.Name)]
public sealed class GridMetricsTests
{
    [Fact]
    public void Running_trials_have_series_with_units_and_finished_trials_leave_them()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var exported = new List<Metric>();
        using var provider = Sdk.CreateMeterProviderBuilder().AddMeter(GridMetrics.MeterName).AddInMemoryExporter(exported).Build();
        var slots = new SlotActivity(SiloSlots.Parse("cpu:2"));
        var view = new GridView
        {
            Sweeps = [new SweepView("s1", "f1", new Dictionary<TrialStatus, int> { [TrialStatus.Completed] = 3, [TrialStatus.Running] = 1 }, 0.75)],
        };
        _ = new GridMetrics(services.GetRequiredService<IMeterFactory>(), slots, view);
        var cpu0 = new Slot(SlotKind.Cpu, 0);
        slots.Take(cpu0, new RunningTrial("s1", "t4", EvaluationMetric.F1)
        {
            Progress = new TrainingProgress(1, 2, 3, 8, 0.69, 2e-5, 12.5, 400, TimeSpan.FromSeconds(1), 16),
            LastEval = 0.5,
        });

        provider.ForceFlush();
        Assert.Equal(0.69, Single(exported, "experimentgrid.trial.loss", "{loss}", "t4"));
        Assert.Equal(12.5, Single(exported, "experimentgrid.trial.throughput", "{sample}/s", "t4"));
        Assert.Equal(0.5, Single(exported, "experimentgrid.trial.eval", "{score}", "t4"));
        Assert.Equal(0.75, Single(exported, "experimentgrid.sweep.best_objective", "{score}", "s1"));
        Assert.Equal(1L, Long(exported, "experimentgrid.silo.slots.busy"));
        Assert.Equal(1L, Long(exported, "experimentgrid.silo.slots.free"));

        exported.Clear();
        slots.Free(cpu0);
        provider.ForceFlush();
        Assert.Empty(Points(exported, "experimentgrid.trial.loss"));
        Assert.Empty(Points(exported, "experimentgrid.trial.eval"));
        Assert.Equal(0L, Long(exported, "experimentgrid.silo.slots.busy"));
    }

    [Fact]
    public void Packed_GPU_slots_each_count_as_a_slot_of_their_kind()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var exported = new List<Metric>();
        using var provider = Sdk.CreateMeterProviderBuilder().AddMeter(GridMetrics.MeterName).AddInMemoryExporter(exported).Build();
        var slots = new SlotActivity(SiloSlots.Parse("gpu:0x2,gpu:1x2,cpu:1"));
        _ = new GridMetrics(services.GetRequiredService<IMeterFactory>(), slots, new GridView());
        slots.Take(new Slot(SlotKind.Gpu, 0, 0), new RunningTrial("s1", "t1", EvaluationMetric.F1));
        slots.Take(new Slot(SlotKind.Gpu, 0, 1), new RunningTrial("s1", "t2", EvaluationMetric.F1));

        provider.ForceFlush();
        Assert.Equal((4L, 1L), (ByKind(exported, "experimentgrid.silo.slots", "gpu"), ByKind(exported, "experimentgrid.silo.slots", "cpu")));
        Assert.Equal((2L, 0L), (ByKind(exported, "experimentgrid.silo.slots.busy", "gpu"), ByKind(exported, "experimentgrid.silo.slots.busy", "cpu")));
        Assert.Equal((2L, 1L), (ByKind(exported, "experimentgrid.silo.slots.free", "gpu"), ByKind(exported, "experimentgrid.silo.slots.free", "cpu")));
    }

    private static long ByKind(List<Metric> exported, string name, string kind)
    {
        foreach (var point in Points(exported, name))
            foreach (var tag in point.Tags)
                if (tag.Key == "kind" && (string?)tag.Value == kind) return point.GetGaugeLastValueLong();
        Assert.Fail($"{name} has no point for kind {kind}");
        return 0;
    }

    [Fact]
    public void Every_running_sweep_and_only_the_latest_ended_ones_have_series()
    {
        static SweepView Sweep(string id, bool ended) => new(id, "f1", new Dictionary<TrialStatus, int>(), null, ended);
        SweepView[] submitted = [Sweep("old-1", true), Sweep("long-running", false), Sweep("old-2", true), Sweep("new-1", true), Sweep("new-2", true), Sweep("latest", false)];

        Assert.Equal(["long-running", "new-1", "new-2", "latest"], GridView.Shown(submitted, keepEnded: 2).Select(s => s.SweepId));
        Assert.Equal(["long-running", "latest"], GridView.Shown(submitted, keepEnded: 0).Select(s => s.SweepId));
        Assert.Equal(submitted.Select(s => s.SweepId), GridView.Shown(submitted, keepEnded: 10).Select(s => s.SweepId));
    }

    [Fact]
    public async Task A_scrape_of_a_silo_shows_the_leaderboard_of_a_finished_sweep()
    {
        using var directory = new TemporaryDirectory();
        var options = Silos.Training(directory.Path);
        await using var silo = await Silos.StartAsync(options);
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        await GridWorld.RunTwoTrialSweepAsync(grains, "scraped");
        // The slot lets go of its trial just after reporting the result that ended the sweep.
        var slots = silo.Services.GetRequiredService<SlotActivity>();
        for (var i = 0; slots.Running.Count > 0; i++)
        {
            Assert.True(i < 100, "the slot still holds a trial 10 s after its sweep finished");
            await Task.Delay(100);
        }
        await silo.Services.GetRequiredService<GridViewRefresher>().RefreshAsync();
        using var http = new HttpClient { BaseAddress = silo.HttpAddress() };

        var lines = (await http.GetStringAsync(new Uri("metrics", UriKind.Relative))).Split('\n');

        Assert.Contains("# TYPE experimentgrid_sweep_best_objective gauge", lines);
        var best = Assert.Single(lines, l => l.StartsWith("experimentgrid_sweep_best_objective{", StringComparison.Ordinal) && l.Contains("sweep=\"scraped\"", StringComparison.Ordinal));
        Assert.Contains("metric=\"f1\"", best);
        Assert.InRange(double.Parse(best.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture), 0, 1);
        var completed = Assert.Single(lines, l => l.StartsWith("experimentgrid_sweep_trials{", StringComparison.Ordinal) && l.Contains("sweep=\"scraped\"", StringComparison.Ordinal) && l.Contains("state=\"completed\"", StringComparison.Ordinal));
        Assert.EndsWith(" 2", completed);
        Assert.DoesNotContain(lines, l => l.StartsWith("experimentgrid_trial_loss{", StringComparison.Ordinal));
        await silo.StopAsync();
    }

    private static IEnumerable<MetricPoint> Points(List<Metric> exported, string name)
    {
        foreach (var metric in exported.Where(m => m.Name == name))
            foreach (ref readonly var point in metric.GetMetricPoints())
                yield return point;
    }

    private static double Single(List<Metric> exported, string name, string unit, string labelValue)
    {
        Assert.Equal(unit, exported.First(m => m.Name == name).Unit);
        var point = Assert.Single(Points(exported, name));
        var values = new List<object?>();
        foreach (var tag in point.Tags) values.Add(tag.Value);
        Assert.Contains(labelValue, values);
        return point.GetGaugeLastValueDouble();
    }

    private static long Long(List<Metric> exported, string name) => Assert.Single(Points(exported, name)).GetGaugeLastValueLong();
}
