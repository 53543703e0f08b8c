using System.CommandLine;
using ExperimentGrid.Runtime.Hosting;

namespace ExperimentGrid.Grid.Tests;

public sealed class SiloCommandTests
{
    [Theory]
    [InlineData("--slots tpu:1", "--slots: 'tpu:1' is not a slot")]
    [InlineData("--slots gpu:0,gpu:0", "--slots: 'gpu:0' is listed twice")]
    [InlineData("--slots cpu:0", "--slots: 'cpu:0': a silo with CPU slots needs at least one")]
    [InlineData("--silo-port 0", "--silo-port: 0 is not a port")]
    [InlineData("--http-port 70000", "--http-port: 70000 is not a port")]
    [InlineData("--gateway-port 11111", "--gateway-port: 11111 is also the --silo-port")]
    [InlineData("--postgres Host=db --state /tmp/grid", "--state: the embedded store is not used with --postgres")]
    [InlineData("--address 10.0.0.5", "--address: only used with --postgres")]
    [InlineData("--postgres Host=db --address db.example", "--address: 'db.example' is not an IP address")]
    [InlineData("--cluster-id \"\"", "--cluster-id: must not be empty")]
    public void A_bad_flag_is_a_parse_error_naming_the_flag(string args, string expected)
    {
        var result = SiloCommand.Configure(new RootCommand()).Parse(args);

        Assert.Contains(result.Errors, e => e.Message.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Flags_that_fit_together_parse_cleanly()
    {
        var result = SiloCommand.Configure(new RootCommand()).Parse("--postgres Host=db --address 10.0.0.5 --slots gpu:0,gpu:1 --http-port 0");

        Assert.Empty(result.Errors);
    }

    [Fact]
    public async Task A_checkpoint_directory_that_cannot_be_made_is_named()
    {
        using var directory = new TemporaryDirectory();
        var file = Path.Combine(directory.Path, "a-file");
        File.WriteAllText(file, "");
        using var error = new StringWriter();
        var result = SiloCommand.Configure(new RootCommand()).Parse(["--checkpoints", Path.Combine(file, "checkpoints"), "--http-port", "0"]);

        var exitCode = await result.InvokeAsync(new InvocationConfiguration { Error = error });

        Assert.Equal(2, exitCode);
        Assert.StartsWith($"error: --checkpoints: {Path.Combine(file, "checkpoints")}: cannot create the directory", error.ToString());
    }

    [Fact]
    public async Task An_unreachable_database_stops_the_silo_with_one_line_naming_postgres()
    {
        using var checkpoints = new TemporaryDirectory();
        using var error = new StringWriter();
        var result = SiloCommand.Configure(new RootCommand()).Parse(
            ["--postgres", "Host=127.0.0.1;Port=1;Database=grid;Username=grid;Timeout=5", "--checkpoints", checkpoints.Path, "--http-port", "0"]);

        var exitCode = await result.InvokeAsync(new InvocationConfiguration { Error = error });

        Assert.Equal(2, exitCode);
        Assert.StartsWith("error: --postgres: cannot connect to PostgreSQL at 127.0.0.1:1/grid", error.ToString());
    }
}
