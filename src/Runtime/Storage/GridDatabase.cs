using Npgsql;

namespace ExperimentGrid.Runtime.Storage;

/// <summary>A database the grid cannot use: unreachable, a malformed connection string, or a script that failed.</summary>
public sealed class GridDatabaseException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The PostgreSQL schema of the Orleans AdoNet providers: tables and the OrleansQuery rows, from deploy/sql/,
/// embedded in this assembly.
/// </summary>
public static class GridDatabase
{
    /// <summary>The ADO.NET invariant the Orleans AdoNet providers load Npgsql by.</summary>
    public const string Invariant = "Npgsql";

    private const string ScriptPrefix = "deploy/sql/";

    // Every silo and `grid db init` must take the same key. This one spells "ExpGrid" and a schema generation, 1.
    private const long SchemaLockKey = 0x4578704772696401;

    /// <summary>The embedded scripts, in the order they are applied (by file name).</summary>
    public static IReadOnlyList<string> ScriptNames { get; } =
        [.. typeof(GridDatabase).Assembly.GetManifestResourceNames().Where(n => n.StartsWith(ScriptPrefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal)];

    /// <summary>
    /// Creates or updates the schema. Safe to run at every start-up: the scripts only create what is missing and upsert
    /// the query rows. They run in one transaction under an advisory lock, because CREATE TABLE IF NOT EXISTS is not
    /// safe against a concurrent creator: two silos starting together would otherwise race to create the same tables.
    /// </summary>
    /// <param name="serviceId">A silo's service: its grain state, if written by an earlier version, is refused.</param>
    public static async Task InitializeAsync(string connectionString, string? serviceId = null, CancellationToken cancellationToken = default)
    {
        var target = Describe(connectionString);
        await using var connection = new NpgsqlConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            throw new GridDatabaseException($"cannot connect to PostgreSQL at {target}: {e.Message}", e);
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var take = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({SchemaLockKey})", connection, transaction))
            await take.ExecuteNonQueryAsync(cancellationToken);
        foreach (var name in ScriptNames)
        {
            await using var script = new NpgsqlCommand(ReadScript(name), connection, transaction);
            try
            {
                await script.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (PostgresException e)
            {
                throw new GridDatabaseException($"{name} failed on {target}: {e.MessageText}", e);
            }
        }
        await transaction.CommitAsync(cancellationToken);
        if (serviceId is not null) await RefuseEarlierFormatAsync(connection, target, serviceId, cancellationToken);
    }

    /// <summary>
    /// Refuses a database that holds an earlier version's grain state, written in Orleans' JSON (which begins
    /// {"$id"): read as this version's binary state, every such grain would fail when first activated, and with the
    /// leaderboard's, every trial in turn. Nothing is changed.
    /// </summary>
    private static async Task RefuseEarlierFormatAsync(NpgsqlConnection connection, string target, string serviceId, CancellationToken cancellationToken)
    {
        const string earlier = "SELECT count(*) FROM OrleansStorage WHERE ServiceId = $1 AND substring(PayloadBinary from 1 for 6) = '\\x7b2224696422'::bytea";
        await using var count = new NpgsqlCommand(earlier, connection) { Parameters = { new() { Value = serviceId } } };
        if (await count.ExecuteScalarAsync(cancellationToken) is long rows and > 0)
        {
            throw new GridDatabaseException($"{target}: {rows} row(s) of OrleansStorage hold service {serviceId}'s grain state as an earlier ExperimentGrid wrote it, " +
                "in Orleans' JSON, which this version does not read (it writes Orleans' binary serialization). Nothing was changed: " +
                "use a new --service-id or database, or delete those rows.");
        }
    }

    /// <summary>Where a connection string points, without its password: for error messages and logs.</summary>
    public static string Describe(string connectionString)
    {
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            if (string.IsNullOrEmpty(builder.Host)) throw new GridDatabaseException("the connection string names no Host");
            return $"{builder.Host}:{builder.Port}/{builder.Database ?? builder.Username}";
        }
        catch (ArgumentException e)
        {
            throw new GridDatabaseException($"not a PostgreSQL connection string ({e.Message})", e);
        }
    }

    private static string ReadScript(string name)
    {
        using var stream = typeof(GridDatabase).Assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
