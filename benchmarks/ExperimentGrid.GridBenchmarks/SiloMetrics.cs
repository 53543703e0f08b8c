using System.Globalization;
using System.Text.RegularExpressions;
using ExperimentGrid.TestSupport;

namespace ExperimentGrid.GridBenchmarks;

/// <summary>How many times something took place and how long it took in all, in milliseconds.</summary>
public sealed record Timing(string Name, long Count, double TotalMilliseconds)
{
    public double MeanMilliseconds => Count == 0 ? 0 : TotalMilliseconds / Count;
}

/// <summary>Reads timing histograms from the silos' /metrics: their count and sum per value of one label, over every silo.</summary>
public static partial class SiloMetrics
{
    /// <summary>Grain calls a fake silo made, by method (tests/ExperimentGrid.FakeSilo's CallTimings).</summary>
    public const string GrainCalls = "experimentgrid_grain_call_latency_milliseconds";

    /// <summary>Orleans' grain state writes, by state name.</summary>
    public const string StateWrites = "orleans_storage_write_latency_milliseconds";

    public static async Task<List<Timing>> ScrapeAsync(IEnumerable<SiloProcess> silos, string histogram, string label, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var counts = new Dictionary<string, long>();
        var sums = new Dictionary<string, double>();
        foreach (var silo in silos)
        {
            var text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{silo.Ports.Http}/metrics"), cancellationToken);
            foreach (Match match in Sample().Matches(text))
            {
                if (match.Groups["name"].Value != histogram || Label(match.Groups["labels"].Value, label) is not { } key) continue;
                var value = double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
                if (match.Groups["kind"].Value == "count") counts[key] = counts.GetValueOrDefault(key) + (long)value;
                else sums[key] = sums.GetValueOrDefault(key) + value;
            }
        }
        return [.. counts.Select(c => new Timing(c.Key, c.Value, sums.GetValueOrDefault(c.Key)))];
    }

    /// <summary>What happened between two scrapes; names that did not happen in between are left out.</summary>
    public static List<Timing> Between(IReadOnlyList<Timing> before, IReadOnlyList<Timing> after) =>
        [.. after.Select(a => before.FirstOrDefault(b => b.Name == a.Name) is { } b ? new Timing(a.Name, a.Count - b.Count, a.TotalMilliseconds - b.TotalMilliseconds) : a)
            .Where(t => t.Count > 0)
            .OrderByDescending(t => t.TotalMilliseconds)];

    private static string? Label(string labels, string name) =>
        Regex.Match(labels, $"(?:^|,){Regex.Escape(name)}=\"(?<value>[^\"]*)\"") is { Success: true } match ? match.Groups["value"].Value : null;

    [GeneratedRegex(@"^(?<name>[a-z_]+)_(?<kind>sum|count)\{(?<labels>[^}]*)\} (?<value>\S+)$", RegexOptions.Multiline)]
    private static partial Regex Sample();
}
