using Npgsql;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// The real PostgreSQL the durable-state tests run against: EXPERIMENTGRID_TEST_POSTGRES, a connection string to a
/// database whose role may create databases. .ci/run starts the server and sets it.
/// </summary>
internal static class TestPostgres
{
    public const string Variable = "EXPERIMENTGRID_TEST_POSTGRES";

    public static string? Configured => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : null;

    public static bool UnderCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string ConnectionString => Configured
        ?? throw new InvalidOperationException($"{Variable} is not set. Under CI the PostgreSQL tests must run: .ci/run starts PostgreSQL and exports {Variable}.");

    /// <summary>A new, empty database for one test, dropped when disposed.</summary>
    public static async Task<TemporaryDatabase> CreateDatabaseAsync()
    {
        var name = $"experimentgrid_test_{Guid.NewGuid():N}";
        await ExecuteAsync(ConnectionString, $"CREATE DATABASE {name}");
        return new TemporaryDatabase(name, new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name }.ConnectionString);
    }

    public static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Every row of a query, each as its columns' values.</summary>
    public static async Task<List<object[]>> QueryAsync(string connectionString, string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object[]>();
        while (await reader.ReadAsync())
        {
            var row = new object[reader.FieldCount];
            reader.GetValues(row);
            rows.Add(row);
        }
        return rows;
    }

    public sealed class TemporaryDatabase(string name, string connectionString) : IAsyncDisposable
    {
        public string ConnectionString { get; } = connectionString;

        public async ValueTask DisposeAsync()
        {
            NpgsqlConnection.ClearAllPools();
            await ExecuteAsync(TestPostgres.ConnectionString, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        }
    }
}

/// <summary>
/// A test that needs <see cref="TestPostgres"/>. On a developer machine without it, the test is skipped with the reason;
/// under CI (CI=true) it runs and fails, so that a CI run without PostgreSQL cannot pass unnoticed.
/// </summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (TestPostgres.Configured is null && !TestPostgres.UnderCi)
            Skip = $"{TestPostgres.Variable} is not set (a PostgreSQL connection string; .ci/run sets it). Under CI=true this test fails instead of skipping.";
    }
}
