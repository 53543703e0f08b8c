using System.Net.Http;
using ExperimentGrid.Contracts;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace ExperimentGrid.Grid.Tests;

/// <summary>A silo's connection string, and the password in it, appear in none of its logs, errors, metrics or health check.</summary>
[Collection(SiloCollection.Name)]
public sealed class SecretsTests
{
    private static string Logs(string test) =>
        Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "secrets-logs", $"{test}-{DateTime.UtcNow:yyyyMMdd-HHmmss}")).FullName;

    [PostgresFact]
    public async Task A_silo_on_postgres_never_shows_its_connection_string_while_it_runs_a_sweep()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();
        using var directory = new TemporaryDirectory();
        var connection = new NpgsqlConnectionStringBuilder(database.ConnectionString);
        var clusterId = $"secrets-{Guid.NewGuid():N}"[..20];
        var dataRoot = Directory.CreateDirectory(Path.Combine(directory.Path, "data", "fake")).Parent!.FullName;
        // Debug: Orleans' options and providers say the most about their configuration at this level.
        var launch = new SiloLaunch(SiloExecutable.FakeSilo,
            [.. SiloLaunch.PostgresArguments(database.ConnectionString, clusterId), "--checkpoints", Path.Combine(directory.Path, "checkpoints"),
             "--data-root", dataRoot, "--slots", "cpu:1"], Logs("running"))
        {
            Environment = new Dictionary<string, string>(new FakeSiloSettings(StepsPerEpoch: 2, StepMilliseconds: 1, Noise: 0).ToEnvironment())
            {
                ["Logging__LogLevel__Default"] = "Debug",
            },
        };
        using var silo = SiloProcess.Start(launch);
        await silo.WaitHealthyAsync(TimeSpan.FromMinutes(1));
        using (var client = await SiloClients.ConnectPostgresAsync(database.ConnectionString, clusterId))
        {
            var sweep = client.Services.GetRequiredService<IClusterClient>().GetGrain<ISweepGrain>("secrets");
            await sweep.SubmitAsync(new SweepSubmission("secrets.yaml", """
                name: secrets
                trial: { model: minilm, dataset: fake, test_split: none, eval_limit: 8 }
                grid: { learning_rate: [1.0e-5, 2.0e-5] }
                objective: { metric: f1 }
                """));
            await GridWorld.WaitForEndAsync(sweep, TimeSpan.FromSeconds(60));
        }
        using var http = new HttpClient();
        // The sweep series appear once the silo has re-read the cluster's sweeps, every few seconds.
        var metrics = "";
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30); !metrics.Contains("experimentgrid_sweep_trials", StringComparison.Ordinal) && DateTime.UtcNow < deadline;)
        {
            await Task.Delay(500);
            metrics = await http.GetStringAsync(new Uri($"http://127.0.0.1:{silo.Ports.Http}/metrics"));
        }
        var health = await http.GetStringAsync(new Uri($"http://127.0.0.1:{silo.Ports.Http}/healthz"));
        silo.Dispose();
        var log = await File.ReadAllTextAsync(silo.LogPath);

        Assert.Contains("experimentgrid_sweep_trials", metrics);
        Assert.Contains(" dbug: Orleans.", log, StringComparison.Ordinal);
        Assert.Contains("Configuration Orleans.Configuration.AdoNetGrainStorageOptions", log, StringComparison.Ordinal);
        foreach (var (name, text) in new[] { ("log", log), ("/metrics", metrics), ("/healthz", health) })
        {
            Assert.False(text.Contains(database.ConnectionString, StringComparison.Ordinal), $"{name} shows the connection string");
            Assert.False(text.Contains($"Password={connection.Password}", StringComparison.OrdinalIgnoreCase), $"{name} shows the password");
            Assert.False(text.Contains("Password=", StringComparison.OrdinalIgnoreCase), $"{name} shows a connection string, password snipped or not");
            Assert.False(text.Contains($"Database={connection.Database}", StringComparison.OrdinalIgnoreCase), $"{name} shows a connection string");
        }
    }

    [Fact]
    public async Task A_silo_that_cannot_reach_its_database_names_the_server_and_not_the_password()
    {
        var secret = $"s3cret-{Guid.NewGuid():N}";
        var unreachable = $"Host=127.0.0.1;Port=1;Database=nowhere;Username=grid;Password={secret};Timeout=3";
        using var silo = SiloProcess.Start(new SiloLaunch(SiloExecutable.Silo, SiloLaunch.PostgresArguments(unreachable, "secrets"), Logs("unreachable")));

        await silo.ExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        silo.Dispose();
        var log = await File.ReadAllTextAsync(silo.LogPath);

        Assert.Contains("error: --postgres: cannot connect to PostgreSQL at 127.0.0.1:1/nowhere", log);
        Assert.DoesNotContain(secret, log);
    }
}
