using System.Net;
using System.Text.Json;
using ExperimentGrid.Runtime.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>The Orleans dashboard, mounted under /orleans on the silo's HTTP port, and turned off by its flag.</summary>
public sealed class OrleansDashboardTests
{
    [Fact]
    public async Task The_dashboard_serves_its_page_and_this_silo_with_the_grids_grains()
    {
        using var directory = new TemporaryDirectory();
        await using var silo = await Silos.StartAsync(Silos.Options(directory.Path, slots: "cpu:1"));
        using var http = new HttpClient { BaseAddress = silo.HttpAddress() };

        using var page = await http.GetAsync(new Uri("orleans/", UriKind.Relative));
        var html = await page.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<title>Orleans Dashboard</title>", html);
        using var script = await http.GetAsync(new Uri("orleans/index.min.js", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);

        // The slot polls the work queue from the start, so the queue grain is active and counted on this silo, once the
        // dashboard has collected its first counters.
        var counters = JsonDocument.Parse("{}");
        for (var wait = 0; wait < 60 && !Collected(counters); wait++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            counters.Dispose();
            counters = JsonDocument.Parse(await http.GetStringAsync(new Uri("orleans/DashboardCounters", UriKind.Relative)));
        }
        using var collected = counters;
        var host = Assert.Single(counters.RootElement.GetProperty("hosts").EnumerateArray());
        Assert.Equal("Active", host.GetProperty("status").GetString());
        Assert.Equal(silo.Services.GetRequiredService<SiloOptions>().GatewayPort, host.GetProperty("proxyPort").GetInt32());
        Assert.Contains(counters.RootElement.GetProperty("simpleGrainStats").EnumerateArray(),
            g => g.GetProperty("grainType").GetString()!.EndsWith("WorkQueueGrain", StringComparison.Ordinal));
        await silo.StopAsync();
    }

    private static bool Collected(JsonDocument counters) =>
        counters.RootElement.TryGetProperty("hosts", out var hosts) && hosts.GetArrayLength() > 0 &&
        counters.RootElement.GetProperty("simpleGrainStats").EnumerateArray().Any(g => g.GetProperty("grainType").GetString()!.EndsWith("WorkQueueGrain", StringComparison.Ordinal));

    [Fact]
    public async Task Turned_off_the_dashboard_is_not_served_and_metrics_still_are()
    {
        using var directory = new TemporaryDirectory();
        await using var silo = await Silos.StartAsync(Silos.Options(directory.Path, slots: "cpu:1") with { OrleansDashboard = false });
        using var http = new HttpClient { BaseAddress = silo.HttpAddress() };

        using var page = await http.GetAsync(new Uri("orleans/", UriKind.Relative));
        using var metrics = await http.GetAsync(new Uri("metrics", UriKind.Relative));

        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        await silo.StopAsync();
    }
}
