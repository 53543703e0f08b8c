using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.TestSupport;
using YamlDotNet.RepresentationModel;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// A test that needs a Docker Compose CLI (`docker compose`, else `docker-compose`) to validate the compose file; no
/// engine is needed. Skipped where there is none, under CI too: CI machines have no Docker.
/// </summary>
public sealed class ComposeFactAttribute : FactAttribute
{
    public static string[]? Command { get; } = Find();

    public ComposeFactAttribute()
    {
        if (Command is null) Skip = "no Docker Compose CLI: neither `docker compose` nor `docker-compose` is on PATH.";
    }

    private static string[]? Find()
    {
        if (TestPrometheus.OnPath("docker") is { } docker && DeployFiles.Run(docker, "compose", "version").ExitCode == 0) return [docker, "compose"];
        return TestPrometheus.OnPath("docker-compose") is { } compose ? [compose] : null;
    }
}

/// <summary>The deploy stack's files, read as a user's Docker Compose, Prometheus and Grafana would read them.</summary>
internal static partial class DeployFiles
{
    public sealed record SiloService(string Name, YamlMappingNode Service, string[] Command, IReadOnlyList<string> Volumes)
    {
        public string Flag(string name)
        {
            var index = Array.IndexOf(Command, name);
            Assert.True(index >= 0 && index + 1 < Command.Length, $"{Name}: its command has no {name}: {string.Join(' ', Command)}");
            return Command[index + 1];
        }

        public string HttpPort => Command.Contains("--http-port") ? Flag("--http-port") : new SiloOptions().HttpPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public sealed record DashboardQuery(string Expr, string Legend);

    public static string Root => Repository.Root;

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    public static YamlMappingNode Compose() => Yaml("docker-compose.yml");

    public static YamlMappingNode Yaml(params string[] parts)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(Path(parts))) stream.Load(reader);
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    public static YamlMappingNode Map(this YamlMappingNode node, string key) => (YamlMappingNode)node[key];

    public static YamlSequenceNode Sequence(this YamlMappingNode node, string key) => (YamlSequenceNode)node[key];

    public static string Scalar(this YamlMappingNode node, string key) => Interpolate(((YamlScalarNode)node[key]).Value ?? "");

    public static IReadOnlyList<string> Volumes(YamlMappingNode service) => [.. service.Sequence("volumes").Select(v => Interpolate(v.ToString()))];

    public const string CpuSiloDockerfile = "deploy/images/silo.Dockerfile";
    public const string GpuSiloDockerfile = "deploy/images/silo-cuda.Dockerfile";

    /// <summary>
    /// Every YAML document of the file, as Kubernetes reads a manifest of several; the empty ones left by a
    /// leading or trailing --- are dropped.
    /// </summary>
    public static List<YamlMappingNode> YamlDocuments(string path) => YamlDocumentsOf(File.ReadAllText(path));

    public static List<YamlMappingNode> YamlDocumentsOf(string text)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(text)) stream.Load(reader);
        return [.. stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>()];
    }

    public static bool Has(this YamlMappingNode node, string key) => node.Children.ContainsKey(key);

    /// <summary>The scalars of a sequence, such as a compose service's profiles or a rule's verbs.</summary>
    public static List<string> Scalars(this YamlMappingNode node, string key) => [.. node.Sequence(key).Select(v => Interpolate(v.ToString()))];

    /// <summary>The services built from the given silo Dockerfile, with their command lines as the silo receives them.</summary>
    public static List<SiloService> Silos(YamlMappingNode compose, string dockerfile = CpuSiloDockerfile) =>
        [.. compose.Map("services").Children
            .Where(s => s.Value is YamlMappingNode service && service.Children.ContainsKey("build") && service.Map("build").Scalar("dockerfile") == dockerfile)
            .Select(s => (Name: s.Key.ToString(), Service: (YamlMappingNode)s.Value))
            .Select(s => new SiloService(s.Name, s.Service, [.. s.Service.Sequence("command").Select(a => Interpolate(a.ToString()))], Volumes(s.Service)))];

    /// <summary>The grid network's subnet, and the range Docker hands addresses out of.</summary>
    public static (IPNetwork Subnet, IPNetwork Dynamic) GridNetwork(YamlMappingNode compose)
    {
        var config = (YamlMappingNode)compose.Map("networks").Map("grid").Map("ipam").Sequence("config").Single();
        return (IPNetwork.Parse(config.Scalar("subnet")), IPNetwork.Parse(config.Scalar("ip_range")));
    }

    /// <summary>Every query of the Grafana dashboard: the panels' targets and the template variables'.</summary>
    public static List<DashboardQuery> DashboardQueries()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path("deploy", "grafana", "dashboards", "experimentgrid.json")));
        var root = dashboard.RootElement;
        var queries = root.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .Select(t => new DashboardQuery(t.GetProperty("expr").GetString()!, t.TryGetProperty("legendFormat", out var legend) ? legend.GetString()! : ""))
            .ToList();
        queries.AddRange(root.GetProperty("templating").GetProperty("list").EnumerateArray()
            .Select(v => new DashboardQuery(VariableExpr().Match(v.GetProperty("definition").GetString()!).Groups[1].Value, "")));
        return queries;
    }

    public static List<string> DashboardDatasourceUids()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path("deploy", "grafana", "dashboards", "experimentgrid.json")));
        var uids = new List<string>();
        Walk(dashboard.RootElement);
        return uids;

        void Walk(JsonElement element)
        {
            if (element.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Name == "datasource") uids.Add(property.Value.GetProperty("uid").GetString()!);
                    else Walk(property.Value);
                }
            }
            else if (element.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in element.EnumerateArray()) Walk(item);
            }
        }
    }

    public static HashSet<string> MetricNames(string expr) => [.. MetricName().Matches(expr).Select(m => m.Value)];

    /// <summary>The Orleans fault counters a query reads: series that exist only once a fault has happened.</summary>
    public static HashSet<string> OrleansFaultCounters(string expr) => [.. OrleansFaultCounter().Matches(expr).Select(m => m.Value)];

    [GeneratedRegex(@"orleans_(?:storage_(?:read|write|clear)_errors|scheduler_long_running_turns)_total")]
    private static partial Regex OrleansFaultCounter();

    /// <summary>The Orleans meter's instrument that the Prometheus exporter exposes as counter <paramref name="series"/>.</summary>
    public static string OrleansInstrument(string series) => series[..^"_total".Length].Replace('_', '-');

    /// <summary>The instruments of <paramref name="meter"/> that exist in this process, whatever their values.</summary>
    public static HashSet<string> PublishedInstruments(string meter)
    {
        var names = new HashSet<string>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter.Name == meter) names.Add(instrument.Name);
        };
        listener.Start();
        return names;
    }

    /// <summary>The NVIDIA DCGM exporter's series a query names (the dashboard's GPU panels).</summary>
    public static HashSet<string> DcgmMetricNames(string expr) => [.. DcgmMetricName().Matches(expr).Select(m => m.Value)];

    /// <summary>The Prometheus job of that name in deploy/prometheus/prometheus.yml.</summary>
    public static YamlMappingNode PrometheusJob(string name) =>
        Assert.Single(Yaml("deploy", "prometheus", "prometheus.yml").Sequence("scrape_configs").Cast<YamlMappingNode>(), j => j.Scalar("job_name") == name);

    public static IEnumerable<string> Targets(YamlMappingNode job) =>
        job.Sequence("static_configs").Cast<YamlMappingNode>().SelectMany(c => c.Sequence("targets")).Select(t => t.ToString());

    /// <summary>Label names in the query's matchers and by/without clauses.</summary>
    public static HashSet<string> LabelsUsed(string expr) =>
        [.. Matcher().Matches(expr).Select(m => m.Groups[1].Value), .. (GroupedBy(expr) ?? [])];

    /// <summary>The labels an aggregation keeps (its by clause), or null when the query aggregates none away.</summary>
    public static HashSet<string>? GroupedBy(string expr) =>
        By().Match(expr) is { Success: true } by ? [.. by.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)] : null;

    public static HashSet<string> LegendLabels(string legend) => [.. LegendLabel().Matches(legend).Select(m => m.Groups[1].Value)];

    public static (int ExitCode, string Output) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }

    /// <summary>Compose's ${NAME:-default} and ${NAME-default}, as `docker compose config` resolves them.</summary>
    public static string Interpolate(string value) =>
        Variable().Replace(value, m => Environment.GetEnvironmentVariable(m.Groups[1].Value) is { Length: > 0 } set ? set : m.Groups[2].Value);

    [GeneratedRegex(@"\$\{(\w+):?-([^}]*)\}")]
    private static partial Regex Variable();

    [GeneratedRegex(@"\b(?:experimentgrid|orleans)_[a-z0-9_]+\b")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"\bDCGM_FI_[A-Z0-9_]+\b")]
    private static partial Regex DcgmMetricName();

    [GeneratedRegex(@"(\w+)\s*(?:=~|!~|!=|=)\s*""")]
    private static partial Regex Matcher();

    [GeneratedRegex(@"\bby\s*\(([^)]*)\)")]
    private static partial Regex By();

    [GeneratedRegex(@"\{\{\s*(\w+)\s*\}\}")]
    private static partial Regex LegendLabel();

    [GeneratedRegex(@"^label_values\((.*),\s*\w+\)$")]
    private static partial Regex VariableExpr();
}
