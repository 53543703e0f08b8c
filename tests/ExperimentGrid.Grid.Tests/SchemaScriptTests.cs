using ExperimentGrid.Runtime.Storage;
using Npgsql;

namespace ExperimentGrid.Grid.Tests;

public sealed class SchemaScriptTests
{
    // The statements Orleans 10.4's AdoNet providers load at start-up, read off their sources: clustering requires
    // nine, grain persistence three, reminders seven. Each provider refuses to start if one of its keys is missing.
    private static readonly string[] ProviderQueryKeys =
    [
        "InsertMembershipVersionKey", "InsertMembershipKey", "UpdateMembershipKey", "UpdateIAmAlivetimeKey", "MembershipReadRowKey",
        "MembershipReadAllKey", "GatewaysQueryKey", "DeleteMembershipTableEntriesKey", "CleanupDefunctSiloEntriesKey",
        "ReadFromStorageKey", "WriteToStorageKey", "ClearStorageKey",
        "ReadReminderRowsKey", "ReadReminderRowKey", "ReadRangeRows1Key", "ReadRangeRows2Key", "UpsertReminderRowKey",
        "DeleteReminderRowKey", "DeleteReminderRowsKey",
    ];

    private const string QueryRows = "SELECT QueryKey, QueryText FROM OrleansQuery ORDER BY QueryKey";

    private const string Columns = """
        SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_schema = 'public' ORDER BY table_name, column_name
        """;

    [PostgresFact]
    public async Task Applying_the_scripts_twice_leaves_the_same_query_rows_tables_and_data()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();
        await GridDatabase.InitializeAsync(database.ConnectionString);
        var queries = await TestPostgres.QueryAsync(database.ConnectionString, QueryRows);
        var columns = await TestPostgres.QueryAsync(database.ConnectionString, Columns);
        await TestPostgres.ExecuteAsync(database.ConnectionString, """
            INSERT INTO OrleansRemindersTable (ServiceId, GrainId, ReminderName, StartTime, Period, GrainHash, Version)
            VALUES ('kept', 'note/n1', 'wake', now(), 60000, 7, 0)
            """);

        await GridDatabase.InitializeAsync(database.ConnectionString);

        Assert.Equal(ProviderQueryKeys.Order(StringComparer.Ordinal), queries.Select(row => (string)row[0]).Order(StringComparer.Ordinal));
        Assert.Equal(queries, await TestPostgres.QueryAsync(database.ConnectionString, QueryRows));
        Assert.Equal(columns, await TestPostgres.QueryAsync(database.ConnectionString, Columns));
        Assert.Single(await TestPostgres.QueryAsync(database.ConnectionString, "SELECT 1 FROM OrleansRemindersTable WHERE ServiceId = 'kept'"));
    }

    [PostgresFact]
    public async Task Silos_starting_together_on_an_empty_database_all_apply_the_scripts()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => GridDatabase.InitializeAsync(database.ConnectionString))));

        Assert.Equal(ProviderQueryKeys.Length, (await TestPostgres.QueryAsync(database.ConnectionString, QueryRows)).Count);
    }

    [PostgresFact]
    public async Task A_service_whose_grain_state_an_earlier_version_wrote_as_json_is_refused_and_its_rows_kept()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();
        await GridDatabase.InitializeAsync(database.ConnectionString);
        await using (var connection = new NpgsqlConnection(database.ConnectionString))
        {
            await connection.OpenAsync();
            await using var insert = new NpgsqlCommand(
                "INSERT INTO OrleansStorage (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, PayloadBinary, Version) VALUES " +
                "('old', 'leaderboard', 1, 2, convert_to('{\"$id\":\"1\",\"$type\":\"LeaderboardState\"}', 'UTF8'), 1), " +
                "('new', 'leaderboard', 1, 2, '\\x0102'::bytea, 1)", connection);
            await insert.ExecuteNonQueryAsync();
        }

        var refused = await Assert.ThrowsAsync<GridDatabaseException>(() => GridDatabase.InitializeAsync(database.ConnectionString, "old"));
        await GridDatabase.InitializeAsync(database.ConnectionString, "new");

        Assert.Contains("1 row(s) of OrleansStorage hold service old's grain state as an earlier ExperimentGrid wrote it", refused.Message);
        await using var check = new NpgsqlConnection(database.ConnectionString);
        await check.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM OrleansStorage", check);
        Assert.Equal(2L, await count.ExecuteScalarAsync());
    }

    [Fact]
    public async Task An_unreachable_server_is_named_without_the_password()
    {
        var e = await Assert.ThrowsAsync<GridDatabaseException>(() =>
            GridDatabase.InitializeAsync("Host=127.0.0.1;Port=1;Database=nowhere;Username=grid;Password=hunter2;Timeout=5"));

        Assert.Contains("cannot connect to PostgreSQL at 127.0.0.1:1/nowhere", e.Message);
        Assert.DoesNotContain("hunter2", e.Message);
    }

    [Fact]
    public async Task A_malformed_connection_string_is_refused_before_connecting()
    {
        var malformed = await Assert.ThrowsAsync<GridDatabaseException>(() => GridDatabase.InitializeAsync("postgres on the other box"));
        Assert.Contains("not a PostgreSQL connection string", malformed.Message);

        var hostless = await Assert.ThrowsAsync<GridDatabaseException>(() => GridDatabase.InitializeAsync("Database=grid;Username=grid"));
        Assert.Contains("names no Host", hostless.Message);
    }
}
