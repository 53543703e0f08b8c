using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using ExperimentGrid.Contracts;
using ExperimentGrid.Runtime;
using ExperimentGrid.Runtime.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>A real Prometheus server scrapes a real silo's /metrics: our exposition is one Prometheus accepts.</summary>
[Collection(SiloCollection.Name)]
public sealed class PrometheusScrapeTests
{
    private const string Job = "experimentgrid-silo";

    [PrometheusFact]
    public async Task Prometheus_scrapes_a_finished_sweeps_leaderboard_and_trial_counts_and_runs_the_dashboards_queries()
    {
        using var directory = new TemporaryDirectory();
        var options = Silos.Training(directory.Path);
        await using var silo = await Silos.StartAsync(options);
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        var finished = await GridWorld.RunTwoTrialSweepAsync(grains, "scraped");
        await silo.Services.GetRequiredService<GridViewRefresher>().RefreshAsync();
        var best = Assert.Single(await grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).TopAsync("scraped", 1));

        await using var prometheus = await PrometheusServer.StartAsync(directory.Path, silo.HttpAddress());
        var bestSeries = Assert.Single(await prometheus.WaitForSeriesAsync("experimentgrid_sweep_best_objective{sweep=\"scraped\"}"));
        var completed = Assert.Single(await prometheus.QueryAsync("experimentgrid_sweep_trials{sweep=\"scraped\",state=\"completed\"}"));
        var up = Assert.Single(await prometheus.QueryAsync($"up{{job=\"{Job}\"}}"));
        var target = Assert.Single(await prometheus.ActiveTargetsAsync());

        Assert.Equal("f1", bestSeries.Labels["metric"]);
        Assert.Equal(best.Value, bestSeries.Value, 12);
        Assert.Equal(2, finished.Trials.Count);
        Assert.Equal(finished.Trials.Count, completed.Value);
        // up is 1 only for a scrape Prometheus could read and parse; a bad exposition is up 0 with the parse error.
        Assert.Equal(1, up.Value);
        Assert.Equal("up", target.GetProperty("health").GetString());
        Assert.Equal("", target.GetProperty("lastError").GetString());

        // The Grafana dashboard's queries, its sweep variable set, are PromQL this Prometheus runs (a syntax error is a
        // 400); all but the per-trial panels, whose trials have ended, and the GPU panels (no GPU, no DCGM exporter
        // here) show this sweep and this silo.
        // The Orleans panels' fault counters (storage errors, long-running turns) have no series until a fault: each must
        // be an instrument this silo's Orleans meter has published, under the name the exporter turns into the query's.
        var orleansInstruments = DeployFiles.PublishedInstruments(GridSilo.OrleansMeter);
        foreach (var query in DeployFiles.DashboardQueries())
        {
            var expr = query.Expr.Replace("$sweep", "scraped", StringComparison.Ordinal);
            var series = await prometheus.QueryAsync(expr);
            if (query.Expr.Contains("experimentgrid_trial_", StringComparison.Ordinal) || DeployFiles.DcgmMetricNames(query.Expr).Count > 0) continue;
            if (DeployFiles.OrleansFaultCounters(query.Expr) is { Count: > 0 } faults)
            {
                Assert.All(faults, counter => Assert.Contains(DeployFiles.OrleansInstrument(counter), orleansInstruments));
                continue;
            }
            // A rate needs two scrapes in its window; the scrape interval is a second, but a loaded machine stretches it.
            for (var wait = 0; series.Count == 0 && wait < 60; wait++)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                series = await prometheus.QueryAsync(expr);
            }
            Assert.True(series.Count > 0, $"dashboard query '{query.Expr}' has no data");
        }
        await silo.StopAsync();
    }

    private sealed record Series(IReadOnlyDictionary<string, string> Labels, double Value);

    /// <summary>The prometheus binary in a process of its own: its own config, storage and port, whatever else runs here.</summary>
    private sealed class PrometheusServer : IAsyncDisposable
    {
        private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
        private readonly Process _process;
        private readonly StringBuilder _log = new();
        private readonly HttpClient _http;

        private PrometheusServer(Process process, Uri address)
        {
            _process = process;
            _http = new HttpClient { BaseAddress = address };
        }

        public static async Task<PrometheusServer> StartAsync(string directory, Uri silo)
        {
            var config = Path.Combine(directory, "prometheus.yml");
            await File.WriteAllTextAsync(config, $"""
                global:
                  scrape_interval: 1s
                scrape_configs:
                  - job_name: {Job}
                    static_configs:
                      - targets: ["{silo.Authority}"]
                """);
            var port = GridSilo.FreePort();
            var start = new ProcessStartInfo(TestPrometheus.Binary)
            {
                ArgumentList =
                {
                    $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(directory, "prometheus-data")}",
                    $"--web.listen-address=127.0.0.1:{port}",
                },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            var server = new PrometheusServer(Process.Start(start)!, new Uri($"http://127.0.0.1:{port}/"));
            server._process.OutputDataReceived += (_, line) => server.Append(line.Data);
            server._process.ErrorDataReceived += (_, line) => server.Append(line.Data);
            server._process.BeginOutputReadLine();
            server._process.BeginErrorReadLine();
            return server;
        }

        /// <summary>The query's series, once Prometheus has scraped them; fails with Prometheus' log after a minute.</summary>
        public async Task<List<Series>> WaitForSeriesAsync(string query)
        {
            var deadline = DateTime.UtcNow + Limit;
            while (true)
            {
                if (_process.HasExited) Assert.Fail($"prometheus exited ({_process.ExitCode}):\n{Log}");
                try
                {
                    if (await QueryAsync(query) is { Count: > 0 } series) return series;
                }
                catch (HttpRequestException) when (DateTime.UtcNow < deadline)
                {
                    // Not listening yet.
                }
                Assert.True(DateTime.UtcNow < deadline, $"Prometheus had no {query} after {Limit}; targets: {await TargetsTextAsync()}\n{Log}");
                await Task.Delay(250);
            }
        }

        public async Task<List<Series>> QueryAsync(string query)
        {
            using var result = await GetAsync($"api/v1/query?query={Uri.EscapeDataString(query)}");
            return [.. result.RootElement.GetProperty("data").GetProperty("result").EnumerateArray().Select(s => new Series(
                s.GetProperty("metric").EnumerateObject().ToDictionary(l => l.Name, l => l.Value.GetString()!),
                double.Parse(s.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture)))];
        }

        public async Task<List<JsonElement>> ActiveTargetsAsync()
        {
            using var result = await GetAsync("api/v1/targets?state=active");
            return [.. result.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray().Select(t => t.Clone())];
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            _process.Dispose();
            _http.Dispose();
        }

        private string Log
        {
            get
            {
                lock (_log) return _log.ToString();
            }
        }

        private void Append(string? line)
        {
            if (line is null) return;
            lock (_log) _log.AppendLine(line);
        }

        private async Task<string> TargetsTextAsync()
        {
            try
            {
                return await _http.GetStringAsync(new Uri("api/v1/targets", UriKind.Relative));
            }
            catch (HttpRequestException e)
            {
                return e.Message;
            }
        }

        private async Task<JsonDocument> GetAsync(string path)
        {
            using var response = await _http.GetAsync(new Uri(path, UriKind.Relative));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {body}");
            var document = JsonDocument.Parse(body);
            Assert.Equal("success", document.RootElement.GetProperty("status").GetString());
            return document;
        }
    }
}
