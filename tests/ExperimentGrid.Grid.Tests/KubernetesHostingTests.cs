using System.CommandLine;
using ExperimentGrid.Runtime.Hosting;

namespace ExperimentGrid.Grid.Tests;

/// <summary>The silo's --kubernetes flag: Orleans' Kubernetes hosting, for the pods of deploy/kubernetes.</summary>
public sealed class KubernetesHostingTests
{
    [Theory]
    [InlineData("--kubernetes", "--kubernetes: needs --postgres")]
    [InlineData("--kubernetes --postgres Host=db --address 10.0.0.5", "--address: not used with --kubernetes")]
    public void Kubernetes_hosting_without_postgres_or_with_an_address_is_a_parse_error(string args, string expected)
    {
        var result = SiloCommand.Configure(new RootCommand()).Parse(args);

        Assert.Contains(result.Errors, e => e.Message.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_silo_outside_a_pod_stops_with_one_line_naming_the_missing_pod_variables()
    {
        Assert.All(GridSilo.PodVariables, v => Assert.True(string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)), $"{v} is set in this test's environment"));
        using var checkpoints = new TemporaryDirectory();
        using var error = new StringWriter();
        var result = SiloCommand.Configure(new RootCommand()).Parse(
            ["--kubernetes", "--postgres", "Host=127.0.0.1;Port=1;Database=grid;Username=grid", "--checkpoints", checkpoints.Path, "--http-port", "0"]);

        var exitCode = await result.InvokeAsync(new InvocationConfiguration { Error = error });

        Assert.Equal(2, exitCode);
        Assert.Equal("error: --kubernetes: POD_NAME, POD_NAMESPACE, POD_IP not set; the pod spec sets them from the downward API (see deploy/kubernetes/silo.yaml).",
            error.ToString().TrimEnd());
    }
}
