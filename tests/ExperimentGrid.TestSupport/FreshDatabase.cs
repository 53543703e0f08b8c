using ExperimentGrid.Runtime.Storage;
using Npgsql;

namespace ExperimentGrid.TestSupport;

/// <summary>
/// An empty database for one measured cluster, created beside the one --postgres names and dropped afterwards: each
/// cluster starts from empty tables, as a new grid does, sees nothing of the runs before it, and leaves nothing behind.
/// </summary>
public sealed class FreshDatabase : IAsyncDisposable
{
    private readonly string _server;
    private readonly string _name;

    private FreshDatabase(string server, string name, string connectionString) =>
        (_server, _name, ConnectionString) = (server, name, connectionString);

    public string ConnectionString { get; }

    /// <summary>Fails with a message naming --postgres when the server cannot be reached: before the model import, not after it.</summary>
    public static async Task CheckAsync(string server, CancellationToken cancellationToken)
    {
        try
        {
            await ExecuteAsync(server, "SELECT 1", cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            throw new BenchmarkException($"--postgres: cannot connect to PostgreSQL at {Describe(server)}: {e.Message}");
        }
    }

    /// <summary>Fails with a message naming --postgres when the server cannot be reached or the role may not create databases.</summary>
    public static async Task<FreshDatabase> CreateAsync(string server, string name, CancellationToken cancellationToken)
    {
        var target = Describe(server);
        try
        {
            await ExecuteAsync(server, $"CREATE DATABASE {name}", cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new BenchmarkException($"--postgres: the role may not create databases on {target}, and each silo count runs on a new database of its own: {e.MessageText}");
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            throw new BenchmarkException($"--postgres: cannot use PostgreSQL at {target}: {e.Message}");
        }
        return new FreshDatabase(server, name, new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString);
    }

    /// <summary>Where the connection string points, without its password; a malformed one is the user's --postgres to fix.</summary>
    public static string Describe(string connectionString)
    {
        try
        {
            return GridDatabase.Describe(connectionString);
        }
        catch (GridDatabaseException e)
        {
            throw new BenchmarkException($"--postgres: {e.Message}");
        }
    }

    /// <summary>The connection string with its password masked, for the command the report prints.</summary>
    public static string Redact(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!string.IsNullOrEmpty(builder.Password)) builder.Password = "***";
        return builder.ConnectionString;
    }

    public async ValueTask DisposeAsync()
    {
        // Pooled connections of this process would otherwise hold the database open; FORCE ends the silos' as well.
        NpgsqlConnection.ClearAllPools();
        await ExecuteAsync(_server, $"DROP DATABASE IF EXISTS {_name} WITH (FORCE)", CancellationToken.None);
    }

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
