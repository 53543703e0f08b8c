namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// The real Prometheus server (and promtool beside it) that the scrape tests run: EXPERIMENTGRID_TEST_PROMETHEUS, else
/// `prometheus` on PATH. .ci/run installs Debian's package and sets the variable.
/// </summary>
internal static class TestPrometheus
{
    public const string Variable = "EXPERIMENTGRID_TEST_PROMETHEUS";

    public static string? Configured { get; } = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : OnPath("prometheus");

    public static string Binary => Configured
        ?? throw new InvalidOperationException($"{Variable} is not set and no prometheus is on PATH. Under CI the Prometheus tests must run: .ci/run installs Prometheus and exports {Variable}.");

    /// <summary>promtool, which Prometheus' packages ship beside the server.</summary>
    public static string Promtool
    {
        get
        {
            var beside = Path.Combine(Path.GetDirectoryName(Binary)!, "promtool");
            return File.Exists(beside) ? beside : OnPath("promtool") ?? throw new FileNotFoundException($"no promtool beside {Binary} or on PATH.");
        }
    }

    public static string? OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);
}

/// <summary>
/// A test that needs <see cref="TestPrometheus"/>. On a developer machine without Prometheus, the test is skipped with
/// the reason; under CI (CI=true) it runs and fails, so that a CI run without Prometheus cannot pass unnoticed.
/// </summary>
public sealed class PrometheusFactAttribute : FactAttribute
{
    public PrometheusFactAttribute()
    {
        if (TestPrometheus.Configured is null && !TestPostgres.UnderCi)
            Skip = $"Prometheus is not installed ({TestPrometheus.Variable} is not set and no prometheus is on PATH; `apt-get install prometheus`, or .ci/run). Under CI=true this test fails instead of skipping.";
    }
}
