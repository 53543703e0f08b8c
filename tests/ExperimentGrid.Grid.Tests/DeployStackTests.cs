using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using ExperimentGrid.Contracts;
using ExperimentGrid.Runtime;
using ExperimentGrid.Runtime.Hosting;
using Microsoft.Extensions.DependencyInjection;
using YamlDotNet.RepresentationModel;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// The deploy stack (docker-compose.yml, deploy/prometheus, deploy/grafana) agrees with itself and with the silo: no
/// Docker engine runs here, so these read the files, parse the silos' command lines with the silo's own parser, and
/// compare the dashboard's queries with what a real silo's /metrics exports.
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class DeployStackTests
{
    [Fact]
    public void The_compose_file_runs_every_service_with_silos_on_postgres_at_distinct_addresses()
    {
        var compose = DeployFiles.Compose();
        var services = compose.Map("services");

        // The default stack: the services in no profile (ComposeGpuProfileTests checks the gpu profile's).
        Assert.Equal(["grafana", "postgres", "prometheus", "silo-1", "silo-2"],
            services.Children.Where(s => !((YamlMappingNode)s.Value).Has("profiles")).Select(s => s.Key.ToString()).Order());
        var (subnet, dynamicRange) = DeployFiles.GridNetwork(compose);
        var silos = DeployFiles.Silos(compose);
        Assert.Equal(2, silos.Count);
        foreach (var silo in silos)
        {
            var parse = SiloCommand.Configure(new RootCommand()).Parse(silo.Command);
            Assert.True(parse.Errors.Count == 0, $"{silo.Name}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
            Assert.Contains("Host=postgres;", silo.Flag("--postgres"));
            var address = IPAddress.Parse(silo.Flag("--address"));
            Assert.Equal(address.ToString(), silo.Service.Map("networks").Map("grid").Scalar("ipv4_address"));
            Assert.True(subnet.Contains(address), $"{silo.Name}: --address {address} is outside the grid network {subnet}");
            Assert.False(dynamicRange.Contains(address), $"{silo.Name}: --address {address} is in {dynamicRange}, where Docker hands out addresses to other containers");
            Assert.Equal("service_healthy", silo.Service.Map("depends_on").Map("postgres").Scalar("condition"));
            // Checkpoints on one named volume at one path: a trial resumes on another silo from its last checkpoint.
            Assert.Contains($"checkpoints:{silo.Flag("--checkpoints")}", silo.Volumes);
            Assert.Contains(silo.Volumes, v => v.EndsWith($":{silo.Flag("--data-root")}:ro", StringComparison.Ordinal));
        }
        Assert.Equal(silos.Count, silos.Select(s => s.Flag("--address")).Distinct().Count());
        Assert.Single(silos.Select(s => s.Flag("--postgres")).Distinct());
        Assert.Contains(compose.Map("volumes").Children.Keys, k => k.ToString() == "checkpoints");
    }

    [Fact]
    public void Prometheus_scrapes_every_silo_at_its_http_port_and_grafana_reads_that_prometheus()
    {
        var compose = DeployFiles.Compose();
        var prometheus = DeployFiles.Yaml("deploy", "prometheus", "prometheus.yml");
        var targets = DeployFiles.Targets(DeployFiles.PrometheusJob("experimentgrid-silo"));

        Assert.Equal(DeployFiles.Silos(compose).Select(s => $"{s.Name}:{s.HttpPort}").Order(), targets.Order());
        Assert.Equal("5s", prometheus.Map("global").Scalar("scrape_interval"));
        Assert.Contains("./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro", DeployFiles.Volumes(compose.Map("services").Map("prometheus")));

        var datasource = Assert.Single(DeployFiles.Yaml("deploy", "grafana", "provisioning", "datasources", "prometheus.yml").Sequence("datasources").Cast<YamlMappingNode>());
        Assert.Equal("http://prometheus:9090", datasource.Scalar("url"));
        Assert.All(DeployFiles.DashboardDatasourceUids(), uid => Assert.Equal(datasource.Scalar("uid"), uid));
        // Grafana finds the dashboard only where its provider looks, and the compose file must mount it there.
        var provider = Assert.Single(DeployFiles.Yaml("deploy", "grafana", "provisioning", "dashboards", "dashboards.yml").Sequence("providers").Cast<YamlMappingNode>());
        var grafana = DeployFiles.Volumes(compose.Map("services").Map("grafana"));
        Assert.Contains($"./deploy/grafana/dashboards:{provider.Map("options").Scalar("path")}:ro", grafana);
        Assert.Contains("./deploy/grafana/provisioning:/etc/grafana/provisioning:ro", grafana);
    }

    [Fact]
    public async Task The_dashboard_queries_only_series_and_labels_a_silo_exports()
    {
        using var directory = new TemporaryDirectory();
        var options = Silos.Training(directory.Path);
        await using var silo = await Silos.StartAsync(options);
        var sweep = silo.Services.GetRequiredService<IGrainFactory>().GetGrain<ISweepGrain>("dashboard");
        using var http = new HttpClient { BaseAddress = silo.HttpAddress() };
        var exported = new Dictionary<string, HashSet<string>>();
        string[] trialSeries = ["experimentgrid_trial_loss", "experimentgrid_trial_eval", "experimentgrid_trial_throughput_per_second"];

        // Trial series exist only while a trial runs: enough epochs that scrapes every 100 ms see loss, then an eval.
        await sweep.SubmitAsync(new SweepSubmission("dashboard.yaml", GridWorld.TinySpec("dashboard", "  learning_rate: [5.0e-5]", epochs: 3)));
        while (!trialSeries.All(exported.ContainsKey))
        {
            Assert.False((await sweep.GetAsync()).Status is SweepStatus.Finished or SweepStatus.Cancelled,
                $"the trial ended before a scrape showed all of {string.Join(", ", trialSeries)}; seen: {string.Join(", ", exported.Keys)}");
            await ScrapeAsync(http, exported);
            await Task.Delay(100);
        }
        await GridWorld.WaitForEndAsync(sweep, TimeSpan.FromMinutes(5));
        await silo.Services.GetRequiredService<GridViewRefresher>().RefreshAsync();
        await ScrapeAsync(http, exported);
        await silo.StopAsync();

        // The GPU panels' series come from the DCGM exporter, not the silo (ComposeGpuProfileTests checks them).
        var queries = DeployFiles.DashboardQueries().Where(q => DeployFiles.DcgmMetricNames(q.Expr).Count == 0).ToList();
        Assert.NotEmpty(queries);
        // Orleans' fault counters have no series before a fault: each must be an instrument its meter has published.
        var orleansInstruments = DeployFiles.PublishedInstruments(GridSilo.OrleansMeter);
        foreach (var query in queries)
        {
            var faults = DeployFiles.OrleansFaultCounters(query.Expr);
            Assert.All(faults, counter => Assert.Contains(DeployFiles.OrleansInstrument(counter), orleansInstruments));
            var metrics = DeployFiles.MetricNames(query.Expr).Except(faults).ToHashSet();
            if (faults.Count > 0 && metrics.Count == 0) continue;
            Assert.True(metrics.Count > 0, $"'{query.Expr}' queries no experimentgrid or orleans series");
            Assert.All(metrics, m => Assert.True(exported.ContainsKey(m), $"'{query.Expr}': the silo exports no {m}; it exports {string.Join(", ", exported.Keys.Order())}"));
            // Prometheus adds instance and job to every series it scrapes.
            var labels = metrics.SelectMany(m => exported[m]).Append("instance").Append("job").ToHashSet();
            Assert.All(DeployFiles.LabelsUsed(query.Expr), l => Assert.True(labels.Contains(l), $"'{query.Expr}': {string.Join("/", metrics)} has no label {l}"));
            var kept = DeployFiles.GroupedBy(query.Expr) ?? labels;
            Assert.All(DeployFiles.LegendLabels(query.Legend), l => Assert.True(kept.Contains(l), $"legend '{query.Legend}' of '{query.Expr}' names {l}, which the query does not keep"));
        }
        // Each panel the dashboard promises has its series: sweeps, slots per silo, and per-trial loss, eval and throughput.
        var queried = queries.SelectMany(q => DeployFiles.MetricNames(q.Expr)).ToHashSet();
        var unshown = exported.Keys.Where(k => k.StartsWith("experimentgrid_", StringComparison.Ordinal) && k != "experimentgrid_silo_slots" && !queried.Contains(k)).ToList();
        Assert.True(unshown.Count == 0, $"no panel shows {string.Join(", ", unshown)}");
    }

    [PrometheusFact]
    public void Promtool_accepts_the_prometheus_config()
    {
        var (exitCode, output) = DeployFiles.Run(TestPrometheus.Promtool, "check", "config", DeployFiles.Path("deploy", "prometheus", "prometheus.yml"));

        Assert.True(exitCode == 0, output);
        Assert.Contains("SUCCESS", output);
    }

    [ComposeFact]
    public void Docker_compose_accepts_the_compose_file()
    {
        var compose = ComposeFactAttribute.Command!;
        var (exitCode, output) = DeployFiles.Run(compose[0], [.. compose[1..], "-f", DeployFiles.Path("docker-compose.yml"), "config", "--quiet"]);

        Assert.True(exitCode == 0, $"{string.Join(' ', compose)} config: {output}");
    }

    /// <summary>Adds each series name on the silo's /metrics, with its label names, to <paramref name="exported"/>.</summary>
    private static async Task ScrapeAsync(HttpClient http, Dictionary<string, HashSet<string>> exported)
    {
        foreach (var line in (await http.GetStringAsync(new Uri("metrics", UriKind.Relative))).Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var name = line[..line.IndexOfAny(['{', ' '])];
            var labels = exported.TryGetValue(name, out var known) ? known : exported[name] = [];
            var open = line.IndexOf('{', StringComparison.Ordinal);
            if (open < 0) continue;
            foreach (Match label in Regex.Matches(line[open..line.LastIndexOf('}')], @"(\w+)=""")) labels.Add(label.Groups[1].Value);
        }
    }
}
