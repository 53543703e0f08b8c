using System.Diagnostics.Metrics;
using ExperimentGrid.Runtime;
using ExperimentGrid.Runtime.Slots;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace ExperimentGrid.Grid.Tests;

[Collection(SiloCollection.Name)]
public sealed class MetricsEndpointTests
{
    [Fact]
    public async Task A_scrape_of_metrics_returns_prometheus_text_with_the_ExperimentGrid_meter_series()
    {
        using var directory = new TemporaryDirectory();
        await using var silo = await Silos.StartAsync(Silos.Options(directory.Path, slots: "gpu:0,gpu:1,cpu:3"));
        silo.Services.GetRequiredService<GridMetrics>().Meter.CreateCounter<long>("experimentgrid.test.scrapes", unit: "{scrape}").Add(3);
        using var http = new HttpClient { BaseAddress = silo.HttpAddress() };

        using var response = await http.GetAsync(new Uri("metrics", UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();

        Assert.True(response.IsSuccessStatusCode, text);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var lines = text.Split('\n');
        Assert.Contains("# TYPE experimentgrid_silo_slots gauge", lines);
        Assert.Equal("2", Sample(lines, "experimentgrid_silo_slots", "kind=\"gpu\""));
        Assert.Equal("3", Sample(lines, "experimentgrid_silo_slots", "kind=\"cpu\""));
        Assert.Equal("3", Sample(lines, "experimentgrid_test_scrapes_total", ""));
        await silo.StopAsync();
    }

    [Fact]
    public async Task Healthz_answers_ok_while_the_silo_is_active()
    {
        using var directory = new TemporaryDirectory();
        await using var silo = await Silos.StartAsync(Silos.Options(directory.Path));
        using var http = new HttpClient { BaseAddress = silo.HttpAddress() };

        using var response = await http.GetAsync(new Uri("healthz", UriKind.Relative));

        Assert.True(response.IsSuccessStatusCode);
        Assert.Equal("ok\n", await response.Content.ReadAsStringAsync());
        await silo.StopAsync();
    }

    [Fact]
    public void The_slots_gauge_counts_slots_per_kind_with_a_unit()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var exported = new List<MetricSnapshot>();
        using var provider = Sdk.CreateMeterProviderBuilder().AddMeter(GridMetrics.MeterName).AddInMemoryExporter(exported).Build();
        _ = new GridMetrics(services.GetRequiredService<IMeterFactory>(), new SlotActivity(SiloSlots.Parse("gpu:0,gpu:1,cpu:3")), new GridView());

        provider.ForceFlush();

        var slots = Assert.Single(exported, m => m.Name == "experimentgrid.silo.slots");
        Assert.Equal("{slot}", slots.Unit);
        var counts = slots.MetricPoints.ToDictionary(p => Kind(p), p => p.GetGaugeLastValueLong());
        Assert.Equal(new Dictionary<string, long> { ["gpu"] = 2, ["cpu"] = 3 }, counts);
    }

    /// <summary>The value of the one sample of <paramref name="name"/> from the ExperimentGrid meter whose labels contain <paramref name="label"/>.</summary>
    private static string Sample(string[] lines, string name, string label) => Assert.Single(lines,
            line => line.StartsWith(name + "{", StringComparison.Ordinal) && line.Contains("otel_scope_name=\"ExperimentGrid\"", StringComparison.Ordinal) && line.Contains(label, StringComparison.Ordinal))
        .Split(' ')[^1];

    private static string Kind(MetricPoint point)
    {
        foreach (var tag in point.Tags)
            if (tag.Key == "kind") return (string)tag.Value!;
        throw new InvalidOperationException("a slots point without a kind");
    }
}
