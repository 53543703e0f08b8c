using ExperimentGrid.Grid.Tests;

namespace ExperimentGrid.Client.Tests;

[Collection(ConsoleCollection.Name)]
public sealed class GridDbInitTests
{
    [PostgresFact]
    public async Task Db_init_applies_the_schema_to_an_empty_database_and_can_run_again()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();

        var first = await Cli.RunAsync("db", "init", "--postgres", database.ConnectionString);
        var queriesAfterFirst = await QueryCountAsync(database.ConnectionString);
        // Safe to run again (every silo does at start-up): the tables are kept, the statements upserted.
        var second = await Cli.RunAsync("db", "init", "--postgres", database.ConnectionString);

        foreach (var result in new[] { first, second })
        {
            Assert.True(result.ExitCode == 0, result.Error);
            Assert.StartsWith("schema applied to 127.0.0.1:5432/experimentgrid_test_", result.Out, StringComparison.Ordinal);
        }
        var tables = await TestPostgres.QueryAsync(database.ConnectionString,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
        Assert.Equal(["orleansmembershiptable", "orleansmembershipversiontable", "orleansquery", "orleansreminderstable", "orleansstorage"],
            tables.Select(t => (string)t[0]));
        Assert.True(queriesAfterFirst > 0);
        Assert.Equal(queriesAfterFirst, await QueryCountAsync(database.ConnectionString));
        Assert.Single(await TestPostgres.QueryAsync(database.ConnectionString, "SELECT 1 FROM OrleansQuery WHERE QueryKey = 'ReadFromStorageKey'"));
    }

    [Theory]
    [InlineData("Host=127.0.0.1;Port=1;Database=grid;Username=grid;Timeout=5", "--postgres: cannot connect to PostgreSQL at 127.0.0.1:1/grid")]
    [InlineData("Database=grid;Username=grid", "--postgres: the connection string names no Host")]
    [InlineData("Hots=db;Database=grid", "--postgres: not a PostgreSQL connection string")]
    [InlineData("Host=db;Port=notaport", "--postgres: not a PostgreSQL connection string")]
    public async Task A_database_that_cannot_be_reached_or_named_is_refused_naming_postgres(string connectionString, string expected)
    {
        var result = await Cli.RunAsync("db", "init", "--postgres", connectionString);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"error: {expected}", result.Error, StringComparison.Ordinal);
    }

    /// <summary>The statements the Orleans providers will read from OrleansQuery.</summary>
    private static async Task<long> QueryCountAsync(string connectionString) =>
        (long)(await TestPostgres.QueryAsync(connectionString, "SELECT count(*) FROM OrleansQuery"))[0][0];
}
