using System.Data;
using ExperimentGrid.Runtime.Storage;
using Npgsql;

namespace ExperimentGrid.Grid.Tests;

[Collection(SiloCollection.Name)]
public sealed class PostgresStoreTests
{
    private const int Active = 3;
    private const int Dead = 6;

    [PostgresFact]
    public async Task Grain_state_and_reminders_outlive_the_silo_and_membership_lists_each_silo()
    {
        var database = TestPostgres.ConnectionString;
        using var directory = new TemporaryDirectory();
        var first = Silos.Options(directory.Path, postgres: database);
        await using (var silo = await Silos.StartAsync(first))
        {
            // The first write inserts the state, the second updates it under its version.
            await silo.Note("n1").WriteAsync("a draft");
            await silo.Note("n1").WriteAsync("written before the restart");
            await silo.Note("n1").RemindAsync("wake");

            var member = Assert.Single(await Membership(first.ClusterId));
            Assert.Equal([first.SiloPort, first.GatewayPort, Active], member);
            var reminder = Assert.Single(await TestPostgres.QueryAsync(database,
                "SELECT ReminderName, Period FROM OrleansRemindersTable WHERE ServiceId = @service", ("service", first.ServiceId)));
            Assert.Equal(["wake", 3_600_000L], reminder);
            Assert.Single(await TestPostgres.QueryAsync(database,
                "SELECT 1 FROM OrleansStorage WHERE ServiceId = @service AND GrainIdExtensionString = 'n1' AND PayloadBinary IS NOT NULL",
                ("service", first.ServiceId)));

            await silo.StopAsync();
        }

        var second = Silos.Restarted(first);
        await using (var silo = await Silos.StartAsync(second))
        {
            Assert.Equal("written before the restart", await silo.Note("n1").ReadAsync());
            Assert.True(await silo.Note("n1").HasReminderAsync("wake"));
            Assert.Equal([[first.SiloPort, first.GatewayPort, Dead], [second.SiloPort, second.GatewayPort, Active]], await Membership(first.ClusterId));
            await silo.StopAsync();
        }
    }

    /// <summary>
    /// Runs the stored grain-state statements as the AdoNet provider does (its parameter names and types) and checks
    /// the answers it relies on: a new version on success; NULL, which it turns into InconsistentStateException,
    /// whenever the caller's version is not the stored one.
    /// </summary>
    [PostgresFact]
    public async Task A_grain_state_write_or_clear_with_a_stale_version_changes_nothing_and_answers_null()
    {
        var database = TestPostgres.ConnectionString;
        await GridDatabase.InitializeAsync(database);
        var service = $"test-{Guid.NewGuid():N}";
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();

        Assert.Equal(1, await RunAsync("WriteToStorageKey", version: null, payload: [1]));
        Assert.Null(await RunAsync("WriteToStorageKey", version: null, payload: [2]));
        Assert.Equal(2, await RunAsync("WriteToStorageKey", version: 1, payload: [3]));
        Assert.Null(await RunAsync("WriteToStorageKey", version: 1, payload: [4]));
        Assert.Null(await RunAsync("ClearStorageKey", version: 1, payload: null));
        Assert.Equal(new object[] { new byte[] { 3 }, 2 }, Assert.Single(await ReadAsync()));
        Assert.Equal(3, await RunAsync("ClearStorageKey", version: 2, payload: null));
        Assert.Equal(new object[] { DBNull.Value, 3 }, Assert.Single(await ReadAsync()));

        async Task<object?> RunAsync(string queryKey, int? version, byte[]? payload)
        {
            await using var command = await CommandAsync(queryKey);
            Add(command, "GrainStateVersion", DbType.Int32, version);
            if (payload is not null) Add(command, "PayloadBinary", DbType.Binary, payload);
            await using var reader = await command.ExecuteReaderAsync();
            return await reader.ReadAsync() && !reader.IsDBNull(0) ? reader.GetValue(0) : null;
        }

        async Task<List<object[]>> ReadAsync()
        {
            await using var command = await CommandAsync("ReadFromStorageKey");
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new List<object[]>();
            while (await reader.ReadAsync()) rows.Add([reader.GetValue(0), reader.GetValue(1)]);
            return rows;
        }

        async Task<NpgsqlCommand> CommandAsync(string queryKey)
        {
            var text = (string)Assert.Single(await TestPostgres.QueryAsync(database, "SELECT QueryText FROM OrleansQuery WHERE QueryKey = @key", ("key", queryKey)))[0];
            var command = new NpgsqlCommand(text, connection);
            Add(command, "GrainIdHash", DbType.Int32, 17);
            Add(command, "GrainIdN0", DbType.Int64, 0L);
            Add(command, "GrainIdN1", DbType.Int64, 42L);
            Add(command, "GrainTypeHash", DbType.Int32, 23);
            Add(command, "GrainTypeString", DbType.String, "NoteGrain.note");
            Add(command, "GrainIdExtensionString", DbType.String, null);
            Add(command, "ServiceId", DbType.String, service);
            return command;
        }

        static void Add(NpgsqlCommand command, string name, DbType type, object? value) =>
            command.Parameters.Add(new NpgsqlParameter(name, type) { Value = value ?? DBNull.Value });
    }

    private static Task<List<object[]>> Membership(string clusterId) => TestPostgres.QueryAsync(TestPostgres.ConnectionString,
        "SELECT Port, ProxyPort, Status FROM OrleansMembershipTable WHERE DeploymentId = @cluster AND Address = '127.0.0.1' ORDER BY StartTime",
        ("cluster", clusterId));
}
